//! Shared helpers for the protocol tests: reading the captured test vectors.
#![allow(dead_code)]

pub mod peer;
pub mod scrape;

use std::path::PathBuf;

/// The directory holding the captures.
pub fn captures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/captures")
}

/// Every `*.raw.txt` capture, sorted by name: (scenario name, bytes).
pub fn raw_captures() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(captures_dir()).expect("captures directory") {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".raw.txt") {
            out.push((stem.to_owned(), std::fs::read(&path).unwrap()));
        }
    }
    out.sort();
    assert_eq!(out.len(), 40, "expected the 40 captured scenarios");
    out
}

/// One capture's raw bytes.
pub fn raw(name: &str) -> Vec<u8> {
    std::fs::read(captures_dir().join(format!("{name}.raw.txt"))).unwrap()
}

/// Direction of a transcript block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Recv,
    Sent,
}

/// The blocks of a transcript, in order.
pub fn transcript(name: &str) -> Vec<(Dir, Vec<u8>)> {
    let data = std::fs::read(captures_dir().join(format!("{name}.transcript.txt"))).unwrap();
    let mut i = data.iter().position(|&b| b == b'\n').unwrap() + 1;
    let mut blocks = Vec::new();
    const NO_NL: &[u8] = b"\n[no trailing newline]\n";
    while i < data.len() {
        if data[i..].starts_with(NO_NL) {
            i += NO_NL.len();
            continue;
        }
        if data[i..].starts_with(b"----- END -----") {
            break;
        }
        let line_end = i + data[i..].iter().position(|&b| b == b'\n').unwrap();
        let marker = std::str::from_utf8(&data[i..line_end]).unwrap();
        let dir = if marker.starts_with("----- <<< RECV") {
            Dir::Recv
        } else if marker.starts_with("----- >>> SENT") {
            Dir::Sent
        } else {
            panic!("{name}: unexpected marker line {marker:?}");
        };
        let len: usize = marker
            .rsplit("len=")
            .next()
            .unwrap()
            .trim_end_matches(" -----")
            .parse()
            .unwrap();
        let start = line_end + 1;
        blocks.push((dir, data[start..start + len].to_vec()));
        i = start + len;
    }
    blocks
}

/// Every scenario name that has a transcript.
pub fn scenario_names() -> Vec<String> {
    raw_captures().into_iter().map(|(n, _)| n).collect()
}

/// (capture name, frame count, sorted (content type, count) pairs).
pub type FrameCounts = (String, usize, Vec<(String, usize)>);

/// Expected (frames, content type counts) per capture, from FRAMES.md.
pub fn expected_frames() -> Vec<FrameCounts> {
    let text = std::fs::read_to_string(captures_dir().join("FRAMES.md")).unwrap();
    let mut out = Vec::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        if cols.len() < 5 || !cols[1].ends_with(".raw.txt") {
            continue;
        }
        let name = cols[1].trim_end_matches(".raw.txt").to_owned();
        let frames: usize = cols[2].parse().unwrap();
        let mut types = Vec::new();
        for part in cols[4].split(", ") {
            let (ct, n) = part.rsplit_once('×').unwrap();
            types.push((ct.trim().to_owned(), n.trim().parse().unwrap()));
        }
        types.sort();
        out.push((name, frames, types));
    }
    out
}
