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
//! | [`tracker`] | [`tracker::ChannelTracker`]: a switch's live channels from its CHANNEL_* events, resynchronised after every (re)connect. |
//! | [`CommandSocket`] | an authenticated inbound connection for one-off commands; [`blocking::CommandSocket`] for scripts. |
//! | [`Error`] | the one error type. |
//! | `simulator` | (feature `simulator`) a FreeSWITCH simulator speaking ESL, for tests and demos. |
//! | `serde` | (feature `serde`) `Deserialize` for the settings types, to read them from a file (README, "Configuration"). |
//!
//! The macros (`#[inbound]`, `#[outbound]`, `#[event]`, `#[app]`, `start!`)
//! are re-exported from `librevox-macros`; depend on `librevox` alone.
//!
//! ## Quick start
//!
//! An outbound listener (FreeSWITCH hands it calls from the dialplan
//! `socket` application) and an inbound one (it connects to FreeSWITCH and
//! receives events), started together:
//!
//! ```no_run
//! use librevox::prelude::*;
//! use librevox::{event, inbound, outbound, start};
//!
//! #[derive(Default)]
//! struct Monitor;
//!
//! #[inbound(events = ["CHANNEL_ANSWER", "CHANNEL_HANGUP"])]
//! impl Monitor {
//!     #[event(channel_hangup)]
//!     async fn hangup(&self, event: &Event) {
//!         println!("{:?} hung up", event.unique_id());
//!     }
//! }
//!
//! #[derive(Default)]
//! struct Ivr;
//!
//! #[outbound]
//! impl Ivr {
//!     async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
//!         call.answer().await?;
//!         call.playback("ivr/ivr-welcome.wav").await?;
//!         call.hangup("").await
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> librevox::Result<()> {
//!     start!(Monitor, Ivr(port = 8084)).await
//! }
//! ```
//!
//! One-off commands go through a [`CommandSocket`]:
//!
//! ```no_run
//! # async fn f() -> librevox::Result<()> {
//! use librevox::prelude::*;
//! let socket = librevox::CommandSocket::connect("127.0.0.1:8021", "ClueCon").await?;
//! println!("{}", socket.status().await?);
//! socket.close().await?;
//! # Ok(()) }
//! ```
//!
//! ## One vocabulary on every handle
//!
//! A [`Connection`], a [`CommandSocket`] (and [`blocking::CommandSocket`]),
//! an inbound listener's [`Inbound`] context and an outbound [`Session`]
//! speak the same verbs, each with one meaning:
//!
//! | verb | what it does | returns |
//! |---|---|---|
//! | `send(&Command)` | any command, the reply as it came (`-ERR` too) | [`Reply`] |
//! | `command(&Command)` | a command answered by `command/reply`; `-ERR` is [`Error::CommandFailed`] | [`protocol::CommandReply`] |
//! | `api(cmd)` | `api <cmd>`; an `-ERR`/`-USAGE` body is [`Error::CommandFailed`] | [`protocol::ApiResponse`] |
//! | `bgapi(cmd)` | `bgapi <cmd>`; await the [`BackgroundJob`] for its result | [`BackgroundJob`] |
//! | `application(..)` | runs an application and **waits for its completion** | its CHANNEL_EXECUTE_COMPLETE [`Event`] |
//! | `execute(SendMsg)` | the same for a [`protocol::SendMsg`] you built (`loops`, `event-lock`, ...) | its completion [`Event`] |
//! | `sendmsg(&SendMsg)` | **queues** a message and returns at once | FreeSWITCH's `+OK` |
//! | `sendevent(&SendEvent)` | fires an event ([`commands::Commands::sendevent`]) | its `Event-UUID` |
//!
//! A session's applications run on its own channel (`application(app,
//! arg)`); on the other handles the channel is named
//! (`application(uuid, app, arg)`, or [`protocol::SendMsg::uuid`] for
//! `execute`/`sendmsg`). [`Error::CommandFailed`] carries the command as
//! sent (`api status`, `bgapi originate ...`) and FreeSWITCH's reply.
//!
//! An application's `event-lock` that the message leaves unset is decided
//! by the handle: a session applies its listener's `event_lock` (on by
//! default), the other handles turn it on; [`protocol::SendMsg::event_lock`]
//! overrides both.
//!
//! ## Behaviour
//!
//! * **Ordering.** Replies are matched to commands in FIFO order, which
//!   FreeSWITCH guarantees per socket; events never consume a reply slot.
//!   Many commands may be in flight on one connection. Events of one channel
//!   reach the hooks in order, `on_event` before the `#[event]` hooks;
//!   different channels do not wait on each other.
//! * **Applications** return when their own CHANNEL_EXECUTE_COMPLETE
//!   (matched by `Application-UUID`) arrives, never someone else's.
//! * **Timeouts.** Every wait has a deadline ([`ConnectionConfig`]: replies
//!   30 s, background jobs 120 s, applications 4 h, connect 10 s), overridable
//!   per handle with [`Connection::with_timeout`], and fails at once when the
//!   connection closes ([`Error::Closed`]) or the channel hangs up
//!   ([`Error::Hangup`]).
//! * **Cancellation.** Dropping a command's future, or its timing out, never
//!   shifts later replies: the reply is read and discarded. A command whose
//!   caller left while it waited for room in the write buffer (a peer that
//!   stopped reading) is not sent.
//! * **Backpressure.** Events are never dropped unless you choose
//!   [`OverflowPolicy::DropNewest`] (then each drop is counted); memory stays
//!   bounded (a consumer too far behind closes the connection with
//!   [`Error::EventBacklog`], as FreeSWITCH itself does).
//! * **Shutdown.** A [`Runner`] (or `start!`) stops on Ctrl-C/SIGTERM or
//!   when its [`Shutdown`] handle is triggered: outbound servers stop
//!   accepting and give running calls a grace period, inbound listeners send
//!   `exit`. A hook stops its own listener with
//!   [`Inbound::shutdown`]/[`Session::shutdown`]. Outbound sessions close by themselves
//!   after the disconnect-notice and CHANNEL_HANGUP_COMPLETE, once hooks have
//!   finished. Dropping the last handle of a connection sends `exit`.
//! * **Robustness.** Nothing the peer sends can panic the process:
//!   malformed frames end the connection with [`Error::Protocol`],
//!   [`Error::FrameTooLarge`] or [`Error::AmbiguousLength`]; a panicking hook
//!   is logged and isolated.
//! * **Logging** goes through `tracing`: connection lifecycle at `info`, each
//!   frame at `trace`; passwords never appear.

#![warn(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

extern crate self as librevox;

pub mod apps;
pub mod blocking;
#[cfg(feature = "nats")]
#[cfg_attr(docsrs, doc(cfg(feature = "nats")))]
pub mod bridge;
mod command_socket;
pub mod commands;
pub mod connection;
mod error;
pub mod fleet;
pub mod listener;
pub mod protocol;
#[cfg(feature = "simulator")]
pub mod simulator;
pub mod target;
pub mod telemetry;
pub mod tracker;

pub use command_socket::{Channel, CommandSocket, ConnectOptions};
pub use connection::{
    new_uuid, BackgroundJob, Connection, ConnectionConfig, EventStream, Liveness, OverflowPolicy,
    Password, Reply,
};
pub use error::{Error, Result};
pub use librevox_macros::{app, event, inbound, outbound, start};
pub use listener::{
    Inbound, InboundListener, InboundSettings, OutboundListener, OutboundOptions, OutboundSettings,
    Runner, Session, SessionEnd, SessionOutcome, Shutdown, Subscription,
};
pub use protocol::{
    AnswerState, CallState, ChannelState, Event, EventFormat, EventName, HangupCause, Linger,
    Message,
};
pub use target::{ApiTarget, AppTarget};

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
    pub use crate::listener::{Inbound, Session};
    pub use crate::protocol::{Event, EventFormat, EventName, HangupCause};
    pub use crate::target::AppTarget;
}

/// The README's Rust examples, compiled as doctests so they stay true.
#[cfg(all(doctest, feature = "simulator"))]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// Items the macros' generated code refers to. Not a public API: it may
/// change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::error::Result;
    pub use crate::listener::macro_support::*;
    pub use crate::listener::{
        AppTarget, Inbound, InboundListener, OutboundListener, OutboundOptions, Runner, Session,
        SessionEnd, Subscription,
    };
    pub use crate::protocol::{Event, EventFormat, Linger};
}
