//! Event encoding: the plain, JSON and XML payloads FreeSWITCH writes for
//! an [`Event`] (§4), beside the parsers in `event.rs` and `xml.rs` that
//! read them back. The same event encoded in any format and parsed again
//! compares equal (XML's array caveat aside: two adjacent headers of one
//! name read back as one array header, which is FreeSWITCH's format).
//!
//! The simulator writes its events with these; a client can use them to
//! publish or store events in FreeSWITCH's own formats, and tests to build
//! byte-exact frames.
//!
//! ```
//! use librevox::protocol::{Event, EventFormat};
//!
//! let event = Event::new("CUSTOM").with_header("X-Name", "Müller & Co");
//! assert_eq!(
//!     &event.to_frame(EventFormat::Plain)[..],
//!     &b"Content-Length: 51\nContent-Type: text/event-plain\n\n\
//!        Event-Name: CUSTOM\nX-Name: M%C3%BCller%20%26%20Co\n\n"[..]
//! );
//! let json = event.encode(EventFormat::Json);
//! assert_eq!(json, r#"{"Event-Name":"CUSTOM","X-Name":"Müller & Co"}"#.as_bytes());
//! assert_eq!(Event::parse_json(&json.into()).unwrap(), event);
//! ```

pub mod json;
mod plain;
mod xml;

use bytes::{BufMut, Bytes, BytesMut};

use super::{Event, EventFormat};

pub(crate) use self::plain::plain_headers;
pub use self::plain::{url_encode, url_encode_into};

/// Options of the JSON encoder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct JsonOptions {
    /// Write `"Content-Length":"0","_body":""` when the event has no body
    /// (FreeSWITCH does this for an event whose body was set to an empty
    /// string, e.g. a BACKGROUND_JOB whose API printed nothing).
    pub empty_body: bool,
}

impl JsonOptions {
    /// The defaults: no body written for an event without one.
    pub fn new() -> JsonOptions {
        JsonOptions::default()
    }

    /// Sets [`empty_body`](JsonOptions::empty_body).
    pub fn empty_body(mut self, on: bool) -> JsonOptions {
        self.empty_body = on;
        self
    }
}

impl Event {
    /// The payload of a `text/event-plain|json|xml` frame for this event.
    pub fn encode(&self, format: EventFormat) -> Vec<u8> {
        match format {
            EventFormat::Plain => self.to_plain(),
            EventFormat::Json => self.to_json(),
            EventFormat::Xml => self.to_xml(),
        }
    }

    /// The `text/event-plain` payload (§4.2): `Name: value` lines with
    /// values percent-encoded as [`url_encode`] does (an empty value is
    /// written `_undef_`), then either `Content-Length: n`, an empty line
    /// and the body, or one empty line.
    pub fn to_plain(&self) -> Vec<u8> {
        plain::encode(self)
    }

    /// The `text/event-json` payload (§4.3): one object without
    /// whitespace, string values (arrays for `ARRAY::` values), cJSON
    /// escaping, `Content-Length` and `_body` last when there is a body.
    pub fn to_json(&self) -> Vec<u8> {
        json::encode(self, JsonOptions::default())
    }

    /// [`to_json`](Event::to_json) with options.
    pub fn to_json_with(&self, options: JsonOptions) -> Vec<u8> {
        json::encode(self, options)
    }

    /// The `text/event-xml` payload (§4.4): two-space indentation,
    /// percent-encoded header values, one element per array entry, and,
    /// for a non-empty body, `<Content-Length>` and the escaped `<body>`.
    pub fn to_xml(&self) -> Vec<u8> {
        xml::encode(self)
    }

    /// A whole event frame: `Content-Length`, `Content-Type`, an empty
    /// line, the payload.
    pub fn to_frame(&self, format: EventFormat) -> Bytes {
        event_frame(format, &self.encode(format))
    }
}

/// Wraps an event payload in its frame: `Content-Length` then
/// `Content-Type` (the order FreeSWITCH uses for events only), an empty
/// line, the payload.
pub fn event_frame(format: EventFormat, payload: &[u8]) -> Bytes {
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

/// The elements of an array-valued header (`ARRAY::a|:b`), or `None` for a
/// plain value.
fn array_items(value: &str) -> Option<Vec<&str>> {
    value
        .strip_prefix(super::ARRAY_PREFIX)
        .map(|rest| rest.split(super::ARRAY_SEPARATOR).collect())
}
