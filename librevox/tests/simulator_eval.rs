//! The simulator's `eval` API replayed against exchanges recorded from a
//! real FreeSWITCH 1.11.3 (`testdata/live/eval*.transcript.txt`): every
//! reply byte for byte, and the API events of the APIs `eval` runs.
#![cfg(feature = "simulator")]

use std::path::PathBuf;
use std::time::Duration;

use librevox::simulator::{CallSpec, Extension, Simulator, SimulatorConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

const T: Duration = Duration::from_secs(10);

/// The password the vectors were recorded with.
const RECORDED_AUTH: &[u8] = b"auth X\n\n";

#[derive(Debug, PartialEq)]
enum Block {
    Send(Vec<u8>),
    Recv(Vec<u8>),
}

/// The blocks of a `testdata/live` transcript: each after a
/// `### send len=N` / `### recv len=N` line, exactly N bytes (then a newline
/// of the file's own when the block does not end with one).
fn transcript(name: &str) -> Vec<Block> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/live")
        .join(format!("{name}.transcript.txt"));
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let end = i + data[i..].iter().position(|&b| b == b'\n').unwrap();
        let marker = std::str::from_utf8(&data[i..end]).unwrap();
        let (dir, len) = marker
            .strip_prefix("### ")
            .and_then(|m| m.split_once(" len="))
            .unwrap_or_else(|| panic!("{name}: not a marker line: {marker:?}"));
        let len: usize = len.parse().unwrap();
        let bytes = data[end + 1..end + 1 + len].to_vec();
        i = end + 1 + len;
        if !bytes.ends_with(b"\n") {
            i += 1;
        }
        blocks.push(match dir {
            "send" => Block::Send(bytes),
            "recv" => Block::Recv(bytes),
            _ => panic!("{name}: unknown direction {dir:?}"),
        });
    }
    blocks
}

async fn read_exactly(conn: &mut DuplexStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    tokio::time::timeout(T, conn.read_exact(&mut buf))
        .await
        .expect("the simulator answers in time")
        .expect("the simulator's reply");
    buf
}

/// Replays `blocks` (from the greeting on) against the simulator: writes
/// each send block (the recorded `auth` with the simulator's password) and
/// reads as many bytes as the switch answered, which must be the same.
async fn replay(sim: &Simulator, name: &str, blocks: &[Block]) {
    let password = SimulatorConfig::default().password;
    let mut conn = sim.connect_in_memory();
    let mut last_send = String::from("(connect)");
    for block in blocks {
        match block {
            Block::Send(bytes) => {
                let bytes = if bytes.as_slice() == RECORDED_AUTH {
                    format!("auth {password}\n\n").into_bytes()
                } else {
                    bytes.clone()
                };
                last_send = String::from_utf8_lossy(&bytes).trim_end().to_owned();
                conn.write_all(&bytes).await.unwrap();
            }
            Block::Recv(want) => {
                let got = read_exactly(&mut conn, want.len()).await;
                assert_eq!(
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(want),
                    "{name}: the reply to {last_send:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn eval_answers_as_the_switch_does() {
    let sim = Simulator::start(SimulatorConfig::default().in_memory())
        .await
        .unwrap();
    let blocks = transcript("eval");
    assert!(blocks.len() > 50, "the whole vector was read");
    replay(&sim, "eval", &blocks).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn eval_reads_a_channel_s_data_with_uuid() {
    const UUID: &str = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";
    let sim = Simulator::start(
        SimulatorConfig::default()
            .in_memory()
            .extension(Extension::park("park_test")),
    )
    .await
    .unwrap();
    sim.place_call(CallSpec::new("park_test").uuid(UUID));
    sim.wait_event(T, |e| e.is("CHANNEL_PARK") && e.unique_id() == Some(UUID))
        .await
        .unwrap();
    let mut blocks = transcript("eval_channel");
    // The recorded call was `originate {origination_uuid=...}loopback/...`;
    // here the same UUID is placed by the simulator's own API instead.
    let Block::Send(first) = &blocks[3] else {
        panic!("the originate")
    };
    assert!(first.starts_with(b"api originate {origination_uuid=0a1b2c3d"));
    blocks.drain(3..5);
    replay(&sim, "eval_channel", &blocks).await;
    sim.shutdown().await;
}

/// The API events of one connection's subscription, as (command, argument).
fn api_events(raw: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(raw);
    let mut out = Vec::new();
    for event in text.split("Event-Name: API\n").skip(1) {
        let header = |name: &str| {
            event
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap_or("")
                .to_owned()
        };
        out.push((header("API-Command: "), header("API-Command-Argument: ")));
    }
    out
}

#[tokio::test]
async fn the_apis_eval_runs_fire_their_api_events_before_its_own() {
    let sim = Simulator::start(SimulatorConfig::default().in_memory())
        .await
        .unwrap();
    let blocks = transcript("eval_nested_api_events");
    let Some(Block::Recv(recorded)) = blocks.last() else {
        panic!("the events were recorded")
    };
    let want = api_events(recorded);
    assert_eq!(want.len(), 3, "echo, no_such_api, then eval: {want:?}");
    let password = SimulatorConfig::default().password;
    let mut conn = sim.connect_in_memory();
    read_exactly(&mut conn, "Content-Type: auth/request\n\n".len()).await;
    let mut got = Vec::new();
    for send in [
        format!("auth {password}\n\n"),
        "event plain API\n\n".to_owned(),
    ] {
        conn.write_all(send.as_bytes()).await.unwrap();
    }
    let Block::Send(eval) = &blocks[blocks.len() - 2] else {
        panic!("the eval")
    };
    conn.write_all(eval).await.unwrap();
    let mut seen = Vec::new();
    while api_events(&got).len() < want.len() {
        let mut buf = [0; 4096];
        let n = tokio::time::timeout(T, conn.read(&mut buf))
            .await
            .expect("the events arrive in time")
            .unwrap();
        assert!(n > 0, "the simulator closed the connection");
        got.extend_from_slice(&buf[..n]);
        seen = api_events(&got);
    }
    assert_eq!(seen, want);
    sim.shutdown().await;
}
