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
///
/// It starts afresh on every call: a connection that reads as bytes arrive
/// keeps a [`PacketReader`], which remembers how far it has looked.
pub fn read_packet(buf: &mut BytesMut) -> Result<Option<Packet>, PacketError> {
    PacketReader::new().read(buf)
}

/// [`read_packet`] for a stream: between calls it keeps how far it has
/// scanned for the end of the header block, and the parsed block while the
/// body is still arriving, so a peer sending a packet in small pieces
/// costs work linear in its size (each call looks only at the new bytes).
///
/// Give it one buffer that is only appended to between calls and that
/// nothing else consumes from.
///
/// ```
/// use bytes::BytesMut;
/// use librevox::protocol::packet::PacketReader;
///
/// let mut reader = PacketReader::new();
/// let mut buf = BytesMut::new();
/// for piece in [&b"api sta"[..], b"tus\n", b"\n"] {
///     buf.extend_from_slice(piece);
///     if let Some(packet) = reader.read(&mut buf).unwrap() {
///         assert_eq!(packet.command, "api status");
///     }
/// }
/// assert!(buf.is_empty());
/// ```
#[derive(Debug, Default)]
pub struct PacketReader {
    /// Bytes at the front of the buffer already scanned for the end of
    /// the header block (0: none, blank lines not yet skipped).
    scanned: usize,
    /// The LFs at the end of the scanned bytes (CRs between them ignored).
    lfs: u8,
    /// The header block of the packet whose body is still arriving.
    pending: Option<Head>,
    /// Bytes looked at by the header scan, for the tests' bounded-work
    /// checks (test builds only).
    #[cfg(test)]
    examined: u64,
    /// Header blocks parsed, for the same.
    #[cfg(test)]
    parses: u64,
}

/// A parsed header block: where it ends and what it says.
#[derive(Debug)]
struct Head {
    end: usize,
    command: String,
    headers: Vec<(String, String)>,
    body_len: usize,
}

impl PacketReader {
    /// A reader at the start of a stream.
    pub fn new() -> PacketReader {
        PacketReader::default()
    }

    /// Reads one packet from the front of `buf`; `Ok(None)` until a whole
    /// packet (and its body) is buffered. After an error the stream is
    /// not readable any more (FreeSWITCH drops the connection).
    pub fn read(&mut self, buf: &mut BytesMut) -> Result<Option<Packet>, PacketError> {
        let head = match self.pending.take() {
            Some(head) => head,
            None => {
                if self.scanned == 0 {
                    super::codec::skip_blank_lines(buf);
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    if buf[0] == 0 {
                        return Err(PacketError::Nul);
                    }
                }
                let Some(end) = self.head_end(buf) else {
                    return Ok(None);
                };
                #[cfg(test)]
                {
                    self.parses += 1;
                }
                parse_head(&buf[..end])?
            }
        };
        if head.body_len > 0 && buf.len() < head.end + head.body_len {
            self.pending = Some(head);
            return Ok(None);
        }
        let raw = buf.split_to(head.end + head.body_len).freeze();
        let body = (head.body_len > 0).then(|| raw.slice(head.end..));
        Ok(Some(Packet {
            command: head.command,
            headers: head.headers,
            body,
            raw,
        }))
    }

    /// Where the header block ends: after the second LF of a run of LFs
    /// and CRs, or at FreeSWITCH's 10 MiB cap; `None` until then. Scans
    /// from where the last call stopped; resets once it finds the end.
    fn head_end(&mut self, buf: &[u8]) -> Option<usize> {
        let from = self.scanned;
        for (i, &b) in buf.iter().enumerate().skip(from) {
            #[cfg(test)]
            {
                self.examined += 1;
            }
            match b {
                b'\n' => {
                    self.lfs += 1;
                    if self.lfs == 2 {
                        return Some(self.found(i + 1));
                    }
                }
                b'\r' => {}
                _ => self.lfs = 0,
            }
            if i + 1 >= MAX_CLIENT_HEAD {
                return Some(self.found(i + 1));
            }
        }
        self.scanned = buf.len();
        None
    }

    /// The block ends at `end`: the next packet's scan starts afresh.
    fn found(&mut self, end: usize) -> usize {
        self.scanned = 0;
        self.lfs = 0;
        end
    }
}

/// The command line, headers and body length of a whole header block.
fn parse_head(head: &[u8]) -> Result<Head, PacketError> {
    // C string semantics: a NUL ends the text.
    let head_text = match memchr::memchr(0, head) {
        Some(n) => &head[..n],
        None => head,
    };
    let text = String::from_utf8_lossy(head_text);
    let lines = lines(&text);
    let command = lines.first().map(|s| s.to_string()).unwrap_or_default();
    let headers = headers(lines.get(1..).unwrap_or_default());
    let body_len = body_len(&headers)?;
    Ok(Head {
        end: head.len(),
        command,
        headers,
        body_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `stream` to one reader `piece` bytes at a time; the packets.
    fn fed_in_pieces(reader: &mut PacketReader, stream: &[u8], piece: usize) -> Vec<Packet> {
        let (mut buf, mut out) = (BytesMut::new(), Vec::new());
        for chunk in stream.chunks(piece) {
            buf.extend_from_slice(chunk);
            while let Some(p) = reader.read(&mut buf).unwrap() {
                out.push(p);
            }
        }
        out
    }

    // fuzz/corpus/packet/slow-27k-1-byte-pieces (a fuzzing finding): 27.5 KB of a header block that
    // never ends, in 1-byte pieces. Rescanning from the start on every
    // call looked at ~3.8e8 bytes (2-3 s); each byte is looked at once.
    #[test]
    fn an_unfinished_header_block_in_small_pieces_is_scanned_once() {
        let finding = include_bytes!("../../../fuzz/corpus/packet/slow-27k-1-byte-pieces");
        let stream = &finding[2..];
        let mut reader = PacketReader::new();
        assert!(fed_in_pieces(&mut reader, stream, 1).is_empty());
        assert_eq!(reader.examined, stream.len() as u64);
        assert_eq!(reader.parses, 0);
    }

    // A 30 KB body after its header block, in 1-byte pieces: the block is
    // parsed once, not again for every piece of the body.
    #[test]
    fn a_body_arriving_in_small_pieces_does_not_reparse_its_header_block() {
        let body = vec![b'x'; 30_000];
        let mut stream = format!(
            "sendmsg\ncall-command: execute\ncontent-length: {}\n\n",
            body.len()
        )
        .into_bytes();
        let head_len = stream.len();
        stream.extend_from_slice(&body);
        stream.extend_from_slice(b"\n\napi status\n\n");
        let mut reader = PacketReader::new();
        let packets = fed_in_pieces(&mut reader, &stream, 1);
        let commands: Vec<&str> = packets.iter().map(|p| p.command.as_str()).collect();
        assert_eq!(commands, ["sendmsg", "api status"]);
        assert_eq!(packets[0].body.as_deref(), Some(&body[..]));
        assert_eq!(reader.parses, 2);
        assert_eq!(reader.examined, (head_len + "api status\n\n".len()) as u64);
    }

    // In any pieces, the reader gives what `read_packet` gives on the
    // whole stream.
    #[test]
    fn pieces_read_as_the_whole() {
        let stream: &[u8] =
            b"\r\nauth x\n\nevent plain ALL\r\n\r\nsendmsg\ncontent-length: 3\n\nabcexit\n\n";
        let mut whole = BytesMut::from(stream);
        let mut want = Vec::new();
        while let Some(p) = read_packet(&mut whole).unwrap() {
            want.push(p);
        }
        assert_eq!(want.len(), 4);
        for piece in 1..=stream.len() {
            assert_eq!(
                fed_in_pieces(&mut PacketReader::new(), stream, piece),
                want,
                "{piece}"
            );
        }
    }
}
