//! The server side of framing: client packets read the way FreeSWITCH's
//! `read_packet` reads them (§1.2 of the protocol notes).
//!
//! The simulator uses this to read commands, and tests use it to take captured
//! client bytes apart. The rules differ from the client-side frame decoder on
//! purpose, because FreeSWITCH's reader has its own quirks:
//! * CR and LF bytes before a packet are discarded;
//! * the header block ends at the second LF of a run of LFs separated only by
//!   CRs (`\n\n`, `\n\r\n`, `\r\n\r\n`);
//! * a line ends at the first CR anywhere in the rest of the block if there is
//!   one, else at the first LF (so mixing LF lines with a later CRLF line
//!   swallows the headers in between into the command line);
//! * header names are taken verbatim, only spaces after the colon are
//!   skipped, lines without a colon and headers with an empty value vanish;
//! * a `Content-Length` header (any case) makes exactly that many body bytes
//!   follow; outside 0..=16 MiB the connection is dropped.

use bytes::{Bytes, BytesMut};

/// FreeSWITCH's cap on a client packet body (16 MiB).
pub const MAX_CLIENT_BODY: i64 = 16 * 1024 * 1024;
/// FreeSWITCH force-terminates client header blocks at 10 MiB.
pub const MAX_CLIENT_HEAD: usize = 10 * 1024 * 1024;

/// A client packet as FreeSWITCH sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The command line (`api status`), trimmed of line ends.
    pub command: String,
    /// Header lines after the command, in order, names verbatim.
    pub headers: Vec<(String, String)>,
    /// The body (`Content-Length` bytes), if there was one.
    pub body: Option<Bytes>,
    /// The exact bytes of the packet, from its first non-blank byte to the end
    /// of its body.
    pub raw: Bytes,
}

impl Packet {
    /// The first header with this name, compared ASCII case-insensitively
    /// (FreeSWITCH's lookups ignore case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why FreeSWITCH drops a client connection while reading a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PacketError {
    /// The packet starts with a NUL byte: FreeSWITCH replies
    /// `-ERR command parse error.` and disconnects.
    Nul,
    /// `Content-Length` negative or above 16 MiB: disconnect without a reply.
    BadContentLength(String),
}

/// Where the header block ends: after the second LF of a run of LFs and
/// CRs, or at FreeSWITCH's 10 MiB cap; `None` until then.
fn head_end(buf: &[u8]) -> Option<usize> {
    let mut lfs = 0;
    for (i, &b) in buf.iter().enumerate() {
        match b {
            b'\n' => {
                lfs += 1;
                if lfs == 2 {
                    return Some(i + 1);
                }
            }
            b'\r' => {}
            _ => lfs = 0,
        }
        if i + 1 >= MAX_CLIENT_HEAD {
            return Some(i + 1);
        }
    }
    None
}

/// The block's lines: each ends at the first CR in the rest of the block
/// if there is one, else at the first LF.
fn lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut cur = text;
    while !cur.is_empty() {
        let cut = cur.find('\r').or_else(|| cur.find('\n'));
        let (line, rest) = match cut {
            Some(i) => (&cur[..i], &cur[i..]),
            None => (cur, ""),
        };
        lines.push(line.trim_end_matches(['\r', '\n']));
        cur = rest.trim_start_matches(['\r', '\n']);
    }
    lines
}

/// `Name: value` lines, names verbatim, spaces after the colon skipped;
/// lines without a colon and empty values vanish.
fn headers(lines: &[&str]) -> Vec<(String, String)> {
    lines
        .iter()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name, value.trim_start_matches(' ')))
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

/// The body length a `Content-Length` header (any case) asks for.
fn body_len(headers: &[(String, String)]) -> Result<usize, PacketError> {
    let Some((_, v)) = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    else {
        return Ok(0);
    };
    let v = v.trim();
    match v.parse::<i64>() {
        Ok(n) if (0..=MAX_CLIENT_BODY).contains(&n) => Ok(n as usize),
        _ => Err(PacketError::BadContentLength(v.to_owned())),
    }
}

/// Reads one packet from `buf`, FreeSWITCH style. Returns `Ok(None)` until a
/// whole packet (and its body) is buffered.
pub fn read_packet(buf: &mut BytesMut) -> Result<Option<Packet>, PacketError> {
    super::codec::skip_blank_lines(buf);
    if buf.is_empty() {
        return Ok(None);
    }
    if buf[0] == 0 {
        return Err(PacketError::Nul);
    }
    let Some(head_end) = head_end(buf) else {
        return Ok(None);
    };
    let head = &buf[..head_end];
    // C string semantics: a NUL ends the text.
    let head_text = match memchr::memchr(0, head) {
        Some(n) => &head[..n],
        None => head,
    };
    let text = String::from_utf8_lossy(head_text).into_owned();
    let lines = lines(&text);
    let command = lines.first().map(|s| s.to_string()).unwrap_or_default();
    let headers = headers(lines.get(1..).unwrap_or_default());
    let body_len = body_len(&headers)?;
    if body_len > 0 && buf.len() < head_end + body_len {
        return Ok(None);
    }
    let raw = buf.split_to(head_end + body_len).freeze();
    let body = (body_len > 0).then(|| raw.slice(head_end..));
    Ok(Some(Packet {
        command,
        headers,
        body,
        raw,
    }))
}
