//! What commands run on: the two traits the catalogue is written against.
//!
//! * [`ApiTarget`]: something that runs `api`/`bgapi` and plain socket
//!   commands: a [`Connection`](crate::Connection), a
//!   [`CommandSocket`](crate::CommandSocket), an inbound listener's
//!   [`Inbound`](crate::Inbound) context, an outbound
//!   [`Session`](crate::Session). The typed API commands
//!   ([`Commands`](crate::commands::Commands)) are implemented for every one.
//! * [`AppTarget`]: a channel an application runs on: a `Session`, or a
//!   channel reached through a `CommandSocket`
//!   ([`CommandSocket::channel`](crate::CommandSocket::channel)). The
//!   `#[app]` helpers ([`apps`](crate::apps)) are implemented for every one.
//!
//! This module sits below the handles and the catalogue: each handle
//! implements the traits where it is defined, so the catalogue knows only
//! these traits and the command socket knows nothing of the listeners.

use std::future::Future;

use crate::connection::BackgroundJob;
use crate::error::Result;
use crate::protocol::{ApiResponse, Command, CommandReply, Event};

/// Something that can run `api` and `bgapi` commands and plain socket
/// commands.
pub trait ApiTarget: Sync {
    /// Runs `api <command>`; `-ERR`/`-USAGE` bodies are errors.
    fn run_api(&self, command: String) -> impl Future<Output = Result<ApiResponse>> + Send;
    /// Runs `bgapi <command>`.
    fn run_bgapi(&self, command: String) -> impl Future<Output = Result<BackgroundJob>> + Send;
    /// Sends a command answered by `command/reply`; `-ERR` is an error.
    fn run_command(&self, command: Command) -> impl Future<Output = Result<CommandReply>> + Send;
}

/// Something an application can run on: an outbound
/// [`Session`](crate::Session), or a channel reached through a
/// [`CommandSocket`](crate::CommandSocket). The `#[app]` helpers are
/// implemented for every `AppTarget`.
pub trait AppTarget: Sync {
    /// Runs `app` with `arg` and waits for its CHANNEL_EXECUTE_COMPLETE.
    fn run_app(&self, app: &str, arg: String) -> impl Future<Output = Result<Event>> + Send;
}

/// Implements [`ApiTarget`] for handles through their own `api`, `bgapi`
/// and `command` methods (every handle has them, with the one meaning the
/// crate documentation gives). Used where each handle is defined, so this
/// module knows none of them.
macro_rules! api_target_by_methods {
    ($($handle:ty),* $(,)?) => {$(
        impl $crate::target::ApiTarget for $handle {
            async fn run_api(
                &self,
                command: String,
            ) -> $crate::error::Result<$crate::protocol::ApiResponse> {
                self.api(&command).await
            }
            async fn run_bgapi(
                &self,
                command: String,
            ) -> $crate::error::Result<$crate::connection::BackgroundJob> {
                self.bgapi(&command).await
            }
            async fn run_command(
                &self,
                command: $crate::protocol::Command,
            ) -> $crate::error::Result<$crate::protocol::CommandReply> {
                self.command(&command).await
            }
        }
    )*};
}
pub(crate) use api_target_by_methods;
