//! A blocking [`CommandSocket`](crate::CommandSocket) for scripts that do not
//! run an async runtime, like the original's synchronous `CommandSocket`.
//!
//! It owns a single-threaded tokio runtime and drives the same connection core
//! inside each call, so timeouts, error handling and protocol behaviour are
//! identical to the async client, and so are the verbs (`command`, `send`,
//! `api`, `bgapi`, `application`, `execute`, `sendmsg`, `sendevent`). Do not use it from inside an async runtime
//! (blocking there panics in tokio); use the async client instead.
//!
//! ```no_run
//! let socket = librevox::blocking::CommandSocket::connect("127.0.0.1:8021", "ClueCon")?;
//! println!("{}", socket.api("status")?.text());
//! socket.close()?;
//! # Ok::<(), librevox::Error>(())
//! ```

use crate::command_socket::ConnectOptions;
use crate::commands::Commands;
use crate::connection::{Password, Reply};
use crate::error::Result;
use crate::protocol::{ApiResponse, Command, CommandReply, Event, SendEvent, SendMsg};

/// The blocking command socket.
#[derive(Debug)]
pub struct CommandSocket {
    rt: tokio::runtime::Runtime,
    inner: crate::CommandSocket,
}

impl CommandSocket {
    /// Connects to `addr` and authenticates with `password`.
    pub fn connect(addr: &str, password: impl Into<Password>) -> Result<CommandSocket> {
        Self::connect_with(ConnectOptions::new(addr).password(password))
    }

    /// Connects with full options.
    pub fn connect_with(options: ConnectOptions) -> Result<CommandSocket> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let inner = rt.block_on(crate::CommandSocket::connect_with(options))?;
        Ok(CommandSocket { rt, inner })
    }

    /// Runs `api <command>`.
    pub fn api(&self, command: &str) -> Result<ApiResponse> {
        self.rt.block_on(self.inner.api(command))
    }

    /// Runs `bgapi <command>` and waits for the job's output.
    pub fn bgapi(&self, command: &str) -> Result<String> {
        self.rt.block_on(async {
            let job = self.inner.bgapi(command).await?;
            job.output().await
        })
    }

    /// Sends any command and returns the reply as it came.
    pub fn send(&self, command: &Command) -> Result<Reply> {
        self.rt.block_on(self.inner.send(command))
    }

    /// Sends a command answered by `command/reply`; `-ERR` is an error.
    pub fn command(&self, command: &Command) -> Result<CommandReply> {
        self.rt.block_on(self.inner.command(command))
    }

    /// Runs an application on a channel and waits for its completion.
    pub fn application(&self, uuid: &str, app: &str, arg: &str) -> Result<Event> {
        self.rt.block_on(self.inner.application(uuid, app, arg))
    }

    /// Runs a `sendmsg` naming its channel and waits for its completion.
    pub fn execute(&self, msg: SendMsg) -> Result<Event> {
        self.rt.block_on(self.inner.execute(msg))
    }

    /// Sends a `sendmsg` and returns the `+OK` acknowledgement (queued).
    pub fn sendmsg(&self, msg: &SendMsg) -> Result<CommandReply> {
        self.rt.block_on(self.inner.sendmsg(msg))
    }

    /// Fires an event (`sendevent`) and returns its `Event-UUID`.
    pub fn sendevent(&self, event: &SendEvent) -> Result<String> {
        self.rt.block_on(self.inner.sendevent(event))
    }

    /// Sends `exit` and waits for the close.
    pub fn close(self) -> Result<()> {
        let CommandSocket { rt, inner } = self;
        rt.block_on(inner.close())
    }
}
