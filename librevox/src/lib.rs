//! # librevox
//!
//! Write FreeSWITCH telephony applications over the event socket
//! (mod_event_socket, "ESL") on tokio.
//!
//! ## Layout
//!
//! | module | what it holds |
//! |---|---|
//! | [`protocol`] | bytes ⇄ frames ⇄ typed messages; events in plain/JSON/XML; every client command. No I/O. |
//! | [`connection`] | one driver task per socket and a cheap `Clone` handle: the FIFO promise queue, background jobs, application completions, the bounded event stream. |
//! | [`listener`] | inbound and outbound listeners (what `#[inbound]` / `#[outbound]` implement), per-channel dispatch, the [`Runner`]. |
//! | [`apps`] | the application catalogue (`answer`, `playback`, `play_and_get_digits`, `bridge`, ... 36 in all), typed, written with `#[app]`. |
//! | [`commands`] | typed API commands (`status`, `originate`, `uuid_*`, `show channels`, ...) for every connection type. |
//! | [`CommandSocket`] | an authenticated inbound connection for one-off commands; [`blocking::CommandSocket`] for scripts. |
//! | [`Error`] | the one error type. |
//! | `simulator` | (feature `simulator`) a FreeSWITCH simulator speaking ESL, for tests and demos. |
//!
//! ## Quick start
//!
//! ```no_run
//! # async fn f() -> librevox::Result<()> {
//! let socket = librevox::CommandSocket::connect("127.0.0.1:8021", "ClueCon").await?;
//! println!("{}", socket.api("status").await?.text());
//! socket.close().await?;
//! # Ok(()) }
//! ```
//!
//! ## Behaviour
//!
//! * Replies are matched to commands in FIFO order, which FreeSWITCH
//!   guarantees per socket; events never consume a reply slot.
//! * Every wait has a deadline (see [`ConnectionConfig`]) and fails at once
//!   when the connection closes.
//! * Cancelling a command (dropping its future, or a timeout) never shifts
//!   later replies.
//! * Nothing the peer sends can panic the process: malformed frames end the
//!   connection with [`Error::Protocol`] or [`Error::FrameTooLarge`].
//! * Logging goes through `tracing`: connection lifecycle at `info`, each
//!   frame at `trace`; passwords never appear.

#![warn(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

extern crate self as librevox;

pub mod apps;
pub mod blocking;
mod command_socket;
pub mod commands;
pub mod connection;
mod error;
pub mod listener;
pub mod protocol;
#[cfg(feature = "simulator")]
pub mod simulator;

pub use command_socket::{Channel, CommandSocket, ConnectOptions, Password};
pub use connection::{
    new_uuid, BackgroundJob, Connection, ConnectionConfig, EventStream, OverflowPolicy, Reply,
};
pub use error::{Error, Result};
#[allow(unused_imports, unreachable_pub)] // empty until the macros land
pub use librevox_macros::*;
pub use listener::{
    AppTarget, Inbound, InboundListener, InboundSettings, OutboundListener, OutboundOptions,
    OutboundSettings, Runner, Session, Subscription,
};
pub use protocol::{Event, EventFormat, Message};

/// The traits most programs want in scope: `use librevox::prelude::*;`.
pub mod prelude {
    // The application traits come in anonymously (`as _`): their methods
    // are callable, and their names (`Read`, `Set`, `Log`, ...) cannot clash
    // with yours.
    pub use crate::apps::{
        Answer as _, AttXfer as _, BindMetaApp as _, Bridge as _, Conference as _, Deflect as _,
        Eavesdrop as _, Echo as _, Export as _, Gentones as _, Hangup as _, Info as _,
        Intercept as _, Limit as _, Log as _, Multiset as _, Park as _, Phrase as _,
        PlayAndGetDigits as _, Playback as _, PreAnswer as _, Read as _, Record as _,
        RecordSession as _, Redirect as _, Respond as _, RingReady as _, Say as _, SendDtmf as _,
        Set as _, Sleep as _, Speak as _, StopRecordSession as _, Transfer as _,
        UnbindMetaApp as _, Unset as _,
    };
    pub use crate::commands::Commands as _;
    pub use crate::listener::{AppTarget, Inbound, Session};
    pub use crate::protocol::{Event, EventFormat};
}

/// The README's Rust examples, compiled as doctests so they stay true.
#[cfg(all(doctest, feature = "simulator"))]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// Items the macros' generated code refers to. Not a public API: it may
/// change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::connection::Connection;
    pub use crate::error::{Error, Result};
    pub use crate::listener::{
        AppTarget, Inbound, InboundListener, InboundSettings, LogOptions, OutboundListener,
        OutboundOptions, OutboundSettings, Runner, Session, Subscription,
    };
    pub use crate::protocol::{Event, EventFormat};
    pub use std::future::Future;
    pub use std::string::String;
    pub use std::vec::Vec;
}
