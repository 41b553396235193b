//! The NATS tier, through the binary: `librevox bridge` run as an operator
//! would, against a REAL nats-server and the simulator as the switches.
//!
//! Not part of the default `cargo test` (it needs a `nats-server` binary):
//! `cargo test -p librevox-cli --test bridge` (`.ci/run`'s NATS tier runs
//! it). A missing server FAILS the tests, it never skips them.

#[path = "../../librevox/tests/support/nats_server.rs"]
mod nats_server;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use librevox::fleet;
use librevox::protocol::event_json;
use librevox::simulator::{Simulator, SimulatorConfig};
use nats_server::NatsServer;

const WAIT: Duration = Duration::from_secs(30);

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_librevox"));
    for (var, _) in std::env::vars() {
        if var.starts_with("LIBREVOX_") || var.starts_with("NATS_") || var == "RUST_LOG" {
            c.env_remove(var);
        }
    }
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

/// A running `librevox bridge` and the lines of its standard error.
struct BridgeProcess {
    child: Child,
    stderr: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl BridgeProcess {
    fn spawn(mut cmd: Command) -> BridgeProcess {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the librevox binary runs");
        let (tx, rx) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        BridgeProcess {
            child,
            stderr: rx,
            seen: Vec::new(),
        }
    }

    /// Waits (at most `WAIT`) for a stderr line containing `text`; fails if
    /// the process closes its stderr (exits) first.
    fn wait_line(&mut self, text: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "no stderr line with {text:?} ({e:?}); it printed:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// SIGTERM, then the exit status (at most `WAIT`) and the rest of stderr.
    fn terminate(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let st = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the bridge did not exit within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The reader thread ends at EOF, so this drains everything.
        self.seen.extend(self.stderr.iter());
        (status, std::mem::take(&mut self.seen))
    }
}

impl Drop for BridgeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn sim(hostname: &str, password: &str) -> Simulator {
    Simulator::start(SimulatorConfig {
        hostname: hostname.to_owned(),
        password: password.to_owned(),
        ..SimulatorConfig::default()
    })
    .await
    .expect("simulator")
}

/// Waits until stream `name` holds `n` messages and returns
/// (subject, Nats-Msg-Id, payload) of each, in stream order.
async fn stream_contents(
    js: &jetstream::Context,
    name: &str,
    n: u64,
) -> Vec<(String, String, String)> {
    let deadline = Instant::now() + WAIT;
    let mut stream = loop {
        match js.get_stream(name).await {
            Ok(s) => break s,
            Err(e) => {
                assert!(Instant::now() < deadline, "no stream {name}: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let last = loop {
        let info = stream.info().await.expect("stream info");
        if info.state.messages >= n {
            break info.state.last_sequence;
        }
        assert!(
            Instant::now() < deadline,
            "stream {name} holds {} messages, {n} expected",
            info.state.messages
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut out = Vec::new();
    for seq in 1..=last {
        let m = stream.get_raw_message(seq).await.expect("stored message");
        let id = m
            .headers
            .get(async_nats::header::NATS_MESSAGE_ID)
            .map(|v| v.as_str().to_owned())
            .expect("a Msg-Id");
        out.push((
            m.subject.to_string(),
            id,
            String::from_utf8(m.payload.to_vec()).unwrap(),
        ));
    }
    out
}

fn block<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> tokio::task::JoinHandle<T> {
    tokio::task::spawn_blocking(f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_minimal_form_bridges_two_switches_answers_api_and_stops_on_sigterm() {
    let nats = NatsServer::start();
    let (s1, s2) = (
        sim("box-one", "ClueCon").await,
        sim("box-two", "ClueCon").await,
    );
    let mut cmd = bin();
    cmd.args([
        "bridge",
        "--switch",
        &format!("fs1={}", s1.local_addr().unwrap()),
        "--switch",
        &format!("fs2={}", s2.local_addr().unwrap()),
        "--nats",
        &nats.url(),
    ]);
    let bridge = block(move || {
        let mut b = BridgeProcess::spawn(cmd);
        b.wait_line("librevox bridge: ready");
        b
    })
    .await
    .unwrap();

    // A command by request/reply, answered by the switch it names (the
    // switch also fires an API event for it, which the bridge stores).
    let c = async_nats::connect(nats.url()).await.unwrap();
    let reply = c
        .request("freeswitch.fs2.api", "eval ${FreeSWITCH-Hostname}".into())
        .await
        .unwrap();
    assert_eq!(std::str::from_utf8(&reply.payload).unwrap(), "box-two");

    let mut fired = Vec::new();
    for i in 0..20 {
        let n = i.to_string();
        let h = [("Unique-ID", "chan-a"), ("Burst-Index", n.as_str())];
        fired.push(("fs1", s1.fire_event("CHANNEL_STATE", &h, None)));
        fired.push(("fs2", s2.fire_event("CHANNEL_STATE", &h, None)));
    }
    fired.push((
        "fs2",
        s2.fire_event(
            "CUSTOM",
            &[("Event-Subclass", "sofia::register")],
            Some("body"),
        ),
    ));
    let js = jetstream::new(c.clone());
    let stored = stream_contents(&js, "FREESWITCH", fired.len() as u64 + 1).await;
    assert_eq!(
        stored.len(),
        fired.len() + 1,
        "each event once, nothing else"
    );
    let api: Vec<&str> = stored
        .iter()
        .filter(|(_, id, _)| {
            !fired
                .iter()
                .any(|(_, e)| fleet::msg_id(e).as_ref() == Some(id))
        })
        .map(|(subject, _, _)| subject.as_str())
        .collect();
    assert_eq!(api, ["freeswitch.fs2.event.API"]);
    for (sw, ev) in &fired {
        let id = fleet::msg_id(ev).unwrap();
        let (subject, _, payload) = stored
            .iter()
            .find(|(_, m, _)| *m == id)
            .unwrap_or_else(|| panic!("{id} not in the stream"));
        let name = ev.header("Event-Name").unwrap();
        let want = if name == "CUSTOM" {
            format!("freeswitch.{sw}.event.CUSTOM.sofia.register")
        } else {
            format!("freeswitch.{sw}.event.{name}")
        };
        assert_eq!(subject, &want);
        assert_eq!(payload, &event_json::to_string(ev));
    }

    let (status, lines) = block(move || bridge.terminate()).await.unwrap();
    let text = lines.join("\n");
    assert!(status.success(), "exit {status:?}:\n{text}");
    assert!(
        text.contains("fs1: received 20, acknowledged 20 (duplicates 0), retries 0, dropped 0"),
        "{text}"
    );
    assert!(
        text.contains("fs2: received 22, acknowledged 22 (duplicates 0), retries 0, dropped 0"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_config_file_gives_switches_and_nats_and_the_environment_overrides_it() {
    let nats = NatsServer::start();
    let s1 = sim("box-one", "s3cret").await;
    let dir = std::env::temp_dir().join(format!("librevox-bridge-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bridge.toml");
    std::fs::write(
        &file,
        format!(
            "stream = \"FROM_FILE\"\n[nats]\nurl = \"{}\"\n\
             [switches.edge1]\naddress = \"{}\"\npassword = \"s3cret\"\n",
            nats.url(),
            s1.local_addr().unwrap()
        ),
    )
    .unwrap();
    let mut cmd = bin();
    cmd.args(["bridge", "--bridge-config"])
        .arg(&file)
        .env("LIBREVOX_STREAM", "FROM_ENV");
    let bridge = block(move || {
        let mut b = BridgeProcess::spawn(cmd);
        b.wait_line("librevox bridge: ready");
        b
    })
    .await
    .unwrap();
    let ev = s1.fire_event("HEARTBEAT", &[], None);
    let js = jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let stored = stream_contents(&js, "FROM_ENV", 1).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].0, "freeswitch.edge1.event.HEARTBEAT");
    assert_eq!(stored[0].1, fleet::msg_id(&ev).unwrap());
    assert!(
        js.get_stream("FROM_FILE").await.is_err(),
        "the file's stream name was overridden"
    );
    let (status, lines) = block(move || bridge.terminate()).await.unwrap();
    assert!(status.success(), "{}", lines.join("\n"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_nats_server_fails_with_the_url_and_status_1() {
    // A port nothing listens on: the NATS server of this test, killed.
    let mut nats = NatsServer::start();
    let url = nats.url();
    nats.kill();
    let s1 = sim("box-one", "ClueCon").await;
    let addr = s1.local_addr().unwrap().to_string();
    let out = block(move || {
        bin()
            .args(["bridge", "--switch", &format!("fs1={addr}"), "--nats", &url])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("no NATS server answered at {}", nats.url())),
        "{err}"
    );
}

/// A blocking HTTP/1.0 GET: (status, body).
fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("the metrics port");
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {out}"));
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_is_every_switch_connected_and_nats_reachable() {
    let mut nats = NatsServer::start();
    let s1 = sim("box-one", "ClueCon").await;
    let mut cmd = bin();
    cmd.args([
        "bridge",
        "--switch",
        &format!("fs1={}", s1.local_addr().unwrap()),
        "--nats",
        &nats.url(),
        "--metrics",
        "127.0.0.1:0",
    ]);
    let (bridge, metrics) = block(move || {
        let mut b = BridgeProcess::spawn(cmd);
        let line = b.wait_line("metrics on http://");
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap()
            .to_owned();
        b.wait_line("librevox bridge: ready");
        (b, addr)
    })
    .await
    .unwrap();
    let m = metrics.clone();
    let (status, body) = block(move || http_get(&m, "/ready")).await.unwrap();
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"not_ready":[],"ready":true}"#)
    );

    // NATS gone: not ready, and the body says what is missing.
    nats.kill();
    let m = metrics.clone();
    let url = nats.url();
    let body = block(move || {
        let deadline = Instant::now() + WAIT;
        loop {
            let (status, body) = http_get(&m, "/ready");
            if status == 503 {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "still ready 30 s after NATS died: {body}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    assert_eq!(
        body,
        format!(r#"{{"not_ready":["bridge NATS {url}"],"ready":false}}"#)
    );
    let (_status, lines) = block(move || bridge.terminate()).await.unwrap();
    assert!(
        lines.iter().any(|l| l.contains("fs1: received")),
        "{}",
        lines.join("\n")
    );
}
