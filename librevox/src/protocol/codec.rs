//! Frame decoder and command encoder (`tokio_util::codec`).
//!
//! The decoder splits a byte stream into [`Frame`]s: a header block that ends
//! at the first empty line (`\n\n`, `\n\r\n` or `\r\n\r\n`), then exactly
//! `Content-Length` body bytes; a second `Content-Length` (in any casing,
//! with any value) is refused with [`Error::AmbiguousLength`], since a frame
//! whose length two parsers could read differently is how bytes are
//! smuggled. Blank lines between frames are skipped. It
//! never allocates in proportion to a claimed length: the body is split off
//! the read buffer only once all of its bytes have arrived, and limits on the
//! header block and the body are checked before anything is waited for.

use bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::command::Command;
use super::frame::Frame;
use crate::error::{Error, Result};

/// Size limits the decoder enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct Limits {
    /// Largest header block accepted, in bytes (default 1 MiB; the outbound
    /// `connect` reply, the largest header block FreeSWITCH sends, is a few
    /// kilobytes).
    pub max_header_block: usize,
    /// Largest `Content-Length` accepted (default 16 MiB, like libesl).
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_block: 1024 * 1024,
            max_body: 16 * 1024 * 1024,
        }
    }
}

type Fields = Vec<(std::ops::Range<u32>, std::ops::Range<u32>)>;

#[derive(Debug)]
enum State {
    /// Looking for the end of a header block; `scanned` bytes of the buffer
    /// are known not to contain it (so a header block arriving in many reads
    /// is scanned once, not once per read).
    Head { scanned: usize },
    /// Header block parsed; waiting for `len` body bytes.
    Body {
        head: bytes::Bytes,
        fields: Fields,
        len: usize,
    },
}

/// The ESL codec: decodes [`Frame`]s, encodes [`Command`]s.
#[derive(Debug)]
pub struct EslCodec {
    limits: Limits,
    state: State,
}

impl Default for EslCodec {
    fn default() -> Self {
        EslCodec::new(Limits::default())
    }
}

impl EslCodec {
    /// A codec with the given limits.
    pub fn new(limits: Limits) -> Self {
        EslCodec {
            limits,
            state: State::Head { scanned: 0 },
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// How many more bytes the body being received needs, `buffered` bytes
    /// of it being in the read buffer (0 while a header block is awaited).
    pub(crate) fn body_missing(&self, buffered: usize) -> usize {
        match &self.state {
            State::Body { len, .. } => len.saturating_sub(buffered),
            State::Head { .. } => 0,
        }
    }

    /// True when no partial frame is buffered in the codec's state.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Head { scanned: 0 })
    }
}

/// Finds the end of the header block in `buf`, starting at `from`. Returns
/// `(block_len, terminator_end)` or `None` plus the offset to resume from.
fn find_head_end(buf: &[u8], from: usize) -> std::result::Result<(usize, usize), usize> {
    for lf in memchr::memchr_iter(b'\n', &buf[from..]) {
        let p = from + lf;
        match buf.get(p + 1) {
            Some(b'\n') => return Ok((p, p + 2)),
            Some(b'\r') => match buf.get(p + 2) {
                Some(b'\n') => return Ok((p, p + 3)),
                Some(_) => {}
                None => return Err(p),
            },
            Some(_) => {}
            None => return Err(p),
        }
    }
    Err(buf.len())
}

/// Parses a header block (without terminator) into name/value ranges and the
/// `Content-Length`, if any.
pub(crate) fn parse_head(block: &[u8], limits: &Limits) -> Result<(Fields, Option<usize>)> {
    if memchr::memchr(0, block).is_some() {
        return Err(Error::protocol("NUL byte in a frame header block"));
    }
    if std::str::from_utf8(block).is_err() {
        return Err(Error::protocol("header block is not valid UTF-8"));
    }
    let mut fields = Vec::with_capacity(4);
    let mut content_length = None;
    let mut length_line: Option<std::ops::Range<usize>> = None;
    let mut start = 0usize;
    while start <= block.len() {
        let end = memchr::memchr(b'\n', &block[start..])
            .map(|i| start + i)
            .unwrap_or(block.len());
        let mut line_end = end;
        if line_end > start && block[line_end - 1] == b'\r' {
            line_end -= 1;
        }
        let line = &block[start..line_end];
        if let Some(colon) = memchr::memchr(b':', line) {
            let name = start..start + colon;
            let mut vstart = start + colon + 1;
            while vstart < line_end && (block[vstart] == b' ' || block[vstart] == b'\t') {
                vstart += 1;
            }
            let value = vstart..line_end;
            let name_bytes = &block[name.clone()];
            if name_bytes != name_bytes.trim_ascii()
                && name_bytes
                    .trim_ascii()
                    .eq_ignore_ascii_case(b"Content-Length")
            {
                // Another parser might trim the name and find a length
                // where this one would find none.
                return Err(Error::protocol(format!(
                    "whitespace around a Content-Length header name: `{}`",
                    excerpt(line)
                )));
            }
            if name_bytes.eq_ignore_ascii_case(b"Content-Length") {
                if let Some(first) = length_line {
                    return Err(Error::AmbiguousLength {
                        first: excerpt(&block[first]),
                        second: excerpt(line),
                    });
                }
                length_line = Some(start..line_end);
                content_length = Some(parse_content_length(&block[value.clone()], limits)?);
            }
            fields.push((
                name.start as u32..name.end as u32,
                value.start as u32..value.end as u32,
            ));
        }
        start = end + 1;
    }
    Ok((fields, content_length))
}

/// At most 64 bytes of a header line (cut on a character boundary) for an
/// error message: enough to recognise it, never a megabyte of it.
fn excerpt(line: &[u8]) -> String {
    // The block was validated as UTF-8 above, so the lossy conversion never
    // replaces anything; it only saves an unwrap.
    let text = String::from_utf8_lossy(line);
    let mut end = text.len().min(64);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

fn parse_content_length(value: &[u8], limits: &Limits) -> Result<usize> {
    let text = std::str::from_utf8(value).unwrap_or("").trim();
    if text.starts_with('-') {
        return Err(Error::protocol(format!("negative Content-Length `{text}`")));
    }
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::protocol(format!("invalid Content-Length `{text}`")));
    }
    match text.parse::<u64>() {
        Ok(n) if n <= limits.max_body as u64 => Ok(n as usize),
        Ok(n) => Err(Error::FrameTooLarge {
            part: "body",
            size: n,
            limit: limits.max_body,
        }),
        Err(_) => Err(Error::FrameTooLarge {
            part: "body",
            size: u64::MAX,
            limit: limits.max_body,
        }),
    }
}

impl Decoder for EslCodec {
    type Item = Frame;
    type Error = Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>> {
        loop {
            match &mut self.state {
                State::Head { scanned } => {
                    if *scanned == 0 {
                        // Blank lines between frames are harmless (§7).
                        skip_blank_lines(buf);
                        if buf.is_empty() {
                            return Ok(None);
                        }
                    }
                    let (block_len, term_end) = match find_head_end(buf, *scanned) {
                        Ok(found) => found,
                        Err(resume) => {
                            if buf.len() > self.limits.max_header_block {
                                return Err(Error::FrameTooLarge {
                                    part: "header block",
                                    size: buf.len() as u64,
                                    limit: self.limits.max_header_block,
                                });
                            }
                            *scanned = resume;
                            return Ok(None);
                        }
                    };
                    if block_len > self.limits.max_header_block {
                        return Err(Error::FrameTooLarge {
                            part: "header block",
                            size: block_len as u64,
                            limit: self.limits.max_header_block,
                        });
                    }
                    let (fields, content_length) = parse_head(&buf[..block_len], &self.limits)?;
                    let mut head = buf.split_to(term_end);
                    head.truncate(block_len);
                    let head = head.freeze();
                    let len = content_length.unwrap_or(0);
                    if len == 0 {
                        self.state = State::Head { scanned: 0 };
                        return Ok(Some(Frame::from_parts(head, fields, bytes::Bytes::new())));
                    }
                    self.state = State::Body { head, fields, len };
                }
                State::Body { len, .. } => {
                    if buf.len() < *len {
                        return Ok(None);
                    }
                    let len = *len;
                    if let State::Body { head, fields, .. } =
                        std::mem::replace(&mut self.state, State::Head { scanned: 0 })
                    {
                        let body = buf.split_to(len).freeze();
                        return Ok(Some(Frame::from_parts(head, fields, body)));
                    }
                }
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>> {
        if let Some(frame) = self.decode(buf)? {
            return Ok(Some(frame));
        }
        let only_blank = buf.iter().all(|&b| b == b'\n' || b == b'\r');
        match &self.state {
            State::Head { .. } if only_blank => {
                buf.clear();
                Ok(None)
            }
            State::Head { .. } => Err(Error::protocol(format!(
                "connection closed in the middle of a header block ({} bytes buffered)",
                buf.len()
            ))),
            State::Body { len, .. } => Err(Error::protocol(format!(
                "connection closed in the middle of a body ({} of {} bytes received)",
                buf.len(),
                len
            ))),
        }
    }
}

impl Encoder<&Command> for EslCodec {
    type Error = Error;

    fn encode(&mut self, cmd: &Command, dst: &mut BytesMut) -> Result<()> {
        cmd.encode_into(dst)
    }
}

/// Drops the CR/LF bytes at the front of `buf`: blank lines between frames
/// (and between client packets) carry nothing.
pub(crate) fn skip_blank_lines(buf: &mut BytesMut) {
    let skip = buf
        .iter()
        .position(|&b| b != b'\n' && b != b'\r')
        .unwrap_or(buf.len());
    buf.advance(skip);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_missing_counts_down_the_body_being_received() {
        let mut codec = EslCodec::default();
        let mut buf = BytesMut::from(&b"Content-Length: 10\nContent-Type: x\n\nabc"[..]);
        assert_eq!(
            codec.body_missing(buf.len()),
            0,
            "before the header block is read"
        );
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert_eq!(codec.body_missing(buf.len()), 7);
        buf.extend_from_slice(b"defghij");
        assert_eq!(codec.body_missing(buf.len()), 0);
        let frame = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(&frame.body()[..], b"abcdefghij");
        assert_eq!(codec.body_missing(buf.len()), 0, "after the frame");
    }
}
