//! The outer ESL frame: a header block and an optional counted body.

use std::fmt;
use std::ops::Range;

use bytes::Bytes;

/// One frame as FreeSWITCH wrote it: header lines up to the blank line, then
/// exactly `Content-Length` body bytes.
///
/// Header values are kept raw, as they are on the wire (FreeSWITCH does not
/// percent-encode outer headers; the one exception, the outbound `connect`
/// reply, is decoded when it is turned into a [`Message`](super::Message)).
/// The header block is guaranteed to be valid UTF-8 without NUL bytes: the
/// decoder rejects anything else.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    head: Bytes,
    fields: Vec<(Range<u32>, Range<u32>)>,
    body: Bytes,
}

impl Frame {
    /// Builds a frame from a header block (without its terminating blank line,
    /// already checked to be UTF-8 without NUL) and a body.
    pub(crate) fn from_parts(
        head: Bytes,
        fields: Vec<(Range<u32>, Range<u32>)>,
        body: Bytes,
    ) -> Frame {
        Frame { head, fields, body }
    }

    fn str_at(&self, r: &Range<u32>) -> &str {
        // The decoder validated the whole header block as UTF-8 and every
        // range was cut at an ASCII delimiter, so this cannot fail.
        std::str::from_utf8(&self.head[r.start as usize..r.end as usize]).unwrap_or("")
    }

    /// The first header with this name, compared ASCII case-insensitively as
    /// FreeSWITCH and libesl do.
    pub fn header(&self, name: &str) -> Option<&str> {
        // Names compare as bytes; only the value found is turned into text.
        self.fields
            .iter()
            .find(|(n, _)| {
                self.head[n.start as usize..n.end as usize].eq_ignore_ascii_case(name.as_bytes())
            })
            .map(|(_, v)| self.str_at(v))
    }

    /// All headers in wire order, values raw.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.fields
            .iter()
            .map(move |(n, v)| (self.str_at(n), self.str_at(v)))
    }

    /// Number of header lines.
    pub fn header_count(&self) -> usize {
        self.fields.len()
    }

    /// The `Content-Type` header.
    pub fn content_type(&self) -> Option<&str> {
        self.header("Content-Type")
    }

    /// The body (`Content-Length` bytes; empty when there was none).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The raw header block, without the blank line that ended it.
    pub fn raw_head(&self) -> &Bytes {
        &self.head
    }

    pub(crate) fn into_body(self) -> Bytes {
        self.body
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("headers", &self.headers().collect::<Vec<_>>())
            .field("body_len", &self.body.len())
            .finish()
    }
}
