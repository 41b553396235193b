//! FreeSWITCH events: parsing from the three wire formats, lookup, building.
//!
//! An [`Event`] is an ordered list of headers plus an optional body. Values are
//! stored decoded: percent-decoding is applied where FreeSWITCH percent-encodes
//! (plain and XML event headers, the outbound `connect` reply), JSON strings are
//! unescaped, XML text is unescaped. So the same event received as
//! `text/event-plain`, `text/event-json` or `text/event-xml` parses to equal
//! `Event`s.
//!
//! Two representation rules make that hold:
//! * The body's own length header (the last `Content-Length` that FreeSWITCH's
//!   serializer appends before the body, the JSON `"Content-Length"` key before
//!   `"_body"`, the XML `<Content-Length>` element) is not a header of the
//!   event: it is [`Event::body`]'s length. A `Content-Length` header that a
//!   client put into a `sendevent` stays a header.
//! * A multi-valued (array) header is stored the way the plain format writes
//!   it, `ARRAY::first|:second`; [`Event::header_values`] splits it. JSON arrays
//!   and runs of same-named XML elements are joined into that form.
//!
//! An empty body is the same as no body (plain and XML omit it; JSON writes
//! `"_body":""`).

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;

use crate::error::{Error, Result};

/// The prefix FreeSWITCH gives array-valued headers in plain and XML format.
pub const ARRAY_PREFIX: &str = "ARRAY::";
/// The separator between array elements.
pub const ARRAY_SEPARATOR: &str = "|:";

/// The serialization FreeSWITCH uses for event frames on a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EventFormat {
    /// `text/event-plain`: `Name: percent-encoded value` lines.
    #[default]
    Plain,
    /// `text/event-json`: one JSON object.
    Json,
    /// `text/event-xml`: an `<event>` document.
    Xml,
}

impl EventFormat {
    /// The word used in `event <format> ...` commands.
    pub fn as_str(self) -> &'static str {
        match self {
            EventFormat::Plain => "plain",
            EventFormat::Json => "json",
            EventFormat::Xml => "xml",
        }
    }

    /// The `Content-Type` of event frames in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            EventFormat::Plain => "text/event-plain",
            EventFormat::Json => "text/event-json",
            EventFormat::Xml => "text/event-xml",
        }
    }

    /// The format for an event frame's `Content-Type`, if it is one.
    pub fn from_content_type(ct: &str) -> Option<EventFormat> {
        match ct {
            "text/event-plain" => Some(EventFormat::Plain),
            "text/event-json" => Some(EventFormat::Json),
            "text/event-xml" => Some(EventFormat::Xml),
            _ => None,
        }
    }
}

impl fmt::Display for EventFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for EventFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "plain" => Ok(EventFormat::Plain),
            "json" => Ok(EventFormat::Json),
            "xml" => Ok(EventFormat::Xml),
            other => Err(Error::InvalidCommand(format!(
                "unknown event format `{other}`; expected plain, json or xml"
            ))),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    name_start: u32,
    name_end: u32,
    value_end: u32,
}

/// A FreeSWITCH event: ordered headers (values decoded) and an optional body.
///
/// Lookups by [`header`](Event::header) compare names exactly, the way
/// FreeSWITCH spells them (`Unique-ID`, `variable_sip_from_user`); use
/// [`header_ignore_case`](Event::header_ignore_case) for an ASCII
/// case-insensitive lookup, which is what FreeSWITCH's own filters do. When a
/// name occurs more than once (`Hangup-Cause` on CHANNEL_HANGUP_COMPLETE), the
/// first occurrence wins, as in FreeSWITCH.
#[derive(Clone, Default)]
pub struct Event {
    /// Header names and decoded values, concatenated; spans index into it.
    text: String,
    spans: Vec<Span>,
    body: Option<Bytes>,
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.spans.len() == other.spans.len()
            && self.headers().eq(other.headers())
            && self.body() == other.body()
    }
}

impl Eq for Event {}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Event");
        d.field("name", &self.name());
        d.field("headers", &self.headers().collect::<Vec<_>>());
        if let Some(body) = self.body_str() {
            d.field("body", &body);
        }
        d.finish()
    }
}

impl Event {
    /// An event with `Event-Name: <name>` as its first header (for
    /// `sendevent` and for the simulator). For `CUSTOM`, add `Event-Subclass`
    /// next.
    pub fn new(name: &str) -> Event {
        let mut e = Event::default();
        e.push_header("Event-Name", name);
        e
    }

    /// An event without any header (diverted events look like this on the
    /// wire).
    pub fn empty() -> Event {
        Event::default()
    }

    /// Appends a header (duplicates are allowed and kept in order).
    pub fn push_header(&mut self, name: &str, value: &str) {
        let name_start = self.text.len() as u32;
        self.text.push_str(name);
        let name_end = self.text.len() as u32;
        self.text.push_str(value);
        self.spans.push(Span {
            name_start,
            name_end,
            value_end: self.text.len() as u32,
        });
    }

    /// Builder form of [`push_header`](Event::push_header).
    pub fn with_header(mut self, name: &str, value: &str) -> Event {
        self.push_header(name, value);
        self
    }

    /// Replaces the value of every header with this exact name by one header
    /// at the position of the first (appending it when absent).
    pub fn set_header(&mut self, name: &str, value: &str) {
        if self.header(name).is_none() {
            self.push_header(name, value);
            return;
        }
        let mut rebuilt = Event {
            text: String::with_capacity(self.text.len() + value.len()),
            spans: Vec::with_capacity(self.spans.len()),
            body: self.body.take(),
        };
        let mut done = false;
        for (n, v) in self.headers() {
            if n == name {
                if !done {
                    rebuilt.push_header(n, value);
                    done = true;
                }
            } else {
                rebuilt.push_header(n, v);
            }
        }
        *self = rebuilt;
    }

    /// Removes every header with this exact name.
    pub fn remove_header(&mut self, name: &str) {
        if self.header(name).is_none() {
            return;
        }
        let mut rebuilt = Event {
            text: String::with_capacity(self.text.len()),
            spans: Vec::with_capacity(self.spans.len()),
            body: self.body.take(),
        };
        for (n, v) in self.headers().filter(|(n, _)| *n != name) {
            rebuilt.push_header(n, v);
        }
        *self = rebuilt;
    }

    /// Sets the body (an empty body is stored as none).
    pub fn set_body(&mut self, body: impl Into<Bytes>) {
        let body = body.into();
        self.body = if body.is_empty() { None } else { Some(body) };
    }

    /// Builder form of [`set_body`](Event::set_body).
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Event {
        self.set_body(body);
        self
    }

    fn name_of(&self, s: &Span) -> &str {
        &self.text[s.name_start as usize..s.name_end as usize]
    }

    fn value_of(&self, s: &Span) -> &str {
        &self.text[s.name_end as usize..s.value_end as usize]
    }

    /// All headers in order, values decoded.
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.spans
            .iter()
            .map(move |s| (self.name_of(s), self.value_of(s)))
    }

    /// Number of headers.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True when the event has no header.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The first header with exactly this name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.spans
            .iter()
            .find(|s| self.name_of(s) == name)
            .map(|s| self.value_of(s))
    }

    /// The first header whose name equals `name` ignoring ASCII case
    /// (`unique-id` finds `Unique-ID`).
    pub fn header_ignore_case(&self, name: &str) -> Option<&str> {
        self.spans
            .iter()
            .find(|s| self.name_of(s).eq_ignore_ascii_case(name))
            .map(|s| self.value_of(s))
    }

    /// Every header with exactly this name, in order (for duplicated names).
    pub fn header_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.spans
            .iter()
            .filter(move |s| self.name_of(s) == name)
            .map(move |s| self.value_of(s))
    }

    /// The elements of a header: an `ARRAY::a|:b` value split into `a`, `b`;
    /// any other value as its single element; nothing when absent.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        match self.header(name) {
            None => Vec::new(),
            Some(v) => match v.strip_prefix(ARRAY_PREFIX) {
                Some(rest) => rest.split(ARRAY_SEPARATOR).collect(),
                None => vec![v],
            },
        }
    }

    /// `Event-Name` (absent on diverted events).
    pub fn name(&self) -> Option<&str> {
        self.header("Event-Name")
    }

    /// `Event-Subclass` of a CUSTOM event (`conference::maintenance`).
    pub fn subclass(&self) -> Option<&str> {
        self.header("Event-Subclass")
    }

    /// True when the event's name is `name` (ASCII case-insensitive), or, for
    /// `CUSTOM <subclass>`, when it is a CUSTOM event of that subclass.
    pub fn is(&self, name: &str) -> bool {
        let (base, sub) = match name.split_once(' ') {
            Some((b, s)) => (b, Some(s.trim())),
            None => (name, None),
        };
        let Some(own) = self.name() else { return false };
        own.eq_ignore_ascii_case(base)
            && match sub {
                None => true,
                Some(s) => self.subclass() == Some(s),
            }
    }

    /// The channel this event is about (`Unique-ID`).
    pub fn unique_id(&self) -> Option<&str> {
        self.header("Unique-ID")
    }

    /// `Job-UUID` of a BACKGROUND_JOB event.
    pub fn job_uuid(&self) -> Option<&str> {
        self.header("Job-UUID")
    }

    /// `Application-UUID` of CHANNEL_EXECUTE / CHANNEL_EXECUTE_COMPLETE: the
    /// `Event-UUID` the sendmsg carried.
    pub fn application_uuid(&self) -> Option<&str> {
        self.header("Application-UUID")
    }

    /// `Application` of CHANNEL_EXECUTE / CHANNEL_EXECUTE_COMPLETE.
    pub fn application(&self) -> Option<&str> {
        self.header("Application")
    }

    /// `Application-Data` (the expanded argument) of CHANNEL_EXECUTE*.
    pub fn application_data(&self) -> Option<&str> {
        self.header("Application-Data")
    }

    /// `Application-Response` of CHANNEL_EXECUTE_COMPLETE (`_none_` when the
    /// application set none).
    pub fn application_response(&self) -> Option<&str> {
        self.header("Application-Response")
    }

    /// `Hangup-Cause`, present on events after a hangup.
    pub fn hangup_cause(&self) -> Option<&str> {
        self.header("Hangup-Cause")
    }

    /// A channel variable: the header `variable_<name>`.
    pub fn variable(&self, name: &str) -> Option<&str> {
        self.spans
            .iter()
            .find(|s| {
                self.name_of(s)
                    .strip_prefix("variable_")
                    .is_some_and(|n| n == name)
            })
            .map(|s| self.value_of(s))
    }

    /// `Event-Sequence`, FreeSWITCH's global event counter.
    pub fn sequence(&self) -> Option<u64> {
        self.header("Event-Sequence")?.parse().ok()
    }

    /// `Core-UUID` of the FreeSWITCH instance that fired the event.
    pub fn core_uuid(&self) -> Option<&str> {
        self.header("Core-UUID")
    }

    /// The body, if the event has a non-empty one.
    pub fn body(&self) -> Option<&Bytes> {
        self.body.as_ref()
    }

    /// The body as text (lossily converted if it is not UTF-8).
    pub fn body_str(&self) -> Option<Cow<'_, str>> {
        self.body.as_ref().map(|b| String::from_utf8_lossy(b))
    }

    // ----- parsing -----

    /// Parses an event payload in the given format.
    pub fn parse(format: EventFormat, payload: &Bytes) -> Result<Event> {
        match format {
            EventFormat::Plain => Event::parse_plain(payload),
            EventFormat::Json => Event::parse_json(payload),
            EventFormat::Xml => Event::parse_xml(payload),
        }
    }

    /// Parses a `text/event-plain` payload: `Name: value` lines with
    /// percent-encoded values, an empty line, then (when the last header is
    /// `Content-Length`) that many body bytes. The body shares `payload`'s
    /// memory.
    pub fn parse_plain(payload: &Bytes) -> Result<Event> {
        let (head_end, body_start) = match memchr::memmem::find(payload, b"\n\n") {
            Some(i) => (i, i + 2),
            None => (payload.len(), payload.len()),
        };
        let mut builder = Builder::with_capacity(head_end, 128);
        builder.parse_header_lines(&payload[..head_end], true);
        let mut event = builder.finish();
        // The serializer's own Content-Length comes last; anything earlier with
        // that name came from the client that built the event.
        if let Some(last) = event.spans.last().copied() {
            if event.name_of(&last) == "Content-Length" {
                let len: usize = event.value_of(&last).trim().parse().map_err(|_| {
                    Error::protocol(format!(
                        "invalid event body Content-Length `{}`",
                        event.value_of(&last)
                    ))
                })?;
                event.spans.pop();
                let avail = payload.len().saturating_sub(body_start);
                if len > avail {
                    return Err(Error::protocol(format!(
                        "event body shorter than its Content-Length ({avail} of {len} bytes)"
                    )));
                }
                if len > 0 {
                    event.body = Some(payload.slice(body_start..body_start + len));
                }
            }
        }
        Ok(event)
    }

    /// Parses a header block whose values are percent-encoded (the outbound
    /// `connect` reply), without any body handling.
    pub(crate) fn parse_encoded_block(block: &[u8]) -> Event {
        let mut builder = Builder::with_capacity(block.len(), 128);
        builder.parse_header_lines(block, true);
        builder.finish()
    }

    /// Parses a `text/event-json` payload. Keys keep their order; duplicate
    /// keys are kept; arrays become `ARRAY::` values; `_body` becomes the body.
    /// Invalid UTF-8 inside strings (FreeSWITCH does not validate) is replaced
    /// with U+FFFD rather than rejected.
    pub fn parse_json(payload: &Bytes) -> Result<Event> {
        let parsed: JsonEvent = match serde_json::from_slice(payload) {
            Ok(p) => p,
            Err(first) => {
                let lossy = String::from_utf8_lossy(payload);
                if matches!(lossy, Cow::Owned(_)) {
                    serde_json::from_str(&lossy)
                        .map_err(|e| Error::protocol(format!("invalid JSON event: {e}")))?
                } else {
                    return Err(Error::protocol(format!("invalid JSON event: {first}")));
                }
            }
        };
        let mut entries = parsed.0;
        let mut body = None;
        if let Some(pos) = entries.iter().rposition(|(k, _)| k == "_body") {
            let (_, v) = entries.remove(pos);
            body = Some(v.into_string());
            if pos > 0 && entries[pos - 1].0 == "Content-Length" {
                entries.remove(pos - 1);
            }
        }
        let mut event = Event {
            text: String::with_capacity(payload.len()),
            spans: Vec::with_capacity(entries.len()),
            body: None,
        };
        for (k, v) in &entries {
            match v {
                JsonValue::One(s) => event.push_header(k, s),
                JsonValue::Many(items) => event.push_header(k, &join_array(items)),
            }
        }
        if let Some(b) = body {
            event.set_body(b);
        }
        Ok(event)
    }

    /// Parses a `text/event-xml` payload. Header values are percent-decoded
    /// after XML unescaping; consecutive elements with the same name form an
    /// array header. The parser is lenient where FreeSWITCH's output is not
    /// well-formed XML (raw control bytes in the body).
    pub fn parse_xml(payload: &Bytes) -> Result<Event> {
        super::xml::parse_event(payload)
    }
}

pub(crate) fn join_array(items: &[String]) -> String {
    if items.len() == 1 {
        return items[0].clone();
    }
    let mut s = String::from(ARRAY_PREFIX);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            s.push_str(ARRAY_SEPARATOR);
        }
        s.push_str(item);
    }
    s
}

/// Builds an event's text buffer from raw header lines, percent-decoding
/// values, with one UTF-8 check at the end.
struct Builder {
    buf: Vec<u8>,
    spans: Vec<Span>,
}

impl Builder {
    fn with_capacity(bytes: usize, headers: usize) -> Builder {
        Builder {
            buf: Vec::with_capacity(bytes),
            spans: Vec::with_capacity(headers),
        }
    }

    fn parse_header_lines(&mut self, block: &[u8], decode: bool) {
        let mut start = 0;
        while start < block.len() {
            let end = memchr::memchr(b'\n', &block[start..])
                .map(|i| start + i)
                .unwrap_or(block.len());
            let mut line = &block[start..end];
            if let Some(stripped) = line.strip_suffix(b"\r") {
                line = stripped;
            }
            if let Some(colon) = memchr::memchr(b':', line) {
                let name = &line[..colon];
                let mut value = &line[colon + 1..];
                while let [b' ' | b'\t', rest @ ..] = value {
                    value = rest;
                }
                self.push(name, value, decode);
            }
            start = end + 1;
        }
    }

    fn push(&mut self, name: &[u8], value: &[u8], decode: bool) {
        let name_start = self.buf.len() as u32;
        self.buf.extend_from_slice(name);
        let name_end = self.buf.len() as u32;
        if decode && memchr::memchr(b'%', value).is_some() {
            let decoded: Cow<'_, [u8]> = percent_encoding::percent_decode(value).into();
            self.buf.extend_from_slice(&decoded);
        } else {
            self.buf.extend_from_slice(value);
        }
        self.spans.push(Span {
            name_start,
            name_end,
            value_end: self.buf.len() as u32,
        });
    }

    fn finish(self) -> Event {
        match String::from_utf8(self.buf) {
            Ok(text) => Event {
                text,
                spans: self.spans,
                body: None,
            },
            Err(err) => {
                // Rare: a value decoded to invalid UTF-8. Convert each piece on
                // its own so the spans stay aligned.
                let buf = err.into_bytes();
                let mut event = Event::default();
                for s in &self.spans {
                    let name =
                        String::from_utf8_lossy(&buf[s.name_start as usize..s.name_end as usize]);
                    let value =
                        String::from_utf8_lossy(&buf[s.name_end as usize..s.value_end as usize]);
                    event.push_header(&name, &value);
                }
                event
            }
        }
    }
}

// ----- JSON -----

pub(crate) enum JsonValue {
    One(String),
    Many(Vec<String>),
}

impl JsonValue {
    pub(crate) fn into_string(self) -> String {
        match self {
            JsonValue::One(s) => s,
            JsonValue::Many(v) => join_array(&v),
        }
    }
}

/// A JSON object read in order, keeping duplicate keys.
pub(crate) struct JsonEvent(pub(crate) Vec<(String, JsonValue)>);

impl<'de> serde::Deserialize<'de> for JsonValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = JsonValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<JsonValue, E> {
                Ok(JsonValue::One(v.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(
                self,
                v: String,
            ) -> std::result::Result<JsonValue, E> {
                Ok(JsonValue::One(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<JsonValue, E> {
                Ok(JsonValue::One(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<JsonValue, E> {
                Ok(JsonValue::One(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<JsonValue, E> {
                Ok(JsonValue::One(v.to_string()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> std::result::Result<JsonValue, E> {
                Ok(JsonValue::One(v.to_string()))
            }
            fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<JsonValue, E> {
                Ok(JsonValue::One(String::new()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<JsonValue, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<JsonValue>()? {
                    items.push(item.into_string());
                }
                Ok(JsonValue::Many(items))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> serde::Deserialize<'de> for JsonEvent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = JsonEvent;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object of event headers")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<JsonEvent, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(64));
                while let Some((k, v)) = map.next_entry::<String, JsonValue>()? {
                    entries.push((k, v));
                }
                Ok(JsonEvent(entries))
            }
        }
        d.deserialize_map(V)
    }
}
