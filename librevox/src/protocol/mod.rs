//! The ESL wire protocol, without I/O: frames, typed messages, events and
//! commands.
//!
//! * [`EslCodec`] splits bytes into [`Frame`]s and encodes [`Command`]s; it
//!   plugs into `tokio_util::codec::Framed`.
//! * [`Message::from_frame`] types a frame by its `Content-Type`.
//! * [`Event`] parses the plain, JSON and XML event formats into one model.
//! * [`EventName`], [`HangupCause`], [`ChannelState`], [`CallState`] and
//!   [`AnswerState`] type the headers where FreeSWITCH has a fixed set.
//! * [`Command`] and [`SendMsg`] build every client command byte-exactly;
//!   [`SendEvent`] a `sendevent`, [`Dial`] the dial strings of `bridge` and
//!   `originate`.
//! * [`Event::encode`] writes an event in any of the three formats, as
//!   FreeSWITCH does ([`url_encode`] is its percent-encoding), and
//!   [`server`] builds the other frames FreeSWITCH writes: together they
//!   are the server side of the wire, which the simulator speaks.
//! * [`event_json`] is librevox's JSON form of an event (repeated headers as
//!   arrays), printed by the CLI and read back by [`event_json::from_str`];
//!   it shares one encoder with FreeSWITCH's `text/event-json`.
//! * [`packet`] reads client packets as FreeSWITCH does (for the simulator).

mod codec;
mod command;
mod dial;
mod encode;
mod event;
mod frame;
mod message;
pub mod names;
pub mod packet;
pub mod server;
mod values;
mod xml;

pub use codec::{EslCodec, Limits};
pub use command::{Command, Linger, LogLevel, SendEvent, SendMsg, MAX_INLINE_ARG};
pub use dial::{Dial, Endpoint, Leg};
pub use encode::json as event_json;
pub use encode::{event_frame, url_encode, url_encode_into, JsonOptions};
pub(crate) use event::JsonEvent;
pub use event::{Event, EventFormat, ARRAY_PREFIX, ARRAY_SEPARATOR};
pub use frame::Frame;
pub use message::{ApiResponse, CommandReply, DisconnectNotice, LogData, Message};
pub use names::EventName;
pub use values::{AnswerState, CallState, ChannelState, HangupCause};
