//! The frames FreeSWITCH writes on the event socket besides events (§1.1,
//! §2, §3, §5), byte for byte: the greeting, command replies, API
//! responses, disconnect and linger notices, the ACL's rejection, log
//! lines and the outbound `connect` reply. [`Message::from_frame`]
//! reads each of them back into what built it.
//!
//! The simulator answers with these; a test peer or a proxy can too.
//!
//! ```
//! use librevox::protocol::server;
//! assert_eq!(
//!     &server::command_reply("+OK accepted")[..],
//!     b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n"
//! );
//! ```
//!
//! [`Message::from_frame`]: super::Message::from_frame

use bytes::{BufMut, Bytes, BytesMut};

use super::encode::plain_headers;
use super::{Event, LogData};

/// The body of the goodbye disconnect-notice (67 bytes).
pub const GOODBYE: &str = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n";
/// The body of a `text/rude-rejection` frame (24 bytes).
pub const RUDE_REJECTION: &str = "Access Denied, go away.\n";
/// The disconnect-notice body used when FreeSWITCH shuts down or
/// mod_event_socket is unloaded (31 bytes).
pub const SHUTDOWN: &str = "The system is being shut down.\n";
/// Longest `Reply-Text` FreeSWITCH writes (its reply buffer is 512 bytes).
pub const MAX_REPLY_TEXT: usize = 511;

/// The inbound greeting: `Content-Type: auth/request` LF LF (28 bytes).
pub fn auth_request() -> Bytes {
    Bytes::from_static(b"Content-Type: auth/request\n\n")
}

/// A `command/reply` frame with this `Reply-Text` (raw, cut to 511 bytes).
pub fn command_reply(text: &str) -> Bytes {
    command_reply_with(text, &[])
}

/// A `command/reply` frame with extra headers after `Reply-Text` (the
/// `bgapi` and `userauth` forms).
pub fn command_reply_with(text: &str, extra: &[(&str, &str)]) -> Bytes {
    let text = &text.as_bytes()[..text.len().min(MAX_REPLY_TEXT)];
    let mut out = BytesMut::with_capacity(64 + text.len());
    out.put_slice(b"Content-Type: command/reply\nReply-Text: ");
    out.put_slice(text);
    out.put_u8(b'\n');
    for (n, v) in extra {
        out.put_slice(n.as_bytes());
        out.put_slice(b": ");
        out.put_slice(v.as_bytes());
        out.put_u8(b'\n');
    }
    out.put_u8(b'\n');
    out.freeze()
}

/// The `api/response` body FreeSWITCH writes for an API result: the output,
/// `-ERR no reply\n` for an empty output, `-ERR <cmd> Command not found!\n`
/// when the command is unknown or failed.
pub fn api_body(command: &str, output: Option<&str>) -> String {
    match output {
        None => format!("-ERR {command} Command not found!\n"),
        Some("") => "-ERR no reply\n".to_owned(),
        Some(s) => s.to_owned(),
    }
}

/// An `api/response` frame with this body.
pub fn api_response(body: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(64 + body.len());
    out.put_slice(
        format!(
            "Content-Type: api/response\nContent-Length: {}\n\n",
            body.len()
        )
        .as_bytes(),
    );
    out.put_slice(body);
    out.freeze()
}

/// The disconnect-notice of a socket without a controlled session (inbound):
/// `Content-Type`, `Content-Length`, the body.
pub fn disconnect_notice(body: &str) -> Bytes {
    Bytes::from(format!(
        "Content-Type: text/disconnect-notice\nContent-Length: {}\n\n{body}",
        body.len()
    ))
}

/// The disconnect-notice of a socket that controls a session
/// (`Controlled-Session-UUID`, `Content-Disposition: disconnect`).
pub fn session_disconnect_notice(session_uuid: &str, body: &str) -> Bytes {
    Bytes::from(format!(
        "Content-Type: text/disconnect-notice\nControlled-Session-UUID: {session_uuid}\n\
         Content-Disposition: disconnect\nContent-Length: {}\n\n{body}",
        body.len()
    ))
}

/// The linger notice (`Content-Disposition: linger`, raw `Channel-Name`,
/// `Linger-Time` in seconds or -1, `Content-Length: 0`).
pub fn linger_notice(session_uuid: &str, channel_name: &str, linger_time: i64) -> Bytes {
    Bytes::from(format!(
        "Content-Type: text/disconnect-notice\nControlled-Session-UUID: {session_uuid}\n\
         Content-Disposition: linger\nChannel-Name: {channel_name}\nLinger-Time: {linger_time}\n\
         Content-Length: 0\n\n"
    ))
}

/// `text/rude-rejection` (78 bytes), sent instead of the greeting to a peer
/// refused by the ACL; the goodbye notice follows.
pub fn rude_rejection() -> Bytes {
    Bytes::from(format!(
        "Content-Type: text/rude-rejection\nContent-Length: {}\n\n{RUDE_REJECTION}",
        RUDE_REJECTION.len()
    ))
}

/// A `log/data` frame: the headers in FreeSWITCH's order with raw values
/// (a field that is `None` is written empty), then the text.
pub fn log_data(line: &LogData) -> Bytes {
    fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
        v.as_ref().map(T::to_string).unwrap_or_default()
    }
    Bytes::from(format!(
        "Content-Type: log/data\nContent-Length: {}\nLog-Level: {}\nText-Channel: {}\n\
         Log-File: {}\nLog-Func: {}\nLog-Line: {}\nUser-Data: {}\n\n{}",
        line.text.len(),
        line.level,
        opt(&line.text_channel),
        opt(&line.file),
        opt(&line.function),
        opt(&line.line),
        opt(&line.user_data),
        line.text
    ))
}

/// The outbound `connect` reply: the channel data as a percent-encoded
/// header block, then `Content-Type: command/reply`, `Reply-Text:
/// %2BOK%0A`, `Socket-Mode: async|static`, `Control:
/// full|single-channel`, an empty line.
pub fn connect_reply(channel_data: &Event, async_mode: bool, full: bool) -> Bytes {
    let mut out = Vec::with_capacity(channel_data.len() * 48 + 128);
    plain_headers(channel_data, &mut out);
    out.extend_from_slice(b"Content-Type: command/reply\nReply-Text: %2BOK%0A\nSocket-Mode: ");
    out.extend_from_slice(if async_mode { b"async" } else { b"static" });
    out.extend_from_slice(b"\nControl: ");
    let control: &[u8] = if full { b"full" } else { b"single-channel" };
    out.extend_from_slice(control);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}
