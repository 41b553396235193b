//! Fuzz targets for librevox: each takes arbitrary bytes, drives one parser
//! that reads what a peer sends, and panics only when an invariant breaks.
//!
//! The AFL++ entry points in `targets/` are one line each around these
//! functions; `tests/corpus.rs` replays the committed corpus through them
//! without AFL, so every input that once crashed stays a regression test.
//!
//! Besides "no panic", the targets check what can be checked cheaply:
//! decoding is the same however the bytes are split, percent-decoding agrees
//! with the `percent-encoding` crate, a parsed event's headers are readable.

use bytes::{Bytes, BytesMut};
use librevox::protocol::packet::{read_packet, PacketReader};
use librevox::protocol::{EslCodec, Event, Frame, Limits, Message};
use tokio_util::codec::Decoder;

#[path = "../../librevox-cli/src/decode.rs"]
#[allow(dead_code)]
mod cli;

/// A fuzz target: takes any bytes, panics only on a broken invariant.
pub type Target = fn(&[u8]);

/// Every target, by the name its corpus directory and AFL binary have.
pub const TARGETS: &[(&str, Target)] = &[
    ("frame", frame),
    ("event_plain", event_plain),
    ("event_json", event_json),
    ("event_xml", event_xml),
    ("percent", percent),
    ("channel_data", channel_data),
    ("packet", packet),
    ("cli_decode", cli_decode),
];

/// Small limits, so inputs of a few KiB reach the limit checks too.
const LIMITS: Limits = Limits {
    max_header_block: 4096,
    max_body: 8192,
};

/// What a decoder made of a stream: the frames, then how it ended.
#[derive(Debug, PartialEq)]
struct Outcome {
    frames: Vec<Frame>,
    end: Result<(), String>,
}

/// Decodes `data` fed in pieces whose sizes cycle through `splits` (a 0 is
/// taken as 1), then EOF.
fn decode_in_pieces(data: &[u8], splits: &[u8]) -> Outcome {
    let mut codec = EslCodec::new(LIMITS);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() {
        let n = if splits.is_empty() {
            rest.len()
        } else {
            usize::from(splits[i % splits.len()].max(1)).min(rest.len())
        };
        i += 1;
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => {
                    return Outcome {
                        frames,
                        end: Err(e.to_string()),
                    }
                }
            }
        }
    }
    let end = loop {
        match codec.decode_eof(&mut buf) {
            Ok(Some(f)) => frames.push(f),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e.to_string()),
        }
    };
    Outcome { frames, end }
}

/// The frame decoder fed whole and in pieces: the first byte says how many
/// of the following bytes are piece sizes, the rest is the stream. Both
/// feedings must give the same frames and the same end (an error message
/// may differ only in how many bytes had arrived, so errors compare by
/// kind of message up to the first digit).
pub fn frame(data: &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 16).min(rest.len());
    let (splits, stream) = rest.split_at(n);
    let whole = decode_in_pieces(stream, &[]);
    let pieces = decode_in_pieces(stream, splits);
    assert_eq!(whole.frames, pieces.frames, "frames differ by split");
    let kind = |e: &Result<(), String>| {
        e.as_ref()
            .map_err(|m| {
                m.split(|c: char| c.is_ascii_digit())
                    .next()
                    .map(str::to_owned)
            })
            .err()
    };
    assert_eq!(kind(&whole.end), kind(&pieces.end), "ends differ by split");
    for f in whole.frames {
        // Every frame the decoder lets through can be typed (or fails with
        // an error, never a panic), and its headers read back.
        assert!(f.headers().count() == f.header_count());
        let _ = Message::from_frame(f);
    }
}

fn read_event(e: &Event) {
    for (name, value) in e.headers() {
        assert!(e.header(name).is_some(), "header {name:?} not found");
        let _ = value.len();
    }
    let _ = (e.name(), e.unique_id(), e.sequence(), e.body_str());
    let _ = e.header_values("Event-Name");
}

/// `Event::parse_plain`.
pub fn event_plain(data: &[u8]) {
    if let Ok(e) = Event::parse_plain(&Bytes::copy_from_slice(data)) {
        read_event(&e);
    }
}

/// `Event::parse_json`.
pub fn event_json(data: &[u8]) {
    if let Ok(e) = Event::parse_json(&Bytes::copy_from_slice(data)) {
        read_event(&e);
    }
}

/// `Event::parse_xml`.
pub fn event_xml(data: &[u8]) {
    if let Ok(e) = Event::parse_xml(&Bytes::copy_from_slice(data)) {
        read_event(&e);
    }
}

/// Percent-decoding of plain event values: the input (without CR, LF and
/// NUL, which cannot be inside a value) becomes one header's value, and the
/// decoded value must be what `percent_encoding` decodes, read as UTF-8
/// with replacement, minus the leading blanks the parser drops.
pub fn percent(data: &[u8]) {
    let value: Vec<u8> = data
        .iter()
        .copied()
        .filter(|b| !matches!(b, b'\r' | b'\n' | 0))
        .collect();
    let mut payload = b"Event-Name: CUSTOM\nX-Value: ".to_vec();
    payload.extend_from_slice(&value);
    payload.extend_from_slice(b"\n\n");
    let e = Event::parse_plain(&Bytes::from(payload)).expect("a one-header event parses");
    let got = e.header("X-Value").unwrap_or("");
    let trimmed: &[u8] = {
        let start = value
            .iter()
            .position(|&b| b != b' ' && b != b'\t')
            .unwrap_or(value.len());
        &value[start..]
    };
    let want = percent_encoding::percent_decode(trimmed).decode_utf8_lossy();
    assert_eq!(got, want, "decoding {trimmed:?}");
}

/// The outbound `connect` reply: the input as a header block after an
/// `Event-Name` line, typed as a `command/reply` with channel data.
pub fn channel_data(data: &[u8]) {
    let mut bytes = b"Event-Name: CHANNEL_DATA\n".to_vec();
    bytes.extend_from_slice(data);
    bytes.extend_from_slice(b"\nContent-Type: command/reply\n\n");
    let mut codec = EslCodec::new(LIMITS);
    let mut buf = BytesMut::from(&bytes[..]);
    while let Ok(Some(f)) = codec.decode(&mut buf) {
        if let Ok(Message::CommandReply(r)) = Message::from_frame(f) {
            let _ = (r.text(), r.is_ok());
            if let Some(cd) = r.channel_data() {
                read_event(cd);
                let _ = (cd.variable("uuid"), cd.header("Caller-Caller-ID-Number"));
            }
        }
    }
}

/// The simulator's packet reader (FreeSWITCH's `read_packet`, kept as a
/// `PacketReader` across reads), fed in pieces as in [`frame`]: it returns
/// exactly the packets (and the error) that `read_packet` gives on the
/// whole stream at once, and never more bytes than it was given.
pub fn packet(data: &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 16).min(rest.len());
    let (splits, stream) = rest.split_at(n);
    let mut whole = BytesMut::from(stream);
    let mut want = Vec::new();
    let want_err = loop {
        match read_packet(&mut whole) {
            Ok(Some(p)) => want.push(p),
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    let mut reader = PacketReader::new();
    let mut buf = BytesMut::new();
    let (mut got, mut got_err) = (Vec::new(), None);
    let mut fed = 0usize;
    let mut taken = 0usize;
    let mut rest = stream;
    let mut i = 0;
    'feed: while !rest.is_empty() {
        let k = if splits.is_empty() {
            rest.len()
        } else {
            usize::from(splits[i % splits.len()].max(1)).min(rest.len())
        };
        i += 1;
        buf.extend_from_slice(&rest[..k]);
        fed += k;
        rest = &rest[k..];
        loop {
            let before = buf.len();
            match reader.read(&mut buf) {
                Ok(Some(p)) => {
                    taken += before - buf.len();
                    assert!(taken <= fed);
                    got.push(p);
                }
                Ok(None) => {
                    taken += before - buf.len();
                    break;
                }
                Err(e) => {
                    got_err = Some(e);
                    break 'feed;
                }
            }
        }
    }
    assert_eq!(got, want);
    assert_eq!(got_err, want_err);
}

/// The CLI's `decode` (its source, compiled in): one JSON line per frame,
/// each of which must parse back as JSON.
pub fn cli_decode(data: &[u8]) {
    let mut out = Vec::new();
    let _ = cli::write_frames(data, &mut out);
    for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        serde_json::from_slice::<serde_json::Value>(line).expect("decode writes valid JSON");
    }
}
