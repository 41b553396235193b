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
        "LIBREVOX_JOB_TIMEOUT",
        "LIBREVOX_PROFILE",
        "LIBREVOX_CONFIG",
        "RUST_LOG",
    ] {
        c.env_remove(var);
    }
    // Never the real home's config or history.
    c.env(
        "XDG_CONFIG_HOME",
        std::env::temp_dir().join("librevox-cli-tests-no-config"),
    )
    .env(
        "XDG_DATA_HOME",
        std::env::temp_dir().join("librevox-cli-tests-no-data"),
    );
    c
}

async fn sim() -> Simulator {
    Simulator::start(
        SimulatorConfig {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            ..SimulatorConfig::default()
        }
        .extension(Extension::new("park", &[("answer", ""), ("park", "")])),
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
        text(&out.stderr).contains("no answer within 0.5 s (see --timeout)"),
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
        text(&out.stderr).contains("-ERR CHAN_NOT_IMPLEMENTED"),
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

/// Waits (10 s at most) until a client of `sim` has sent `command` (its
/// subscription) and been answered: the greeting, the `auth` reply and the
/// subscription's reply are out.
async fn wait_subscribed(sim: &Simulator, command: &'static [u8]) {
    sim.wait_for(Duration::from_secs(10), |s| {
        s.connections()
            .iter()
            .any(|c| c.received.iter().any(|p| p.starts_with(command)) && c.sent.len() >= 3)
    })
    .await
    .expect("the CLI subscribed");
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
    wait_subscribed(&sim, b"event plain CHANNEL_CREATE CHANNEL_PARK\n").await;
    sim.place_call(librevox::simulator::CallSpec::new("park"));
    let out = tokio::task::spawn_blocking(move || wait_or_kill(child, Duration::from_secs(20)))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).lines().map(str::to_owned).collect()
}

/// `librevox events` with the given arguments, which must exit by itself.
async fn events_exiting(sim: &Simulator, rest: &[&str]) -> Output {
    let port = sim.local_addr().unwrap().port().to_string();
    let mut args = vec!["events", "--port", &port];
    args.extend_from_slice(rest);
    let child = bin()
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::task::spawn_blocking(move || wait_or_kill(child, Duration::from_secs(20)))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stops_with_the_message_when_its_subscription_cannot_work() {
    let sim = sim().await;
    // FreeSWITCH refuses it: exit 1 with its reply, after one attempt.
    let out = events_exiting(&sim, &["NO_SUCH_EVENT"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        "librevox: command `event plain NO_SUCH_EVENT` failed: -ERR no keywords supplied\n"
    );
    assert_eq!(sim.connections().len(), 1);
    // A filter value that cannot be sent: refused before connecting.
    let out = events_exiting(&sim, &["--filter", "Caller-Context=a\nb"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).starts_with(
            "librevox: invalid command: filter \"Caller-Context\" has a value with a line break"
        ),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(sim.connections().len(), 1);
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
    for sub in [
        "api",
        "bgapi",
        "events",
        "originate",
        "sim",
        "decode",
        "console",
        "completions",
        "man",
    ] {
        let out = bin().args([sub, "--help"]).output().unwrap();
        assert!(out.status.success(), "{sub}");
        assert!(text(&out.stdout).contains("Usage: librevox"), "{sub}");
    }
    let out = bin().arg("bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// A scratch directory for one test (config and data homes inside it).
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "librevox-cli-{}-{name}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(dir.join("config/librevox")).unwrap();
    dir
}

/// The binary with its config and data directories in `home`.
fn bin_in(home: &std::path::Path) -> Command {
    let mut c = bin();
    c.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env_remove("LIBREVOX_PROFILE")
        .env_remove("LIBREVOX_CONFIG")
        .env_remove("LIBREVOX_JOB_TIMEOUT")
        .stdin(Stdio::null());
    c
}

async fn output(mut c: Command) -> Output {
    tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flag_after_the_command_is_refused_and_nothing_is_sent() {
    let sim = sim().await;
    let port = sim.local_addr().unwrap().port().to_string();
    let out = run(vec![
        "--port".into(),
        port.clone(),
        "api".into(),
        "status".into(),
        "--timeout".into(),
        "3".into(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("`--timeout` comes after the command")
            && err.contains("librevox api --timeout 3 status")
            && err.contains("librevox api -- status --timeout 3"),
        "{err}"
    );
    assert!(sim.connections().is_empty(), "nothing may reach the switch");
    // With `--`, the text goes through as written.
    let out = run(vec![
        "--port".into(),
        port,
        "api".into(),
        "--".into(),
        "echo".into(),
        "--not-a-flag".into(),
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "--not-a-flag\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bgapi_waits_for_its_job_with_the_job_timeout() {
    let sim = sim().await;
    let port = sim.local_addr().unwrap().port();
    // The job outlasts the reply timeout, and is still waited for.
    let out = run(args(port, &["bgapi", "--timeout", "0.5", "msleep", "1500"])).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "+OK\n");
    // Its own flag bounds it.
    let started = std::time::Instant::now();
    let out = run(args(
        port,
        &["bgapi", "--job-timeout", "0.5", "msleep", "3000"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("timed out after 500ms"),
        "{}",
        text(&out.stderr)
    );
    assert!(started.elapsed() < Duration::from_millis(2500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_names_the_address() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    for sub in [&["api", "status"][..], &["-x", "status"][..]] {
        let mut a = vec!["--port".to_owned(), port.to_string()];
        a.extend(sub.iter().map(|s| s.to_string()));
        let out = run(a).await;
        assert_eq!(out.status.code(), Some(1));
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!(
                "cannot connect to 127.0.0.1:{port}: connection refused"
            )),
            "{err}"
        );
    }
}

/// A duplicate key anywhere in a JSON text, found while parsing it.
fn duplicate_key(json: &str) -> Option<String> {
    use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
            let mut seen = std::collections::HashSet::new();
            let mut dup = None;
            while let Some(k) = m.next_key::<String>()? {
                let inner = m.next_value::<Any>()?.0;
                if !seen.insert(k.clone()) {
                    dup.get_or_insert(k);
                }
                if dup.is_none() {
                    dup = inner;
                }
            }
            Ok(dup)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
            let mut dup = None;
            while let Some(Any(d)) = s.next_element::<Any>()? {
                dup = dup.or(d);
            }
            Ok(dup)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    struct Any(Option<String>);
    impl<'de> serde::Deserialize<'de> for Any {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(V).map(Any)
        }
    }
    let mut de = serde_json::Deserializer::from_str(json);
    de.deserialize_any(V).unwrap()
}

#[test]
fn decode_prints_repeated_headers_as_arrays_and_never_a_key_twice() {
    let mut folded = 0;
    for file in captures() {
        let out = bin().arg("decode").arg(&file).output().unwrap();
        assert!(out.status.success());
        for line in text(&out.stdout).lines() {
            assert_eq!(duplicate_key(line), None, "{}: {line}", file.display());
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if let Some(h) = v["event"]["headers"].as_object() {
                if h.values().any(|x| x.is_array()) {
                    folded += 1;
                }
            }
        }
    }
    // The shared captures hold 36 frames whose event repeats a header.
    assert_eq!(folded, 36);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_json_folds_repeated_headers_and_help_names_the_body_field() {
    let sim = sim().await;
    let port = sim.local_addr().unwrap().port();
    let child = bin()
        .args([
            "events",
            "--port",
            &port.to_string(),
            "--output",
            "json",
            "--count",
            "1",
            "CUSTOM",
            "x::dup",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_subscribed(&sim, b"event plain CUSTOM x::dup\n").await;
    sim.fire_event(
        "CUSTOM",
        &[
            ("Event-Subclass", "x::dup"),
            ("X-Dup", "one"),
            ("X-Dup", "two"),
        ],
        Some("the body"),
    );
    let out = tokio::task::spawn_blocking(move || wait_or_kill(child, Duration::from_secs(20)))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = text(&out.stdout);
    assert_eq!(duplicate_key(line.trim()), None, "{line}");
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(v["headers"]["X-Dup"], serde_json::json!(["one", "two"]));
    assert_eq!(v["body"], "the body");
    let help = text(&bin().args(["events", "--help"]).output().unwrap().stdout);
    assert!(help.contains("`body`") && !help.contains("_body"), "{help}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_runs_console_lines_and_exits_like_fs_cli() {
    let sim = sim().await;
    let port = sim.local_addr().unwrap().port().to_string();
    let home = scratch("execute");
    let mut c = bin_in(&home);
    c.args(["--port", &port, "-x", "echo one", "-x", "/bgapi echo two"]);
    let out = output(c).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "one\ntwo\n");
    let mut c = bin_in(&home);
    c.args(["--port", &port, "-x", "no_such_command"]);
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("-ERR no_such_command Command not found!"));
    // No history is written for -x, and none was asked for.
    assert!(!home.join("data/librevox/history").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_on_standard_input_run_as_a_script() {
    let sim = sim().await;
    let port = sim.local_addr().unwrap().port().to_string();
    let home = scratch("script");
    let mut child = bin_in(&home)
        .args(["--port", &port])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"echo a\n\n/bgapi echo ignored-wait\necho b\n/exit\necho never\n")
        .unwrap();
    let out = tokio::task::spawn_blocking(move || wait_or_kill(child, Duration::from_secs(20)))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "a\nignored-wait\nb\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_choose_the_switch_on_every_subcommand() {
    let sim = sim().await;
    let port = sim.local_addr().unwrap().port();
    let home = scratch("profiles");
    let file = home.join("config/librevox/config.toml");
    std::fs::write(
        &file,
        format!(
            "default = \"sim\"\n[profiles.sim]\nport = {port}\npassword = \"ClueCon\"\n\
             [profiles.nowhere]\nport = 1\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec!["-p", "sim", "api", "echo", "x"],
        vec!["api", "-p", "sim", "echo", "x"],
        vec!["--profile", "sim", "bgapi", "echo", "x"],
        vec!["-p", "sim", "-x", "echo x"],
        vec!["api", "echo", "x"], // the default profile
    ];
    for case in cases {
        let mut c = bin_in(&home);
        c.args(&case);
        let out = output(c).await;
        assert!(out.status.success(), "{case:?}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "x\n", "{case:?}");
        assert!(!text(&out.stderr).contains("warning"), "{case:?}");
    }
    // A named profile beats the environment; flags beat the profile.
    let mut c = bin_in(&home);
    c.env("LIBREVOX_PORT", "1")
        .args(["-p", "sim", "api", "echo", "y"]);
    assert_eq!(text(&output(c).await.stdout), "y\n");
    let mut c = bin_in(&home);
    c.args([
        "-p",
        "nowhere",
        "--port",
        &port.to_string(),
        "api",
        "echo",
        "z",
    ]);
    assert_eq!(text(&output(c).await.stdout), "z\n");
    // The environment beats the default profile.
    let mut c = bin_in(&home);
    c.env("LIBREVOX_PORT", "1").args(["api", "status"]);
    let out = output(c).await;
    assert!(
        text(&out.stderr).contains("127.0.0.1:1"),
        "{}",
        text(&out.stderr)
    );
    // An unknown profile is a usage error naming the ones there are.
    let mut c = bin_in(&home);
    c.args(["-p", "fs9", "api", "status"]);
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no profile `fs9` in")
            && text(&out.stderr).contains("it has nowhere, sim"),
        "{}",
        text(&out.stderr)
    );
    // A password every user can read is pointed out.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut c = bin_in(&home);
    c.args(["-p", "sim", "api", "echo", "x"]);
    let out = output(c).await;
    assert!(out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("warning:")
            && err.contains("every user can read it (mode 644)")
            && err.contains("chmod 600"),
        "{err}"
    );
}

#[test]
fn completions_and_the_manual_page_are_generated() {
    // Each shell spells the long flag its own way.
    for (shell, mark, profile) in [
        ("bash", "complete -F _librevox", "--profile"),
        ("zsh", "#compdef librevox", "--profile"),
        ("fish", "complete -c librevox", "-l profile"),
    ] {
        let out = bin().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let script = text(&out.stdout);
        assert!(script.contains(mark), "{shell}: {script}");
        assert!(
            script.contains(profile) && script.contains("originate"),
            "{shell}"
        );
    }
    let out = bin().arg("man").output().unwrap();
    assert!(out.status.success());
    let page = text(&out.stdout);
    assert!(
        page.starts_with(".ie \\n(.g .ds Aq \\(aq") || page.contains(".TH librevox"),
        "{page}"
    );
    assert!(
        page.contains(".SH NAME") && page.contains("\\-\\-profile"),
        "{page}"
    );
}

/// A blocking HTTP/1.0 GET of the exporter: (status, body).
fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let status = buf[9..12].parse().unwrap();
    (status, buf.split_once("\r\n\r\n").unwrap().1.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_serves_metrics_of_its_connection() {
    let sim = sim().await;
    let port = sim.local_addr().unwrap().port();
    let mut child = bin()
        .args([
            "events",
            "--port",
            &port.to_string(),
            "--metrics",
            "127.0.0.1:0",
            "--count",
            "1",
            "CHANNEL_CREATE",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = stderr_lines(&mut child);
    let addr = line_after(&lines, "librevox events: metrics on http://");
    let addr = addr.split('/').next().unwrap().to_owned();
    wait_subscribed(&sim, b"event plain CHANNEL_CREATE\n").await;
    // The subscription's reply is on its way; the listener counts the
    // connection once it has read it.
    let switch = format!("librevox_connects_total{{switch=\"127.0.0.1:{port}\"}} 1");
    scrape_until(
        &addr,
        &[
            &switch,
            r#"librevox_commands_total{kind="auth"} 1"#,
            r#"librevox_connections{role="inbound"} 1"#,
        ],
    )
    .await;
    let (status, body) = tokio::task::spawn_blocking(move || http_get(&addr, "/ready"))
        .await
        .unwrap();
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"not_ready":[],"ready":true}"#)
    );
    sim.place_call(librevox::simulator::CallSpec::new("park"));
    let out = tokio::task::spawn_blocking(move || wait_or_kill(child, Duration::from_secs(20)))
        .await
        .unwrap();
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).lines().count(), 1);
}

/// `librevox bridge --check`: what the bridge would run with, from the file,
/// the environment and the flags (the flag beats the variable beats the file).
#[test]
fn bridge_settings_come_from_flags_then_environment_then_the_file() {
    let dir = std::env::temp_dir().join(format!("librevox-cli-bridge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bridge.toml");
    std::fs::write(
        &file,
        "stream = \"FS\"\n[nats]\nurl = \"nats://file:4222\"\ntoken = \"tok-secret\"\n\
         [switches.fs1]\naddress = \"10.0.0.1:8021\"\npassword = \"pw-secret\"\n\
         [limits]\nmax_in_flight = 64\n",
    )
    .unwrap();
    let check = |envs: &[(&str, &str)], flags: &[&str]| {
        let mut c = bin();
        for v in [
            "NATS_URL",
            "NATS_USER",
            "NATS_PASSWORD",
            "NATS_TOKEN",
            "LIBREVOX_SWITCHES",
            "LIBREVOX_STREAM",
            "LIBREVOX_BRIDGE_CONFIG",
            "LIBREVOX_BRIDGE_MAX_IN_FLIGHT",
        ] {
            c.env_remove(v);
        }
        c.envs(envs.iter().copied())
            .args(["bridge", "--bridge-config"])
            .arg(&file)
            .args(flags)
            .arg("--check");
        let out = c.output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let from_file = check(&[], &[]);
    assert_eq!(
        from_file,
        "nats = nats://file:4222\nnats_auth = token (hidden)\nstream = FS\n\
         switch fs1 = 10.0.0.1:8021\nmax_buffered_events = 100000\n\
         max_buffered_bytes = 268435456\nmax_in_flight = 64\nack_timeout = 5s\n\
         request_timeout = 30s\ndedup_window = 120s\n"
    );
    let from_env = check(
        &[
            ("NATS_URL", "nats://env:4222"),
            ("LIBREVOX_SWITCHES", "fs2=10.0.0.2:8021,fs3=10.0.0.3:8021"),
            ("LIBREVOX_BRIDGE_MAX_IN_FLIGHT", "8"),
        ],
        &[],
    );
    assert!(
        from_env.starts_with("nats = nats://env:4222\n"),
        "{from_env}"
    );
    assert!(
        from_env.contains(
            "switch fs1 = 10.0.0.1:8021\nswitch fs2 = 10.0.0.2:8021\nswitch fs3 = 10.0.0.3:8021\n"
        ),
        "{from_env}"
    );
    assert!(from_env.contains("max_in_flight = 8\n"), "{from_env}");
    let from_flags = check(
        &[("NATS_URL", "nats://env:4222"), ("LIBREVOX_STREAM", "ENV")],
        &[
            "--nats",
            "nats://flag:4222",
            "--switch",
            "fs1=127.0.0.1:9999",
            "--max-in-flight",
            "2",
        ],
    );
    assert!(
        from_flags.starts_with("nats = nats://flag:4222\nnats_auth = token (hidden)\nstream = ENV\nswitch fs1 = 127.0.0.1:9999\n"),
        "{from_flags}"
    );
    assert!(from_flags.contains("max_in_flight = 2\n"), "{from_flags}");
    for out in [&from_file, &from_env, &from_flags] {
        assert!(!out.contains("secret"), "a password was printed: {out}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_format_json_writes_one_object_per_line() {
    let sim = sim().await;
    let port = sim.local_addr().unwrap().port();
    let child = bin()
        .env("RUST_LOG", "info")
        .args([
            "events",
            "--log-format",
            "json",
            "--port",
            &port.to_string(),
            "--count",
            "1",
            "CHANNEL_CREATE",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_subscribed(&sim, b"event plain CHANNEL_CREATE\n").await;
    sim.place_call(librevox::simulator::CallSpec::new("park"));
    let out = tokio::task::spawn_blocking(move || wait_or_kill(child, Duration::from_secs(20)))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    // The CLI's own status lines say `librevox ...`; every log record is
    // one JSON object on one line.
    let records: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| !l.starts_with("librevox "))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let connected = records
        .iter()
        .find(|r| r["fields"]["message"] == "inbound listener connected")
        .unwrap_or_else(|| panic!("no connected record in\n{stderr}"));
    assert_eq!(connected["level"], "INFO");
    assert_eq!(connected["fields"]["addr"], format!("127.0.0.1:{port}"));
}

/// Passes a child's stderr on, line by line, read to its end (a closed
/// pipe would fail the child's next line).
/// A child process killed and reaped when dropped, so a failing test leaves
/// nothing running (a leaked `librevox sim` once outlived its test).
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn stderr_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The rest of the first line starting with `prefix`, within 20 s (the
/// wait blocks this worker thread only: the tests run multi-threaded).
fn line_after(lines: &std::sync::mpsc::Receiver<String>, prefix: &str) -> String {
    tokio::task::block_in_place(|| wait_line(lines, prefix))
}

fn wait_line(lines: &std::sync::mpsc::Receiver<String>, prefix: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                if let Some(rest) = line.strip_prefix(prefix) {
                    return rest.to_owned();
                }
            }
            Err(e) => panic!("no line starting with `{prefix}` on stderr: {e}"),
        }
    }
}

/// Scrapes `/metrics` until every line of `want` is in it (10 s at most).
async fn scrape_until(addr: &str, want: &[&str]) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let a = addr.to_owned();
        let (status, body) = tokio::task::spawn_blocking(move || http_get(&a, "/metrics"))
            .await
            .unwrap();
        assert_eq!(status, 200, "{body}");
        if want.iter().all(|w| body.lines().any(|l| l == *w)) {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not all of {want:#?} in\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_serves_metrics_of_its_connections_commands_and_events() {
    let mut sim = Reaped(
        bin()
            .args(["sim", "--port", "0", "--metrics", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let lines = stderr_lines(&mut sim.0);
    let metrics = line_after(&lines, "librevox sim: metrics on http://");
    let metrics = metrics.split('/').next().unwrap().to_owned();
    let switch = line_after(&lines, "librevox sim: FreeSWITCH simulator on ");
    let port = switch
        .split(' ')
        .next()
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("no port in `{switch}`"));
    // A subscriber for the call's two CHANNEL_CREATEs (the loopback's A
    // and B legs), then the call.
    let events = bin()
        .args(["events", "--port", &port.to_string(), "--count", "2"])
        .arg("CHANNEL_CREATE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    scrape_until(
        &metrics,
        &[
            r#"librevox_simulator_connections{role="inbound"} 1"#,
            r#"librevox_simulator_commands_total{kind="auth"} 1"#,
            r#"librevox_simulator_commands_total{kind="event"} 1"#,
        ],
    )
    .await;
    let out = run(args(port, &["originate", "loopback/park", "&park()"])).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = tokio::task::spawn_blocking(move || wait_or_kill(events, Duration::from_secs(20)))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).lines().count(),
        2,
        "{}",
        text(&out.stdout)
    );
    // Both clients gone: each said `auth`, the subscriber `event`, the
    // originate `api` (its reply, not an event); the two events reached
    // the subscriber.
    let body = scrape_until(
        &metrics,
        &[
            r#"librevox_simulator_connections{role="inbound"} 0"#,
            r#"librevox_simulator_commands_total{kind="auth"} 2"#,
            r#"librevox_simulator_commands_total{kind="event"} 1"#,
            r#"librevox_simulator_commands_total{kind="api"} 1"#,
            r#"librevox_simulator_events_sent_total{role="inbound"} 2"#,
        ],
    )
    .await;
    drop(sim);
    // Nothing but the simulator's series: its process runs no listener.
    let others: Vec<&str> = body
        .lines()
        .filter(|l| l.starts_with("librevox_") && !l.starts_with("librevox_simulator_"))
        .collect();
    assert!(others.is_empty(), "{body}");
}
