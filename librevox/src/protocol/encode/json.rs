//! JSON, both shapes an event takes, with serde_json's escaping and one
//! set of header-writing rules ([`to_string`] writes the same bytes as
//! serde_json through [`EventJson`], without its per-byte escaping loop for
//! strings that need none):
//!
//! * FreeSWITCH's `text/event-json` (§4.3): one flat object, headers in wire
//!   order as strings (an `ARRAY::a|:b` value with more than one element as
//!   a JSON array), then `Content-Length` and `_body` when there is a body.
//!   [`Event::to_json`] writes it, [`Event::parse_json`] reads it; the
//!   escaping is cJSON's, which is serde_json's (`\"`, `\\`, `\b \f \n \r
//!   \t`, `\u00xx` for the other control bytes, everything else as is).
//! * librevox's own form, described below: what `librevox events --output
//!   json` and `librevox decode` print, and what a bridge publishes, so that
//!   every tool reads one format. This module is public as
//!   `librevox::protocol::event_json`.
//!
//! One event is one JSON object with two members:
//!
//! ```json
//! {"headers":{"Event-Name":"CHANNEL_HANGUP_COMPLETE","Unique-ID":"6f9a…",
//!             "Hangup-Cause":["NORMAL_CLEARING","NORMAL_CLEARING"]},
//!  "body":null}
//! ```
//!
//! * `headers`: every header in the order FreeSWITCH sent it, values decoded
//!   (no percent-encoding). A name that occurs once maps to a string; a name
//!   that occurs more than once (FreeSWITCH repeats `Hangup-Cause`, and the
//!   codec headers of some CHANNEL_* events) maps to an array of its values
//!   in order, placed where the name first occurred. No key is ever written
//!   twice, so every JSON parser reads every value.
//! * FreeSWITCH's own array headers stay the string FreeSWITCH gives them
//!   (`"ARRAY::a|:b"`, see [`ARRAY_PREFIX`](crate::protocol::ARRAY_PREFIX)), as in the
//!   plain format: a JSON array always means a repeated header.
//! * `body`: the body as text (invalid UTF-8 replaced by U+FFFD), or `null`
//!   when the event has none.
//!
//! This is not FreeSWITCH's `text/event-json` (a flat object with `_body`);
//! [`Event::parse_json`] reads that one. [`from_str`] reads this one back,
//! losslessly for an event whose body is UTF-8, except that the later
//! occurrences of a repeated header come back next to its first one.
//!
//! ```
//! use librevox::protocol::{event_json, Event};
//!
//! let e = Event::new("CHANNEL_HANGUP_COMPLETE")
//!     .with_header("Hangup-Cause", "NORMAL_CLEARING")
//!     .with_header("Hangup-Cause", "USER_BUSY");
//! let json = event_json::to_string(&e);
//! assert_eq!(
//!     json,
//!     r#"{"headers":{"Event-Name":"CHANNEL_HANGUP_COMPLETE","Hangup-Cause":["NORMAL_CLEARING","USER_BUSY"]},"body":null}"#
//! );
//! assert_eq!(event_json::from_str(&json)?, e);
//! # Ok::<(), librevox::Error>(())
//! ```

use std::fmt;

use serde::de::{Error as _, MapAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, SerializeStruct, Serializer};

use super::{array_items, JsonOptions};
use crate::error::{Error, Result};
use crate::protocol::Event;

// ----- FreeSWITCH's `text/event-json` -----

/// The `text/event-json` payload of `event`.
pub(super) fn encode(event: &Event, options: JsonOptions) -> Vec<u8> {
    // Serializing strings into a Vec cannot fail.
    serde_json::to_vec(&FreeSwitchJson { event, options }).unwrap_or_default()
}

/// FreeSWITCH's flat shape: every header as its own entry (a repeated name
/// is written twice, as FreeSWITCH does), then the body.
struct FreeSwitchJson<'a> {
    event: &'a Event,
    options: JsonOptions,
}

impl serde::Serialize for FreeSwitchJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for (name, value) in self.event.headers() {
            match array_items(value) {
                Some(items) if items.len() > 1 => m.serialize_entry(name, &items)?,
                _ => m.serialize_entry(name, value)?,
            }
        }
        let body = self.event.body_str().unwrap_or_default();
        if !body.is_empty() || self.options.empty_body {
            m.serialize_entry("Content-Length", &body.len().to_string())?;
            m.serialize_entry("_body", &body)?;
        }
        m.end()
    }
}

// ----- librevox's form -----

/// Serializes an event as [this module](self) describes, with any serde
/// serializer: `serde_json::to_writer(out, &EventJson(&event))`.
#[derive(Debug, Clone, Copy)]
pub struct EventJson<'a>(pub &'a Event);

/// The event as one line of JSON (no trailing newline): exactly what
/// `serde_json::to_string(&EventJson(event))` writes, faster (the bridge
/// encodes every event it publishes). Strings without a byte to escape
/// (almost all of FreeSWITCH's) are copied as they are, found by a check
/// the compiler vectorizes; the others go through serde_json's escaping.
pub fn to_string(event: &Event) -> String {
    let headers: Vec<(&str, &str)> = event.headers().collect();
    // One allocation for most events: a CHANNEL_* event's headers average
    // under 40 bytes as JSON.
    let hint = 64 * headers.len() + event.body().map_or(0, |b| b.len() + b.len() / 8) + 32;
    let mut out = String::with_capacity(hint);
    out.push_str("{\"headers\":{");
    let key = |out: &mut String, name: &str| {
        if !out.ends_with('{') {
            out.push(',');
        }
        push_json_str(out, name);
        out.push(':');
    };
    match Grouped::of(&headers) {
        None => {
            for (n, v) in &headers {
                key(&mut out, n);
                push_json_str(&mut out, v);
            }
        }
        Some(grouped) => {
            for (name, first, count) in grouped.entries(&headers) {
                key(&mut out, name);
                if count == 1 {
                    push_json_str(&mut out, headers[first].1);
                    continue;
                }
                out.push('[');
                for (at, (_, v)) in headers[first..]
                    .iter()
                    .filter(|(n, _)| *n == name)
                    .enumerate()
                {
                    if at > 0 {
                        out.push(',');
                    }
                    push_json_str(&mut out, v);
                }
                out.push(']');
            }
        }
    }
    out.push_str("},\"body\":");
    match event.body_str() {
        Some(body) => push_json_str(&mut out, &body),
        None => out.push_str("null"),
    }
    out.push('}');
    out
}

/// `s` as a JSON string, escaped as serde_json escapes.
fn push_json_str(out: &mut String, s: &str) {
    if needs_escape(s.as_bytes()) {
        // Writing a string into a String cannot fail.
        out.push_str(&serde_json::to_string(s).unwrap_or_default());
    } else {
        out.push('"');
        out.push_str(s);
        out.push('"');
    }
}

/// Whether `s` has a byte JSON escapes: a control byte, `"` or `\`.
/// Eight bytes at a time: a word has a byte below `n` (n ≤ 128) exactly
/// when `(w - n·0x01…01) & !w & 0x80…80` is not zero, and a byte equal to
/// `c` when `w ^ c·0x01…01` has a byte below 1.
fn needs_escape(s: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |w: u64, n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w & HIGH != 0;
    let mut words = s.chunks_exact(8);
    for word in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(word);
        let w = u64::from_le_bytes(b);
        if below(w, 0x20)
            || below(w ^ (ONES * u64::from(b'"')), 1)
            || below(w ^ (ONES * u64::from(b'\\')), 1)
        {
            return true;
        }
    }
    words
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

/// Reads an event back from [this representation](self). Fails with
/// [`Error::Protocol`] when the text is not an object with a `headers`
/// object of strings or arrays of strings and an optional `body` string or
/// `null`. Members other than these two are ignored.
pub fn from_str(json: &str) -> Result<Event> {
    serde_json::from_str::<Owned>(json)
        .map(|o| o.0)
        .map_err(|e| Error::Protocol(format!("event JSON: {e}")))
}

/// An event read by [`from_str`]. Headers are visited in document order
/// (a `serde_json::Value` would sort them).
struct Owned(Event);

impl<'de> serde::Deserialize<'de> for Owned {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Outer;
        impl<'de> Visitor<'de> for Outer {
            type Value = Owned;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object with `headers` and `body`")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Owned, A::Error> {
                let mut event: Option<Event> = None;
                let mut body: Option<String> = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "headers" => event = Some(map.next_value::<HeaderMap>()?.0),
                        "body" => body = map.next_value::<Option<String>>()?,
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                let mut event = event.ok_or_else(|| A::Error::missing_field("headers"))?;
                if let Some(b) = body {
                    event.set_body(b);
                }
                Ok(Owned(event))
            }
        }
        d.deserialize_map(Outer)
    }
}

/// The `headers` object, in order.
struct HeaderMap(Event);

impl<'de> serde::Deserialize<'de> for HeaderMap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HeaderMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of header names to strings or arrays of strings")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<HeaderMap, A::Error> {
                let mut event = Event::empty();
                while let Some(name) = map.next_key::<String>()? {
                    match map.next_value::<OneOrMany>()? {
                        OneOrMany::One(v) => event.push_header(&name, &v),
                        OneOrMany::Many(vs) => {
                            for v in vs {
                                event.push_header(&name, &v);
                            }
                        }
                    }
                }
                Ok(HeaderMap(event))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(serde::Deserialize)]
#[serde(untagged, expecting = "a string or an array of strings")]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl serde::Serialize for EventJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Event", 2)?;
        st.serialize_field("headers", &HeadersJson(self.0))?;
        st.serialize_field("body", &self.0.body_str())?;
        st.end()
    }
}

/// The `headers` object alone (repeated names folded into arrays), for a
/// tool that prints some other header block the same way.
#[derive(Debug, Clone, Copy)]
pub struct HeadersJson<'a>(pub &'a Event);

impl serde::Serialize for HeadersJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let headers: Vec<(&str, &str)> = self.0.headers().collect();
        // Most events repeat nothing: every header once, in order.
        let Some(grouped) = Grouped::of(&headers) else {
            let mut m = s.serialize_map(Some(headers.len()))?;
            for (n, v) in &headers {
                m.serialize_entry(n, v)?;
            }
            return m.end();
        };
        let mut m = s.serialize_map(Some(grouped.len()))?;
        for (name, first, count) in grouped.entries(&headers) {
            if count == 1 {
                m.serialize_entry(name, headers[first].1)?;
            } else {
                m.serialize_entry(name, &Values(&headers[first..], name))?;
            }
        }
        m.end()
    }
}

/// The headers of an event in which some name repeats, grouped by name.
struct Grouped {
    /// For each header: how many times its name occurs when this is its
    /// first occurrence, 0 when an earlier header has the name.
    counts: Vec<u32>,
}

impl Grouped {
    /// `None` when no name repeats (the common case: nothing to group).
    ///
    /// A 1,024-bit filter answers "new" for almost every name without
    /// comparing strings; only a name whose slot was already set is
    /// compared with the names before it. (A hash map of every name cost
    /// more than a fifth of the encoding; a pairwise search is n², ~5,500
    /// comparisons for a CHANNEL_* event's 105 headers.)
    fn of(headers: &[(&str, &str)]) -> Option<Grouped> {
        let mut filter = [0u64; 16];
        let mut counts: Option<Vec<u32>> = None;
        for (at, (name, _)) in headers.iter().enumerate() {
            let key = filter_key(name.as_bytes());
            let (word, bit) = (key / 64, 1u64 << (key % 64));
            if filter[word] & bit != 0 {
                if let Some(first) = headers[..at].iter().position(|(n, _)| n == name) {
                    let counts = counts.get_or_insert_with(|| vec![1; headers.len()]);
                    counts[first] += 1;
                    counts[at] = 0;
                }
            }
            filter[word] |= bit;
        }
        counts.map(|counts| Grouped { counts })
    }

    /// How many distinct names.
    fn len(&self) -> usize {
        self.counts.iter().filter(|&&c| c > 0).count()
    }

    /// Each name where it first occurs: its position and how many times it
    /// occurs.
    fn entries<'h>(
        &'h self,
        headers: &'h [(&'h str, &'h str)],
    ) -> impl Iterator<Item = (&'h str, usize, u32)> + 'h {
        headers
            .iter()
            .zip(&self.counts)
            .enumerate()
            .filter(|(_, (_, &count))| count > 0)
            .map(|(at, ((name, _), &count))| (*name, at, count))
    }
}

/// A name's slot in [`Grouped::of`]'s filter (0..1024): a fixed-seed
/// foldhash of the name (FreeSWITCH's names share long prefixes, `Caller-`,
/// `variable_`, so a key from a few bytes collides too often).
fn filter_key(name: &[u8]) -> usize {
    use std::hash::BuildHasher;
    (foldhash::fast::FixedState::with_seed(0x6c76_786a).hash_one(name) & 1023) as usize
}

/// Every value of one repeated header, in order.
struct Values<'a>(&'a [(&'a str, &'a str)], &'a str);

impl serde::Serialize for Values<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for (_, v) in self.0.iter().filter(|(n, _)| *n == self.1) {
            seq.serialize_element(v)?;
        }
        seq.end()
    }
}

impl fmt::Display for EventJson<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_string(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_single_header_is_a_string_and_order_is_kept() {
        let e = Event::new("API")
            .with_header("Core-UUID", "c")
            .with_header("API-Command", "status")
            .with_body("UP\n");
        assert_eq!(
            to_string(&e),
            r#"{"headers":{"Event-Name":"API","Core-UUID":"c","API-Command":"status"},"body":"UP\n"}"#
        );
    }

    #[test]
    fn repeated_headers_become_one_array_where_the_name_first_occurred() {
        let e = Event::new("CHANNEL_HANGUP_COMPLETE")
            .with_header("Hangup-Cause", "NORMAL_CLEARING")
            .with_header("Unique-ID", "u")
            .with_header("Hangup-Cause", "USER_BUSY")
            .with_header("Hangup-Cause", "");
        assert_eq!(
            to_string(&e),
            r#"{"headers":{"Event-Name":"CHANNEL_HANGUP_COMPLETE","Hangup-Cause":["NORMAL_CLEARING","USER_BUSY",""],"Unique-ID":"u"},"body":null}"#
        );
    }

    #[test]
    fn names_that_share_a_filter_slot_are_not_taken_for_repeats() {
        // The first two names of the form `N<i>` that share a slot.
        let names: Vec<String> = (0..5000).map(|i| format!("N{i}")).collect();
        let (a, b) = names
            .iter()
            .enumerate()
            .find_map(|(j, b)| {
                names[..j]
                    .iter()
                    .find(|a| filter_key(a.as_bytes()) == filter_key(b.as_bytes()))
                    .map(|a| (a.as_str(), b.as_str()))
            })
            .expect("5,000 names in 1,024 slots share one");
        let e = Event::new("X").with_header(a, "a").with_header(b, "b");
        assert!(Grouped::of(&e.headers().collect::<Vec<_>>()).is_none());
        assert_eq!(
            to_string(&e),
            format!(r#"{{"headers":{{"Event-Name":"X","{a}":"a","{b}":"b"}},"body":null}}"#)
        );
        // And a repeat after a slot-sharing name is still found.
        let e = e.with_header(a, "c");
        assert!(Grouped::of(&e.headers().collect::<Vec<_>>()).is_some());
        assert_eq!(
            to_string(&e),
            format!(r#"{{"headers":{{"Event-Name":"X","{a}":["a","c"],"{b}":"b"}},"body":null}}"#)
        );
    }

    #[test]
    fn strings_to_escape_are_escaped_as_serde_json_does() {
        let e = Event::new("X")
            .with_header("q\"n", "a\\b\u{1}\t\u{7f}é/")
            .with_body("line\r\n\"end\"");
        assert_eq!(
            to_string(&e),
            "{\"headers\":{\"Event-Name\":\"X\",\"q\\\"n\":\"a\\\\b\\u0001\\t\u{7f}é/\"},\"body\":\"line\\r\\n\\\"end\\\"\"}"
        );
        assert_eq!(
            to_string(&e),
            serde_json::to_string(&EventJson(&e)).unwrap()
        );
    }

    #[test]
    fn freeswitch_arrays_stay_strings() {
        let e = Event::new("X").with_header("variable_a", "ARRAY::1|:2");
        assert_eq!(
            to_string(&e),
            r#"{"headers":{"Event-Name":"X","variable_a":"ARRAY::1|:2"},"body":null}"#
        );
    }

    #[test]
    fn malformed_input_is_a_protocol_error() {
        for bad in [
            "",
            "[]",
            "{}",
            r#"{"headers":[]}"#,
            r#"{"headers":{"a":1}}"#,
            r#"{"headers":{"a":[1]}}"#,
            r#"{"headers":{},"body":3}"#,
        ] {
            assert!(
                matches!(from_str(bad), Err(Error::Protocol(_))),
                "{bad:?} was accepted"
            );
        }
    }

    proptest! {
        /// The fast writer writes exactly what serde_json writes through
        /// the `Serialize` impls: escapes, control bytes, non-ASCII,
        /// repeated names, a body or none, invalid UTF-8 in the body.
        #[test]
        fn to_string_is_serde_json_byte_for_byte(
            headers in proptest::collection::vec(("[A-C\"\\\\\u{0}-\u{1f}é]{1,3}", "\\PC{0,8}|[\u{0}-\u{7f}]{0,8}"), 0..12),
            body in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..24)),
        ) {
            let mut e = Event::empty();
            for (n, v) in &headers {
                e.push_header(n, v);
            }
            if let Some(b) = &body {
                e.set_body(b.clone());
            }
            prop_assert_eq!(to_string(&e), serde_json::to_string(&EventJson(&e)).unwrap());
        }

        /// The word-at-a-time check agrees with the byte-at-a-time one.
        #[test]
        fn needs_escape_is_exact(s in proptest::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(
                needs_escape(&s),
                s.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\')
            );
        }

        /// Any event whose body is UTF-8 comes back equal, repeated
        /// headers (adjacent or not) included.
        #[test]
        fn round_trip(
            headers in proptest::collection::vec(("[A-Za-z-]{1,3}", "\\PC{0,8}"), 0..12),
            body in proptest::option::of("\\PC{1,20}"),
        ) {
            let mut e = Event::empty();
            for (n, v) in &headers {
                e.push_header(n, v);
            }
            if let Some(b) = &body {
                e.set_body(b.clone());
            }
            let back = from_str(&to_string(&e)).unwrap();
            // Folding moves a repeated name's values next to each other;
            // compare per name, in order.
            let mut names: Vec<&str> = Vec::new();
            for (n, _) in e.headers() {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
            for n in names {
                prop_assert_eq!(e.header_values(n), back.header_values(n));
            }
            prop_assert_eq!(e.len(), back.len());
            prop_assert_eq!(e.body(), back.body());
        }
    }
}
