//! The `librevox` binary, run as a user would, against the simulator.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use librevox::simulator::{Extension, Simulator, SimulatorConfig};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_librevox"));
    for var in [
        "LIBREVOX_HOST",
        "LIBREVOX_PORT",
        "LIBREVOX_PASSWORD",
        "LIBREVOX_USER",
        "LIBREVOX_TIMEOUT",
        "RUST_LOG",
    ] {
        c.env_remove(var);
    }
    c
}

async fn sim() -> Simulator {
    Simulator::start(
        SimulatorConfig {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            ..SimulatorConfig::default()
        }
        .extension(Extension::park("park")),
    )
    .await
    .unwrap()
}

/// Runs the binary without blocking the runtime the simulator lives on.
async fn run(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || bin().args(&args).stdin(Stdio::null()).output().unwrap())
        .await
        .unwrap()
}

fn args(port: u16, rest: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec![rest[0].into(), "--port".into(), port.to_string()];
    v.extend(rest[1..].iter().map(|s| s.to_string()));
    v
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_prints_the_body() {
    let sim = sim().await;
    let port = sim.local_addr().unwrap().port();
    let out = run(args(port, &["api", "status"])).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("UP "),
        "{}",
        text(&out.stdout)
    );
    // And the command really went over ESL.
    let received: Vec<String> = sim
        .connections()
        .iter()
        .flat_map(|c| c.received.iter().map(|p| text(p)))
        .collect();
    assert!(
        received.contains(&"api status\n\n".to_owned()),
        "{received:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_error_exits_non_zero_with_freeswitch_text() {
    let sim = sim().await;
    let port = sim.local_addr().unwrap().port();
    let out = run(args(port, &["api", "no_such_command"])).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        text(&out.stderr).trim(),
        "-ERR no_such_command Command not found!"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_password_exits_non_zero() {
    let sim = sim().await;
    let port = sim.local_addr().unwrap().port();
    let out = run(args(port, &["api", "--password", "wrong", "status"])).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("authentication failed: -ERR invalid"),
        "{}",
        text(&out.stderr)
    );
    // The password also comes from the environment, and never shows.
    let out = tokio::task::spawn_blocking(move || {
        bin()
            .args(["api", "--port", &port.to_string(), "status"])
            .env("LIBREVOX_PASSWORD", "s3cret-wrong")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!text(&out.stderr).contains("s3cret-wrong"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_port_times_out() {
    // Accepts connections and never says anything.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let started = std::time::Instant::now();
    let out = run(args(port, &["api", "--timeout", "0.5", "status"])).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("timed out"),
        "{}",
        text(&out.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    holder.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bgapi_prints_the_job_output() {
    let sim = sim().await;
    let port = sim.local_addr().unwrap().port();
    let out = run(args(port, &["bgapi", "echo", "hello", "world"])).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hello world\n");
    assert!(text(&out.stderr).starts_with("job "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn originate_places_a_call_in_the_simulator() {
    let sim = sim().await;
    let port = sim.local_addr().unwrap().port();
    let out = run(args(port, &["originate", "loopback/park", "&park()"])).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let uuid = text(&out.stdout).trim().to_owned();
    assert_eq!(uuid.len(), 36, "{uuid}");
    sim.wait_for(Duration::from_secs(5), |s| s.channel(&uuid).is_some())
        .await
        .unwrap();
    let out = run(args(port, &["originate", "nowhere/1000", "1000"])).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("-ERR DESTINATION_OUT_OF_ORDER"),
        "{}",
        text(&out.stderr)
    );
}

/// Waits for a child, killing it (and failing) if it outlives `limit`.
fn wait_or_kill(mut child: std::process::Child, limit: Duration) -> Output {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the command did not finish within {limit:?}; stdout: {} stderr: {}",
                text(&out.stdout),
                text(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn events_of_a_call(output: &str) -> Vec<String> {
    let sim = sim().await;
    let port = sim.local_addr().unwrap().port();
    let child = bin()
        .args([
            "events",
            "--port",
            &port.to_string(),
            "--output",
            output,
            "--count",
            "2",
            "CHANNEL_CREATE",
            "CHANNEL_PARK",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Place the call once the subscription is in place.
    sim.wait_for(Duration::from_secs(10), |s| {
        s.connections().iter().any(|c| {
            c.received
                .iter()
                .any(|p| p.starts_with(b"event plain CHANNEL_CREATE CHANNEL_PARK\n"))
                && c.sent.len() >= 3
        })
    })
    .await
    .expect("the CLI subscribed");
    sim.place_call(librevox::simulator::CallSpec::new("park"));
    let out = tokio::task::spawn_blocking(move || wait_or_kill(child, Duration::from_secs(20)))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).lines().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_prints_one_text_line_per_event() {
    let lines = events_of_a_call("text").await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].contains(" CHANNEL_CREATE ["), "{}", lines[0]);
    assert!(lines[1].contains(" CHANNEL_PARK ["), "{}", lines[1]);
    assert!(lines[1].ends_with("CS_EXECUTE"), "{}", lines[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_prints_one_json_object_per_event() {
    let lines = events_of_a_call("json").await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    for line in &lines {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["headers"]["Event-Name"].is_string(), "{line}");
        assert!(v["headers"]["Unique-ID"].is_string(), "{line}");
    }
    // Headers keep FreeSWITCH's order.
    assert!(
        lines[0].starts_with(r#"{"headers":{"Event-Name":"CHANNEL_CREATE","Core-UUID":"#),
        "{}",
        lines[0]
    );
}

fn captures() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/captures");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".raw.txt"))
        .collect();
    files.sort();
    files
}

fn library_frame_count(bytes: &[u8]) -> usize {
    use tokio_util::codec::Decoder;
    let mut codec = librevox::protocol::EslCodec::default();
    let mut buf = bytes::BytesMut::from(bytes);
    let mut n = 0;
    while codec.decode(&mut buf).unwrap().is_some() {
        n += 1;
    }
    n
}

#[test]
fn decode_every_capture() {
    let files = captures();
    assert_eq!(files.len(), 40);
    for file in files {
        let out = bin().arg("decode").arg(&file).output().unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            file.display(),
            text(&out.stderr)
        );
        let lines: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
        let bytes = std::fs::read(&file).unwrap();
        assert_eq!(
            lines.len(),
            library_frame_count(&bytes),
            "{}",
            file.display()
        );
        for line in &lines {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(
                v["content_type"].is_string() || v["event"]["headers"]["Event-Name"].is_string(),
                "{line}"
            );
            assert!(v["offset"].as_u64().unwrap() < bytes.len() as u64);
        }
    }
}

#[test]
fn decode_reads_standard_input_and_types_events() {
    let bytes = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata/captures/inbound_basic.raw.txt"),
    )
    .unwrap();
    let mut child = bin()
        .args(["decode", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 13);
    assert_eq!(lines[0]["content_type"], "auth/request");
    assert_eq!(lines[0]["offset"], 0);
    assert_eq!(lines[1]["offset"], 28);
    let job = lines
        .iter()
        .find(|l| l["content_type"] == "text/event-plain")
        .unwrap();
    assert_eq!(job["event"]["headers"]["Event-Name"], "BACKGROUND_JOB");
    assert_eq!(
        job["event"]["headers"]["FreeSWITCH-IPv6"], "fd00::2",
        "values are decoded"
    );
}

#[test]
fn decode_of_a_truncated_file_fails_with_the_offset() {
    let bytes = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata/captures/inbound_basic.raw.txt"),
    )
    .unwrap();
    // Cut in the middle of the third frame (the 382-byte api/response at 82).
    let cut = 82 + 100;
    let dir = std::env::temp_dir().join(format!("librevox-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("truncated.raw.txt");
    std::fs::write(&path, &bytes[..cut]).unwrap();
    let out = bin().arg("decode").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout).lines().count(),
        2,
        "the frames before the cut are printed"
    );
    assert!(
        text(&out.stderr).contains("malformed frame at byte offset 82"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn every_subcommand_has_help() {
    for sub in ["api", "bgapi", "events", "originate", "sim", "decode"] {
        let out = bin().args([sub, "--help"]).output().unwrap();
        assert!(out.status.success(), "{sub}");
        assert!(text(&out.stdout).contains("Usage: librevox"), "{sub}");
    }
    let out = bin().arg("bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
