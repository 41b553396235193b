//! Server-side serialization: events and frames exactly as FreeSWITCH writes
//! them (§1.1 and §4 of the protocol notes).
//!
//! * [`url_encode`] is `switch_url_encode` (uppercase `%XX`, and the quirk
//!   that a `%` followed by two uppercase hex digits is copied literally).
//! * [`to_plain`], [`to_json`], [`to_xml`] serialize an [`Event`] into the
//!   payload of a `text/event-plain|json|xml` frame.
//! * The `*_frame` functions build whole frames, byte for byte.
//!
//! Every function here is pure; the simulator and tests share them.
//!
//! ```
//! use librevox::protocol::{Event, EventFormat};
//! use librevox::simulator::serialize;
//!
//! let event = Event::new("CUSTOM").with_header("X-Name", "Müller & Co");
//! let frame = serialize::event_frame(EventFormat::Plain, &event);
//! assert_eq!(
//!     &frame[..],
//!     &b"Content-Length: 51\nContent-Type: text/event-plain\n\n\
//!        Event-Name: CUSTOM\nX-Name: M%C3%BCller%20%26%20Co\n\n"[..]
//! );
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use crate::protocol::{Event, EventFormat, ARRAY_PREFIX, ARRAY_SEPARATOR};

/// The body of the goodbye disconnect-notice (67 bytes).
pub const GOODBYE: &str = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n";
/// The body of a `text/rude-rejection` frame (24 bytes).
pub const RUDE_REJECTION: &str = "Access Denied, go away.\n";
/// The disconnect-notice body used when FreeSWITCH shuts down or
/// mod_event_socket is unloaded (31 bytes).
pub const SHUTDOWN: &str = "The system is being shut down.\n";
/// Longest `Reply-Text` FreeSWITCH writes (its reply buffer is 512 bytes).
pub const MAX_REPLY_TEXT: usize = 511;

fn must_encode(b: u8) -> bool {
    !(0x20..=0x7e).contains(&b)
        || matches!(
            b,
            b' ' | b'#'
                | b'%'
                | b'&'
                | b'+'
                | b':'
                | b';'
                | b'<'
                | b'='
                | b'>'
                | b'?'
                | b'@'
                | b'['
                | b'\\'
                | b']'
                | b'^'
                | b'`'
                | b'{'
                | b'|'
                | b'}'
                | b'"'
        )
}

fn is_upper_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'A'..=b'F').contains(&b)
}

/// Percent-encodes a header value as FreeSWITCH's `switch_url_encode` does,
/// appending to `out`.
///
/// Bytes below 0x20, above 0x7E and `` #%&+:;<=>?@[\]^`{|}" `` and space
/// become `%XX` (uppercase hex); everything else is copied. A `%` followed by
/// two characters of `0123456789ABCDEF` is copied as is (FreeSWITCH assumes it
/// is already encoded), so the encoding is not reversible for such values.
pub fn url_encode_into(value: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for (i, &b) in value.iter().enumerate() {
        if b == b'%'
            && value.get(i + 1).copied().is_some_and(is_upper_hex)
            && value.get(i + 2).copied().is_some_and(is_upper_hex)
        {
            out.push(b);
        } else if must_encode(b) {
            out.extend_from_slice(&[b'%', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
        } else {
            out.push(b);
        }
    }
}

/// [`url_encode_into`] returning a `String`.
pub fn url_encode(value: &str) -> String {
    let mut out = Vec::with_capacity(value.len() + 8);
    url_encode_into(value.as_bytes(), &mut out);
    // Only ASCII bytes are written.
    String::from_utf8(out).unwrap_or_default()
}

/// The elements of an array-valued header (`ARRAY::a|:b`), or `None` for a
/// plain value.
fn array_items(value: &str) -> Option<Vec<&str>> {
    value
        .strip_prefix(ARRAY_PREFIX)
        .map(|rest| rest.split(ARRAY_SEPARATOR).collect())
}

/// Serializes the header lines of an event in plain format (each
/// `Name: encoded-value` LF), without the terminating empty line.
fn plain_headers(event: &Event, out: &mut Vec<u8>) {
    for (name, value) in event.headers() {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        if value.is_empty() {
            out.extend_from_slice(b"_undef_");
        } else {
            url_encode_into(value.as_bytes(), out);
        }
        out.push(b'\n');
    }
}

/// The `text/event-plain` payload of an event (§4.2): header lines with
/// encoded values, then either `Content-Length: n` LF LF body, or one LF.
pub fn to_plain(event: &Event) -> Vec<u8> {
    let mut out = Vec::with_capacity(event.len() * 48 + 64);
    plain_headers(event, &mut out);
    match event.body() {
        Some(body) if !body.is_empty() => {
            out.extend_from_slice(format!("Content-Length: {}\n\n", body.len()).as_bytes());
            out.extend_from_slice(body);
        }
        _ => out.push(b'\n'),
    }
    out
}

/// Appends a cJSON-escaped string literal (with quotes).
fn json_string(s: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b if b < 0x20 => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 15) as usize]);
            }
            b => out.push(b),
        }
    }
    out.push(b'"');
}

/// Options of the JSON serializer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JsonOptions {
    /// Write `"Content-Length":"0","_body":""` when the event has no body
    /// (FreeSWITCH does this for an event whose body was set to an empty
    /// string, e.g. a BACKGROUND_JOB whose API printed nothing).
    pub empty_body: bool,
}

/// The `text/event-json` payload of an event (§4.3): one object, no
/// whitespace, string values (arrays for `ARRAY::` values), cJSON escaping,
/// `Content-Length` and `_body` last when there is a body.
pub fn to_json(event: &Event) -> Vec<u8> {
    to_json_with(event, JsonOptions::default())
}

/// [`to_json`] with options.
pub fn to_json_with(event: &Event, options: JsonOptions) -> Vec<u8> {
    let mut out = Vec::with_capacity(event.len() * 48 + 64);
    out.push(b'{');
    let mut first = true;
    let mut sep = |out: &mut Vec<u8>| {
        if !first {
            out.push(b',');
        }
        first = false;
    };
    for (name, value) in event.headers() {
        sep(&mut out);
        json_string(name.as_bytes(), &mut out);
        out.push(b':');
        match array_items(value) {
            Some(items) if items.len() > 1 => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    json_string(item.as_bytes(), &mut out);
                }
                out.push(b']');
            }
            _ => json_string(value.as_bytes(), &mut out),
        }
    }
    let body: &[u8] = event.body().map(|b| &b[..]).unwrap_or(b"");
    if !body.is_empty() || options.empty_body {
        sep(&mut out);
        out.extend_from_slice(b"\"Content-Length\":");
        json_string(body.len().to_string().as_bytes(), &mut out);
        sep(&mut out);
        out.extend_from_slice(b"\"_body\":");
        json_string(body, &mut out);
    }
    out.push(b'}');
    out
}

/// Appends the XML-escaped body text (§4.4): `&<>` as entities, CR as
/// `&#xD;`, each non-ASCII UTF-8 character as `&#xHEX;`; other bytes raw.
fn xml_body(body: &[u8], out: &mut Vec<u8>) {
    for chunk in body.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '&' => out.extend_from_slice(b"&amp;"),
                '<' => out.extend_from_slice(b"&lt;"),
                '>' => out.extend_from_slice(b"&gt;"),
                '\r' => out.extend_from_slice(b"&#xD;"),
                c if c.is_ascii() => out.push(c as u8),
                c => out.extend_from_slice(format!("&#x{:X};", c as u32).as_bytes()),
            }
        }
        out.extend_from_slice(chunk.invalid());
    }
}

fn xml_text(s: &[u8], out: &mut Vec<u8>) {
    for &b in s {
        match b {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b => out.push(b),
        }
    }
}

/// The `text/event-xml` payload of an event (§4.4): two-space indentation,
/// percent-encoded header values, one element per array entry, and, for a
/// non-empty body, `<Content-Length>` and the escaped `<body>` (two spaces
/// before `</body>` when the body ends in LF). Ends with `</event>` LF.
pub fn to_xml(event: &Event) -> Vec<u8> {
    let mut out = Vec::with_capacity(event.len() * 64 + 64);
    out.extend_from_slice(b"<event>\n  <headers>\n");
    let mut enc = Vec::new();
    for (name, value) in event.headers() {
        let items = match array_items(value) {
            Some(items) => items,
            None => vec![value],
        };
        for item in items {
            out.extend_from_slice(b"    <");
            out.extend_from_slice(name.as_bytes());
            out.push(b'>');
            enc.clear();
            url_encode_into(item.as_bytes(), &mut enc);
            xml_text(&enc, &mut out);
            out.extend_from_slice(b"</");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b">\n");
        }
    }
    out.extend_from_slice(b"  </headers>\n");
    if let Some(body) = event.body().filter(|b| !b.is_empty()) {
        out.extend_from_slice(
            format!("  <Content-Length>{}</Content-Length>\n", body.len()).as_bytes(),
        );
        out.extend_from_slice(b"  <body>");
        xml_body(body, &mut out);
        if body.ends_with(b"\n") {
            out.extend_from_slice(b"  ");
        }
        out.extend_from_slice(b"</body>\n");
    }
    out.extend_from_slice(b"</event>\n");
    out
}

/// The payload of an event in the given format.
pub fn event_payload(format: EventFormat, event: &Event) -> Vec<u8> {
    match format {
        EventFormat::Plain => to_plain(event),
        EventFormat::Json => to_json(event),
        EventFormat::Xml => to_xml(event),
    }
}

/// Wraps an event payload in its frame: `Content-Length` then `Content-Type`
/// (the order FreeSWITCH uses for events only), empty line, payload.
pub fn wrap_event_payload(format: EventFormat, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 64);
    out.put_slice(
        format!(
            "Content-Length: {}\nContent-Type: {}\n\n",
            payload.len(),
            format.content_type()
        )
        .as_bytes(),
    );
    out.put_slice(payload);
    out.freeze()
}

/// A whole event frame (`text/event-plain|json|xml`).
pub fn event_frame(format: EventFormat, event: &Event) -> Bytes {
    wrap_event_payload(format, &event_payload(format, event))
}

/// The inbound greeting: `Content-Type: auth/request` LF LF (28 bytes).
pub fn auth_request_frame() -> Bytes {
    Bytes::from_static(b"Content-Type: auth/request\n\n")
}

fn truncate_reply(text: &str) -> &[u8] {
    let b = text.as_bytes();
    &b[..b.len().min(MAX_REPLY_TEXT)]
}

/// A `command/reply` frame with this `Reply-Text` (raw, cut to 511 bytes).
pub fn command_reply_frame(text: &str) -> Bytes {
    command_reply_frame_with(text, &[])
}

/// A `command/reply` frame with extra headers after `Reply-Text` (the `bgapi`
/// and `userauth` forms).
pub fn command_reply_frame_with(text: &str, extra: &[(&str, &str)]) -> Bytes {
    let mut out = BytesMut::with_capacity(64 + text.len());
    out.put_slice(b"Content-Type: command/reply\nReply-Text: ");
    out.put_slice(truncate_reply(text));
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
pub fn api_response_frame(body: &[u8]) -> Bytes {
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
pub fn disconnect_notice_frame(body: &str) -> Bytes {
    Bytes::from(format!(
        "Content-Type: text/disconnect-notice\nContent-Length: {}\n\n{body}",
        body.len()
    ))
}

/// The disconnect-notice of a socket that controls a session
/// (`Controlled-Session-UUID`, `Content-Disposition: disconnect`).
pub fn session_disconnect_notice_frame(session_uuid: &str, body: &str) -> Bytes {
    Bytes::from(format!(
        "Content-Type: text/disconnect-notice\nControlled-Session-UUID: {session_uuid}\n\
         Content-Disposition: disconnect\nContent-Length: {}\n\n{body}",
        body.len()
    ))
}

/// The linger notice (`Content-Disposition: linger`, raw `Channel-Name`,
/// `Linger-Time` in seconds or -1, `Content-Length: 0`).
pub fn linger_notice_frame(session_uuid: &str, channel_name: &str, linger_time: i64) -> Bytes {
    Bytes::from(format!(
        "Content-Type: text/disconnect-notice\nControlled-Session-UUID: {session_uuid}\n\
         Content-Disposition: linger\nChannel-Name: {channel_name}\nLinger-Time: {linger_time}\n\
         Content-Length: 0\n\n"
    ))
}

/// `text/rude-rejection` (78 bytes), sent instead of the greeting to a peer
/// refused by the ACL; the goodbye notice follows.
pub fn rude_rejection_frame() -> Bytes {
    Bytes::from(format!(
        "Content-Type: text/rude-rejection\nContent-Length: {}\n\n{RUDE_REJECTION}",
        RUDE_REJECTION.len()
    ))
}

/// A log line as a `log/data` frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Level number (0 CONSOLE … 7 DEBUG).
    pub level: u8,
    /// Text channel: 0 plain log, 1 clean (no prefix), 3 session.
    pub text_channel: u8,
    /// Source file (`mod_commands.c`).
    pub file: String,
    /// Function (`log_function`).
    pub func: String,
    /// Line number.
    pub line: u32,
    /// Session UUID, or empty.
    pub user_data: String,
    /// The body (the formatted line, normally ending in LF).
    pub body: String,
}

/// Builds a `log/data` frame (headers in FreeSWITCH's order, raw values).
pub fn log_data_frame(line: &LogLine) -> Bytes {
    Bytes::from(format!(
        "Content-Type: log/data\nContent-Length: {}\nLog-Level: {}\nText-Channel: {}\n\
         Log-File: {}\nLog-Func: {}\nLog-Line: {}\nUser-Data: {}\n\n{}",
        line.body.len(),
        line.level,
        line.text_channel,
        line.file,
        line.func,
        line.line,
        line.user_data,
        line.body
    ))
}

/// The outbound `connect` reply: the channel data serialized as a plain
/// header block, then `Content-Type: command/reply`, `Reply-Text: %2BOK%0A`,
/// `Socket-Mode: async|static`, `Control: full|single-channel`, empty line.
pub fn connect_reply_frame(channel_data: &Event, async_mode: bool, full: bool) -> Bytes {
    let mut out = Vec::with_capacity(channel_data.len() * 48 + 128);
    plain_headers(channel_data, &mut out);
    out.extend_from_slice(b"Content-Type: command/reply\nReply-Text: %2BOK%0A\nSocket-Mode: ");
    out.extend_from_slice(if async_mode { b"async" } else { b"static" });
    out.extend_from_slice(b"\nControl: ");
    out.extend_from_slice(if full {
        &b"full"[..]
    } else {
        &b"single-channel"[..]
    });
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}
