//! Deprecated: the encoders moved to the protocol layer, beside the
//! parsers that read them back.
//!
//! | here | now |
//! |---|---|
//! | `to_plain`, `to_json`, `to_json_with`, `to_xml`, `event_payload` | [`Event::to_plain`], [`Event::to_json`], [`Event::to_json_with`], [`Event::to_xml`], [`Event::encode`] |
//! | `event_frame`, `wrap_event_payload` | [`Event::to_frame`], [`protocol::event_frame`] |
//! | `url_encode`, `url_encode_into`, `JsonOptions` | [`protocol::url_encode`], [`protocol::url_encode_into`], [`protocol::JsonOptions`] |
//! | the `*_frame` functions, `GOODBYE`, ... | [`protocol::server`] (without `_frame`) |
//! | `LogLine`, `log_data_frame` | [`LogData`], [`server::log_data`] |
#![allow(deprecated)]

use bytes::Bytes;

use crate::protocol::{self, server, Event, EventFormat, LogData};

/// The body of the goodbye disconnect-notice.
#[deprecated(note = "use `librevox::protocol::server::GOODBYE`")]
pub const GOODBYE: &str = server::GOODBYE;
/// The body of a `text/rude-rejection` frame.
#[deprecated(note = "use `librevox::protocol::server::RUDE_REJECTION`")]
pub const RUDE_REJECTION: &str = server::RUDE_REJECTION;
/// The shutdown disconnect-notice body.
#[deprecated(note = "use `librevox::protocol::server::SHUTDOWN`")]
pub const SHUTDOWN: &str = server::SHUTDOWN;
/// Longest `Reply-Text` FreeSWITCH writes.
#[deprecated(note = "use `librevox::protocol::server::MAX_REPLY_TEXT`")]
pub const MAX_REPLY_TEXT: usize = server::MAX_REPLY_TEXT;

/// Options of the JSON serializer.
#[deprecated(note = "use `librevox::protocol::JsonOptions`")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JsonOptions {
    /// Write `"Content-Length":"0","_body":""` for an event without body.
    pub empty_body: bool,
}

/// Percent-encodes a header value as FreeSWITCH does.
#[deprecated(note = "use `librevox::protocol::url_encode_into`")]
pub fn url_encode_into(value: &[u8], out: &mut Vec<u8>) {
    protocol::url_encode_into(value, out)
}

/// Percent-encodes a header value as FreeSWITCH does.
#[deprecated(note = "use `librevox::protocol::url_encode`")]
pub fn url_encode(value: &str) -> String {
    protocol::url_encode(value)
}

/// The `text/event-plain` payload of an event.
#[deprecated(note = "use `Event::to_plain`")]
pub fn to_plain(event: &Event) -> Vec<u8> {
    event.to_plain()
}

/// The `text/event-json` payload of an event.
#[deprecated(note = "use `Event::to_json`")]
pub fn to_json(event: &Event) -> Vec<u8> {
    event.to_json()
}

/// [`to_json`] with options.
#[deprecated(note = "use `Event::to_json_with`")]
pub fn to_json_with(event: &Event, options: JsonOptions) -> Vec<u8> {
    event.to_json_with(protocol::JsonOptions::new().empty_body(options.empty_body))
}

/// The `text/event-xml` payload of an event.
#[deprecated(note = "use `Event::to_xml`")]
pub fn to_xml(event: &Event) -> Vec<u8> {
    event.to_xml()
}

/// The payload of an event in the given format.
#[deprecated(note = "use `Event::encode`")]
pub fn event_payload(format: EventFormat, event: &Event) -> Vec<u8> {
    event.encode(format)
}

/// Wraps an event payload in its frame.
#[deprecated(note = "use `librevox::protocol::event_frame`")]
pub fn wrap_event_payload(format: EventFormat, payload: &[u8]) -> Bytes {
    protocol::event_frame(format, payload)
}

/// A whole event frame.
#[deprecated(note = "use `Event::to_frame`")]
pub fn event_frame(format: EventFormat, event: &Event) -> Bytes {
    event.to_frame(format)
}

/// The inbound greeting.
#[deprecated(note = "use `librevox::protocol::server::auth_request`")]
pub fn auth_request_frame() -> Bytes {
    server::auth_request()
}

/// A `command/reply` frame.
#[deprecated(note = "use `librevox::protocol::server::command_reply`")]
pub fn command_reply_frame(text: &str) -> Bytes {
    server::command_reply(text)
}

/// A `command/reply` frame with extra headers.
#[deprecated(note = "use `librevox::protocol::server::command_reply_with`")]
pub fn command_reply_frame_with(text: &str, extra: &[(&str, &str)]) -> Bytes {
    server::command_reply_with(text, extra)
}

/// The `api/response` body for an API result.
#[deprecated(note = "use `librevox::protocol::server::api_body`")]
pub fn api_body(command: &str, output: Option<&str>) -> String {
    server::api_body(command, output)
}

/// An `api/response` frame.
#[deprecated(note = "use `librevox::protocol::server::api_response`")]
pub fn api_response_frame(body: &[u8]) -> Bytes {
    server::api_response(body)
}

/// The disconnect-notice of a socket without a session.
#[deprecated(note = "use `librevox::protocol::server::disconnect_notice`")]
pub fn disconnect_notice_frame(body: &str) -> Bytes {
    server::disconnect_notice(body)
}

/// The disconnect-notice of a session socket.
#[deprecated(note = "use `librevox::protocol::server::session_disconnect_notice`")]
pub fn session_disconnect_notice_frame(session_uuid: &str, body: &str) -> Bytes {
    server::session_disconnect_notice(session_uuid, body)
}

/// The linger notice.
#[deprecated(note = "use `librevox::protocol::server::linger_notice`")]
pub fn linger_notice_frame(session_uuid: &str, channel_name: &str, linger_time: i64) -> Bytes {
    server::linger_notice(session_uuid, channel_name, linger_time)
}

/// `text/rude-rejection`.
#[deprecated(note = "use `librevox::protocol::server::rude_rejection`")]
pub fn rude_rejection_frame() -> Bytes {
    server::rude_rejection()
}

/// A log line as a `log/data` frame.
#[deprecated(note = "use `librevox::protocol::LogData`")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Level number (0 CONSOLE … 7 DEBUG).
    pub level: u8,
    /// Text channel: 0 plain log, 1 clean (no prefix), 3 session.
    pub text_channel: u8,
    /// Source file.
    pub file: String,
    /// Function.
    pub func: String,
    /// Line number.
    pub line: u32,
    /// Session UUID, or empty.
    pub user_data: String,
    /// The body.
    pub body: String,
}

/// Builds a `log/data` frame.
#[deprecated(note = "use `librevox::protocol::server::log_data`")]
pub fn log_data_frame(line: &LogLine) -> Bytes {
    server::log_data(&LogData {
        level: line.level,
        text_channel: Some(line.text_channel),
        file: Some(line.file.clone()),
        function: Some(line.func.clone()),
        line: Some(line.line),
        user_data: Some(line.user_data.clone()).filter(|u| !u.is_empty()),
        text: line.body.clone(),
    })
}

/// The outbound `connect` reply.
#[deprecated(note = "use `librevox::protocol::server::connect_reply`")]
pub fn connect_reply_frame(channel_data: &Event, async_mode: bool, full: bool) -> Bytes {
    server::connect_reply(channel_data, async_mode, full)
}
