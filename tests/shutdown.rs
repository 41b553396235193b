//! Running listeners together: `Runner` (graceful shutdown through its
//! token) and `start!` (one listener, options, several, SIGTERM).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use librevox::listener::{OutboundSettings, Runner, Session};
use librevox::simulator::{CallSpec, EslUser, Simulator};
use librevox::{event, inbound, outbound, start, Event};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tracing::Level;

use crate::support::*;

/// A free loopback port (bound and released at once), for listeners that
/// bind their own socket.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// True once the inbound connection `index` of `sim` is closed.
async fn wait_inbound_closed(sim: &Simulator, index: usize) {
    sim.wait_for(T, |s| {
        inbound_records(s).get(index).is_some_and(|r| r.closed)
    })
    .await
    .expect("the inbound connection was closed");
}

// ----- Runner -----

struct Watcher;

#[inbound(events = ["CHANNEL_CREATE"])]
impl Watcher {}

struct Caller {
    file: &'static str,
    seen: mpsc::UnboundedSender<String>,
}

#[outbound]
impl Caller {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        let _ = self.seen.send("playing".to_owned());
        let done = call.application("playback", self.file).await?;
        let _ = self.seen.send(format!(
            "played: {}",
            done.application_response().unwrap_or("")
        ));
        call.application("hangup", "").await?;
        Ok(())
    }
}

#[tokio::test]
async fn shutdown_stops_accepting_lets_running_calls_finish_and_sends_exit() {
    let (logs, _guard) = Logs::capture();
    let port = free_port();
    let mut cfg = config(50).extension(socket_extension("ivr", port));
    cfg.file_durations
        .insert("long.wav".to_owned(), Duration::from_millis(300));
    let sim = simulator(cfg).await;
    let (seen, mut rx) = recorder();
    let runner = Runner::new()
        .without_signals()
        .inbound(Watcher, inbound_settings(&sim))
        .outbound(
            move || Caller {
                file: "long.wav",
                seen: seen.clone(),
            },
            OutboundSettings {
                shutdown_grace: Duration::from_secs(5),
                ..OutboundSettings::new(format!("127.0.0.1:{port}"))
            },
        );
    let token = runner.shutdown_token();
    let run = tokio::spawn(runner.run());
    logs.wait_text(Level::INFO, "outbound listener accepting calls")
        .await;
    inbound_with_packets(&sim, 0, 2).await;

    let call = sim.place_call(CallSpec::new("ivr"));
    assert_eq!(rx.next().await, "playing");
    let cancelled = Instant::now();
    token.cancel();
    logs.wait_text(Level::INFO, "outbound listener stopped accepting")
        .await;
    // No new calls...
    assert!(TcpStream::connect(loopback(port)).await.is_err());
    // ...while the running one plays to its end.
    assert_eq!(rx.next().await, "played: FILE PLAYED");
    assert!(!run.is_finished(), "the runner waits for the call");
    // The inbound listener said goodbye.
    wait_inbound_closed(&sim, 0).await;
    let inbound = inbound_records(&sim).remove(0);
    assert_eq!(
        texts(&inbound.received),
        [
            "auth ClueCon\n\n",
            "event plain CHANNEL_CREATE\n\n",
            "exit\n\n"
        ]
    );
    within("the runner to stop", run)
        .await
        .unwrap()
        .expect("a clean shutdown");
    assert!(
        cancelled.elapsed() < Duration::from_secs(5),
        "within the grace"
    );
    let rec = outbound_record(&sim, &call.uuid).unwrap();
    assert_eq!(texts(&rec.received).last().unwrap(), "exit\n\n");
    assert!(
        logs.at(Level::ERROR).is_empty(),
        "{:?}",
        logs.at(Level::ERROR)
    );
    assert!(
        logs.at(Level::WARN).is_empty(),
        "{:?}",
        logs.at(Level::WARN)
    );
}

#[tokio::test]
async fn calls_still_running_after_the_grace_period_are_closed() {
    const GRACE: Duration = Duration::from_millis(200);
    let (logs, _guard) = Logs::capture();
    let port = free_port();
    let mut cfg = config(51).extension(socket_extension("ivr", port));
    cfg.file_durations
        .insert("endless.wav".to_owned(), Duration::MAX);
    let sim = simulator(cfg).await;
    let (seen, mut rx) = recorder();
    let runner = Runner::new().without_signals().outbound(
        move || Caller {
            file: "endless.wav",
            seen: seen.clone(),
        },
        OutboundSettings {
            shutdown_grace: GRACE,
            ..OutboundSettings::new(format!("127.0.0.1:{port}"))
        },
    );
    let token = runner.shutdown_token();
    let run = tokio::spawn(runner.run());
    logs.wait_text(Level::INFO, "outbound listener accepting calls")
        .await;
    let call = sim.place_call(CallSpec::new("ivr"));
    assert_eq!(rx.next().await, "playing");
    let cancelled = Instant::now();
    token.cancel();
    within("the runner to stop", run)
        .await
        .unwrap()
        .expect("a clean shutdown");
    assert!(cancelled.elapsed() >= GRACE, "{:?}", cancelled.elapsed());
    logs.wait_text(
        Level::WARN,
        "calls still running after the shutdown grace period",
    )
    .await;
    // The call's socket is closed; FreeSWITCH keeps the channel parked.
    sim.wait_for(T, |s| {
        outbound_record(s, &call.uuid).is_some_and(|r| r.closed)
    })
    .await
    .expect("the call's socket was closed");
    assert!(rx.drain().is_empty(), "the playback never completed");
}

// ----- start! -----

/// `start!` builds listeners with `Default`, so they report through this.
static REPORTS: Mutex<Option<mpsc::UnboundedSender<String>>> = Mutex::new(None);
/// One `start!` test at a time: they share `REPORTS`, and SIGTERM reaches
/// every runner of the process.
static START_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn report(what: String) {
    if let Some(tx) = &*REPORTS.lock().unwrap() {
        let _ = tx.send(what);
    }
}

fn reports() -> Rx<String> {
    let (tx, rx) = recorder();
    *REPORTS.lock().unwrap() = Some(tx);
    rx
}

#[derive(Default)]
struct StartMonitor;

#[inbound(events = ["CHANNEL_ANSWER"])]
impl StartMonitor {
    async fn connection_completed(&self) {
        report("monitor connected".to_owned());
    }

    #[event(channel_answer)]
    async fn answered(&self, event: &Event) {
        report(format!("monitor saw {}", event.header("X-N").unwrap_or("")));
    }
}

#[derive(Default)]
struct StartIvr;

#[outbound]
impl StartIvr {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        report(format!(
            "ivr call from {}",
            call.header("Caller-Caller-ID-Number").unwrap_or_default()
        ));
        call.application("hangup", "").await?;
        Ok(())
    }
}

#[tokio::test]
async fn start_with_one_listener() {
    let _lock = START_LOCK.lock().await;
    let mut rx = reports();
    let sim = simulator(config(52)).await;
    let port = sim.local_addr().unwrap().port();
    let run = tokio::spawn(start!(StartMonitor(port = port)));
    assert_eq!(rx.next().await, "monitor connected");
    sim.fire_event("CHANNEL_ANSWER", &[("X-N", "1")], None);
    assert_eq!(rx.next().await, "monitor saw 1");
    assert_eq!(
        texts(&inbound_records(&sim)[0].received),
        ["auth ClueCon\n\n", "event plain CHANNEL_ANSWER\n\n"]
    );
    run.abort();
}

#[tokio::test]
async fn start_with_options() {
    let _lock = START_LOCK.lock().await;
    let mut rx = reports();
    let mut cfg = config(53);
    cfg.password = "s3cret".to_owned();
    cfg.users = vec![EslUser::new("1000@default", "user-pw")];
    let sim = simulator(cfg).await;
    let port = sim.local_addr().unwrap().port();

    let run = tokio::spawn(start!(StartMonitor(
        host = "127.0.0.1",
        port = port,
        password = "s3cret"
    )));
    assert_eq!(rx.next().await, "monitor connected");
    run.abort();
    let run = tokio::spawn(start!(StartMonitor(
        port = port,
        user = "1000@default",
        password = String::from("user-pw"),
    )));
    assert_eq!(rx.next().await, "monitor connected");
    run.abort();
    let firsts: Vec<String> = inbound_records(&sim)
        .iter()
        .map(|r| texts(&r.received)[0].clone())
        .collect();
    assert_eq!(
        firsts,
        ["auth s3cret\n\n", "userauth 1000@default:user-pw\n\n"]
    );
}

#[tokio::test]
async fn start_with_several_listeners() {
    let _lock = START_LOCK.lock().await;
    let (logs, _guard) = Logs::capture();
    let mut rx = reports();
    let out_port = free_port();
    let sim = simulator(config(54).extension(socket_extension("ivr", out_port))).await;
    let in_port = sim.local_addr().unwrap().port();
    let run = tokio::spawn(start!(
        StartMonitor(port = in_port),
        StartIvr(host = "127.0.0.1", port = out_port),
    ));
    assert_eq!(rx.next().await, "monitor connected");
    // The outbound listener binds in its own task: wait until it accepts.
    let accepting = logs
        .wait_text(Level::INFO, "outbound listener accepting calls")
        .await;
    assert!(
        accepting.text.contains(&format!("127.0.0.1:{out_port}")),
        "{accepting:?}"
    );
    let call = sim.place_call(CallSpec::new("ivr").caller("1001"));
    assert_eq!(rx.next().await, "ivr call from 1001");
    sim.wait_event(T, |e| {
        e.is("CHANNEL_DESTROY") && e.unique_id() == Some(call.uuid.as_str())
    })
    .await
    .unwrap();
    run.abort();
}

#[cfg(unix)]
#[tokio::test]
async fn start_shuts_down_gracefully_on_sigterm() {
    use tokio::signal::unix::{signal, SignalKind};
    let _lock = START_LOCK.lock().await;
    // Installs the process's SIGTERM handler first, so the signal below
    // cannot kill the test binary whatever the timing.
    let mut term = signal(SignalKind::terminate()).unwrap();
    let mut rx = reports();
    let sim = simulator(config(55)).await;
    let port = sim.local_addr().unwrap().port();
    // On this current-thread runtime the runner's signal task (spawned
    // first) has subscribed by the time the listener has connected.
    let run = tokio::spawn(start!(StartMonitor(port = port)));
    assert_eq!(rx.next().await, "monitor connected");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    within("SIGTERM", term.recv()).await;
    within("start! to return", run)
        .await
        .unwrap()
        .expect("a clean shutdown");
    wait_inbound_closed(&sim, 0).await;
    assert_eq!(
        texts(&inbound_records(&sim)[0].received),
        [
            "auth ClueCon\n\n",
            "event plain CHANNEL_ANSWER\n\n",
            "exit\n\n"
        ]
    );
}
