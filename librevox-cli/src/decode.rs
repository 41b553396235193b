//! `librevox decode`: raw ESL bytes → one JSON object per frame.

use std::io::{Read, Write};
use std::process::ExitCode;

use bytes::BytesMut;
use librevox::protocol::{EslCodec, Event, Frame, Message};
use serde::ser::{SerializeMap, Serializer};
use tokio_util::codec::Decoder;

/// Headers as a JSON object in their original order.
pub(crate) struct Ordered<'a>(pub(crate) Vec<(&'a str, &'a str)>);

impl serde::Serialize for Ordered<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// An event as JSON: `{"headers": {...in order...}, "body": ...}`.
#[derive(serde::Serialize)]
pub(crate) struct EventOut<'a> {
    headers: Ordered<'a>,
    body: Option<std::borrow::Cow<'a, str>>,
}

impl<'a> EventOut<'a> {
    pub(crate) fn new(e: &'a Event) -> Self {
        EventOut {
            headers: Ordered(e.headers().collect()),
            body: e.body_str(),
        }
    }
}

#[derive(serde::Serialize)]
struct FrameOut<'a> {
    offset: usize,
    content_type: Option<&'a str>,
    headers: Ordered<'a>,
    event: Option<EventOut<'a>>,
    body: std::borrow::Cow<'a, str>,
}

fn frame_json(offset: usize, frame: &Frame) -> Result<String, librevox::Error> {
    let message = Message::from_frame(frame.clone())?;
    let event = match &message {
        Message::Event(e) => Some(EventOut::new(e)),
        Message::CommandReply(r) => r.channel_data().map(EventOut::new),
        _ => None,
    };
    let out = FrameOut {
        offset,
        content_type: frame.content_type(),
        headers: Ordered(frame.headers().collect()),
        event,
        body: String::from_utf8_lossy(frame.body()),
    };
    serde_json::to_string(&out).map_err(|e| librevox::Error::Protocol(e.to_string()))
}

pub(crate) fn run(file: &str) -> ExitCode {
    let mut bytes = Vec::new();
    let read = if file == "-" {
        std::io::stdin().read_to_end(&mut bytes)
    } else {
        std::fs::File::open(file).and_then(|mut f| f.read_to_end(&mut bytes))
    };
    if let Err(e) = read {
        eprintln!("librevox decode: cannot read {file}: {e}");
        return ExitCode::from(1);
    }
    let total = bytes.len();
    let mut buf = BytesMut::from(&bytes[..]);
    let mut codec = EslCodec::default();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut frames = 0usize;
    // Where the frame being decoded starts: the end of the previous one,
    // after any blank lines.
    let mut frame_start = 0usize;
    loop {
        let skipped = buf
            .iter()
            .position(|&b| b != b'\n' && b != b'\r')
            .unwrap_or(buf.len());
        if codec.is_idle() {
            frame_start = total - buf.len() + skipped;
        }
        let step = match codec.decode(&mut buf) {
            Ok(Some(f)) => Ok(Some(f)),
            Ok(None) => codec.decode_eof(&mut buf),
            Err(e) => Err(e),
        };
        match step {
            Ok(Some(frame)) => match frame_json(frame_start, &frame) {
                Ok(line) => {
                    if writeln!(out, "{line}").is_err() {
                        return ExitCode::from(1);
                    }
                    frames += 1;
                }
                Err(e) => {
                    eprintln!("librevox decode: malformed frame at byte offset {frame_start}: {e}");
                    return ExitCode::from(1);
                }
            },
            Ok(None) => break,
            Err(e) => {
                eprintln!("librevox decode: malformed frame at byte offset {frame_start}: {e}");
                return ExitCode::from(1);
            }
        }
    }
    eprintln!("{frames} frames, {total} bytes");
    ExitCode::SUCCESS
}
