//! Writes the seed corpus (`fuzz/corpus/<target>/`) from the real
//! FreeSWITCH captures in `testdata/captures/`: one small file per distinct
//! frame shape, event payload, connect reply and client packet.
//!
//! ```sh
//! cargo run --manifest-path fuzz/Cargo.toml --bin make-seeds
//! ```
//!
//! Seeds are kept small (AFL works best on inputs of a few KiB): frames
//! larger than 4 KiB are left out, and at most a few of each content type
//! (or event name) are kept.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use bytes::BytesMut;
use librevox::protocol::packet::read_packet;
use librevox::protocol::{EslCodec, Frame};
use tokio_util::codec::Decoder;

const MAX_SEED: usize = 4096;
const PER_KIND: usize = 3;

struct Corpus {
    dir: PathBuf,
    counts: HashMap<(String, String), usize>,
}

impl Corpus {
    fn add(&mut self, target: &str, kind: &str, bytes: &[u8]) {
        if bytes.len() > MAX_SEED {
            return;
        }
        let n = self
            .counts
            .entry((target.to_owned(), kind.to_owned()))
            .or_default();
        if *n >= PER_KIND {
            return;
        }
        *n += 1;
        let dir = self.dir.join(target);
        fs::create_dir_all(&dir).expect("create the corpus directory");
        let safe: String = kind
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        fs::write(dir.join(format!("{safe}-{n}")), bytes).expect("write a seed");
    }
}

/// The frame's bytes as they were on the wire (header block, blank line,
/// body).
fn raw(frame: &Frame) -> Vec<u8> {
    let mut out = frame.raw_head().to_vec();
    out.extend_from_slice(b"\n\n");
    out.extend_from_slice(frame.body());
    out
}

fn frames(path: &Path) -> Vec<Frame> {
    let bytes = fs::read(path).expect("read a capture");
    let mut codec = EslCodec::default();
    let mut buf = BytesMut::from(&bytes[..]);
    let mut out = Vec::new();
    while let Ok(Some(f)) = codec.decode(&mut buf) {
        out.push(f);
    }
    out
}

/// The client's packets of a transcript: the bytes of every `>>> SENT`
/// block.
fn sent_blocks(path: &Path) -> Vec<Vec<u8>> {
    let bytes = fs::read(path).expect("read a transcript");
    let mut out = Vec::new();
    let mut rest = &bytes[..];
    while let Some(at) = find(rest, b"----- ") {
        rest = &rest[at..];
        let line_end = find(rest, b"\n").unwrap_or(rest.len());
        let line = String::from_utf8_lossy(&rest[..line_end]).into_owned();
        rest = &rest[(line_end + 1).min(rest.len())..];
        let len = line
            .split("len=")
            .nth(1)
            .and_then(|s| s.trim_end_matches([' ', '-']).parse::<usize>().ok());
        let Some(len) = len else { continue };
        let len = len.min(rest.len());
        if line.contains(">>> SENT") {
            out.push(rest[..len].to_vec());
        }
        rest = &rest[len..];
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let captures = root.join("../testdata/captures");
    let mut corpus = Corpus {
        dir: root.join("corpus"),
        counts: HashMap::new(),
    };
    let mut names: Vec<PathBuf> = fs::read_dir(&captures)
        .expect("testdata/captures")
        .map(|e| e.expect("a directory entry").path())
        .collect();
    names.sort();
    for path in &names {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".raw.txt") {
            for f in frames(path) {
                let ct = f.content_type().unwrap_or("none").to_owned();
                let bytes = raw(&f);
                // `frame`: a split count byte, no splits, then the frame.
                let mut seed = vec![0u8];
                seed.extend_from_slice(&bytes);
                corpus.add("frame", &ct, &seed);
                corpus.add("cli_decode", &ct, &bytes);
                let event = f.body();
                match ct.as_str() {
                    "text/event-plain" => {
                        let kind = event_name(event, b"Event-Name: ");
                        corpus.add("event_plain", &kind, event);
                        corpus.add("percent", &kind, first_encoded_value(event));
                    }
                    "text/event-json" => {
                        let kind = event_name(event, b"\"Event-Name\":\"");
                        corpus.add("event_json", &kind, event);
                    }
                    "text/event-xml" => {
                        let kind = event_name(event, b"<Event-Name>");
                        corpus.add("event_xml", &kind, event);
                    }
                    _ => {}
                }
                if f.header("Event-Name").is_some() {
                    // The connect reply, without the line the target adds.
                    let head = f.raw_head();
                    let start = find(head, b"\n").map_or(head.len(), |i| i + 1);
                    corpus.add("channel_data", &name, &head[start..]);
                }
            }
        }
        if name.ends_with(".transcript.txt") {
            for block in sent_blocks(path) {
                let mut buf = BytesMut::from(&block[..]);
                let command = match read_packet(&mut buf) {
                    Ok(Some(p)) => p.command.split(' ').next().unwrap_or("").to_owned(),
                    _ => "other".to_owned(),
                };
                let mut seed = vec![0u8];
                seed.extend_from_slice(&block);
                corpus.add("packet", &command, &seed);
            }
        }
    }
    let mut counts: Vec<_> = corpus.counts.iter().collect();
    counts.sort();
    let mut per_target: HashMap<&str, usize> = HashMap::new();
    for ((target, _), n) in counts {
        *per_target.entry(target.as_str()).or_default() += n;
    }
    let mut totals: Vec<_> = per_target.into_iter().collect();
    totals.sort();
    for (target, n) in totals {
        println!("{target}: {n} seeds");
    }
}

fn event_name(payload: &[u8], key: &[u8]) -> String {
    find(payload, key)
        .map(|at| {
            let rest = &payload[at + key.len()..];
            let end = rest
                .iter()
                .position(|&b| matches!(b, b'\n' | b'"' | b'<'))
                .unwrap_or(rest.len());
            String::from_utf8_lossy(&rest[..end]).into_owned()
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The value of the first header line with a `%` in it (an encoded value).
fn first_encoded_value(payload: &[u8]) -> &[u8] {
    payload
        .split(|&b| b == b'\n')
        .find(|line| line.contains(&b'%'))
        .and_then(|line| find(line, b": ").map(|i| &line[i + 2..]))
        .unwrap_or(b"")
}
