//! `librevox decode`: raw ESL bytes → one JSON object per frame.

use std::io::{Read, Write};
use std::process::ExitCode;

use bytes::BytesMut;
use librevox::protocol::event_json::{EventJson, HeadersJson};
use librevox::protocol::{EslCodec, Event, Frame, Message};
use tokio_util::codec::Decoder;

/// One frame: where it starts, its type, its own header block (values as
/// sent, a repeated name as an array), the event it carries (librevox's
/// event JSON) and its body as text.
#[derive(serde::Serialize)]
struct FrameOut<'a> {
    offset: usize,
    content_type: Option<&'a str>,
    headers: HeadersJson<'a>,
    event: Option<EventJson<'a>>,
    body: std::borrow::Cow<'a, str>,
}

fn frame_json(offset: usize, frame: &Frame) -> Result<String, librevox::Error> {
    let message = Message::from_frame(frame.clone())?;
    let event = match &message {
        Message::Event(e) => Some(EventJson(e)),
        Message::CommandReply(r) => r.channel_data().map(EventJson),
        _ => None,
    };
    let mut head = Event::empty();
    for (n, v) in frame.headers() {
        head.push_header(n, v);
    }
    let out = FrameOut {
        offset,
        content_type: frame.content_type(),
        headers: HeadersJson(&head),
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
    let stdout = std::io::stdout();
    match write_frames(&bytes, &mut stdout.lock()) {
        Ok(frames) => {
            eprintln!("{frames} frames, {} bytes", bytes.len());
            ExitCode::SUCCESS
        }
        Err(Failure::Write) => ExitCode::from(1),
        Err(Failure::Malformed { offset, error }) => {
            eprintln!("librevox decode: malformed frame at byte offset {offset}: {error}");
            ExitCode::from(1)
        }
    }
}

/// Why [`write_frames`] stopped.
pub(crate) enum Failure {
    /// The output could not be written (a closed pipe).
    Write,
    /// The frame starting at `offset` is not valid ESL.
    Malformed {
        offset: usize,
        error: librevox::Error,
    },
}

/// Writes one JSON line per frame of `bytes` to `out` and returns how many.
/// Kept apart from the file handling so the fuzz target
/// (`fuzz/src/lib.rs`) runs exactly this code.
pub(crate) fn write_frames(bytes: &[u8], out: &mut impl Write) -> Result<usize, Failure> {
    let total = bytes.len();
    let mut buf = BytesMut::from(bytes);
    let mut codec = EslCodec::default();
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
        let malformed = |error| Failure::Malformed {
            offset: frame_start,
            error,
        };
        match step {
            Ok(Some(frame)) => {
                let line = frame_json(frame_start, &frame).map_err(malformed)?;
                writeln!(out, "{line}").map_err(|_| Failure::Write)?;
                frames += 1;
            }
            Ok(None) => return Ok(frames),
            Err(e) => return Err(malformed(e)),
        }
    }
}
