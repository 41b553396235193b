//! Stopping listeners: `Runner` (graceful shutdown through its handle),
//! hooks stopping their own listener through `Shutdown`, and `start!` (one
//! listener, options, several, SIGTERM).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use librevox::listener::{run_inbound, serve_outbound, Inbound, OutboundSettings, Runner, Session};
use librevox::simulator::{CallSpec, EslUser, Simulator};
use librevox::{event, inbound, outbound, start, Event, Shutdown};
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
        play_then_hang_up(call, self.file, &self.seen).await
    }
}

/// Plays `file`, reports `played: <its response>`, hangs up.
async fn play_then_hang_up(
    call: &Session,
    file: &str,
    seen: &mpsc::UnboundedSender<String>,
) -> librevox::Result<()> {
    let done = call.application("playback", file).await?;
    let _ = seen.send(format!(
        "played: {}",
        done.application_response().unwrap_or("")
    ));
    call.application("hangup", "").await?;
    Ok(())
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
    let token = runner.shutdown_handle();
    let run = tokio::spawn(runner.run());
    logs.wait_text(Level::INFO, "outbound listener accepting calls")
        .await;
    inbound_with_packets(&sim, 0, 2).await;

    let call = sim.place_call(CallSpec::new("ivr"));
    assert_eq!(rx.next().await, "playing");
    let cancelled = Instant::now();
    token.trigger();
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
    logs.assert_clean();
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
    let token = runner.shutdown_handle();
    let run = tokio::spawn(runner.run());
    logs.wait_text(Level::INFO, "outbound listener accepting calls")
        .await;
    let call = sim.place_call(CallSpec::new("ivr"));
    assert_eq!(rx.next().await, "playing");
    let cancelled = Instant::now();
    token.trigger();
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

// ----- a hook stops its own listener -----

/// Stops its listener when the CUSTOM event `app::stop` arrives; reports
/// every CHANNEL_ANSWER with its `X-N`.
struct Stopper {
    name: &'static str,
    seen: mpsc::UnboundedSender<String>,
}

#[inbound(events = ["CHANNEL_ANSWER", "CUSTOM app::stop"])]
impl Stopper {
    #[event(channel_answer)]
    async fn answered(&self, event: &Event) {
        let n = event.header("X-N").unwrap_or("");
        let _ = self.seen.send(format!("{} saw {n}", self.name));
    }

    #[event(custom = "app::stop")]
    async fn stop(&self, ctx: &Inbound, event: &Event) {
        if event.header("X-Who") == Some(self.name) {
            let _ = self.seen.send(format!("{} stopping", self.name));
            ctx.shutdown().trigger();
        }
    }
}

fn stop_request(sim: &Simulator, who: &str) {
    sim.fire_event(
        "CUSTOM",
        &[("Event-Subclass", "app::stop"), ("X-Who", who)],
        None,
    );
}

const STOPPER_HANDSHAKE: [&str; 2] = [
    "auth ClueCon\n\n",
    "event plain CHANNEL_ANSWER CUSTOM app::stop\n\n",
];

#[tokio::test]
async fn an_inbound_hook_stops_its_own_listener() {
    let (logs, _guard) = Logs::capture();
    let sim = simulator(config(56)).await;
    let (seen, mut rx) = recorder();
    let task = tokio::spawn(run_inbound(
        Arc::new(Stopper { name: "a", seen }),
        inbound_settings(&sim),
        Shutdown::new(),
    ));
    inbound_with_packets(&sim, 0, 2).await;
    stop_request(&sim, "a");
    assert_eq!(rx.next().await, "a stopping");
    within("the listener to stop", task)
        .await
        .unwrap()
        .expect("a listener stopped by its hook returns Ok");
    wait_inbound_closed(&sim, 0).await;
    let records = inbound_records(&sim);
    assert_eq!(records.len(), 1, "stopped, not reconnected");
    let mut expected = STOPPER_HANDSHAKE.to_vec();
    expected.push("exit\n\n");
    assert_eq!(texts(&records[0].received), expected);
    logs.assert_clean();
}

#[tokio::test]
async fn under_a_runner_a_hook_stops_its_listener_and_the_others_run_on() {
    let sim = simulator(config(57)).await;
    let (seen, mut rx) = recorder();
    let runner = Runner::new()
        .without_signals()
        .without_logging()
        .inbound(
            Stopper {
                name: "a",
                seen: seen.clone(),
            },
            inbound_settings(&sim),
        )
        .inbound(Stopper { name: "b", seen }, inbound_settings(&sim));
    let everything = runner.shutdown_handle();
    let run = tokio::spawn(runner.run());
    inbound_with_packets(&sim, 0, 2).await;
    inbound_with_packets(&sim, 1, 2).await;
    stop_request(&sim, "a");
    assert_eq!(rx.next().await, "a stopping");
    sim.wait_for(T, |s| {
        inbound_records(s).iter().filter(|r| r.closed).count() == 1
    })
    .await
    .expect("the stopped listener closed its connection");
    // The other listener is still connected and handling events.
    sim.fire_event("CHANNEL_ANSWER", &[("X-N", "1")], None);
    assert_eq!(rx.next().await, "b saw 1");
    assert!(!run.is_finished(), "one listener is still running");
    assert!(
        !everything.is_triggered(),
        "a child does not stop the runner"
    );
    everything.trigger();
    within("the runner to stop", run)
        .await
        .unwrap()
        .expect("a clean shutdown");
    let records = inbound_records(&sim);
    assert_eq!(records.len(), 2, "nobody reconnected");
    for r in &records {
        assert!(r.closed);
        assert_eq!(texts(&r.received).last().unwrap(), "exit\n\n");
    }
    assert!(rx.drain().is_empty());
}

/// Stops the outbound server from inside a call, then finishes the call.
struct LastCall {
    seen: mpsc::UnboundedSender<String>,
}

#[outbound]
impl LastCall {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        call.shutdown().trigger();
        let _ = self.seen.send("stopping".to_owned());
        play_then_hang_up(call, "short.wav", &self.seen).await
    }
}

#[tokio::test]
async fn a_call_stops_its_own_outbound_server_and_still_finishes() {
    let (logs, _guard) = Logs::capture();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut cfg = config(58).extension(socket_extension("ivr", port));
    cfg.file_durations
        .insert("short.wav".to_owned(), Duration::from_millis(50));
    let sim = simulator(cfg).await;
    let (seen, mut rx) = recorder();
    let server = tokio::spawn(serve_outbound(
        listener,
        move || LastCall { seen: seen.clone() },
        OutboundSettings {
            shutdown_grace: Duration::from_secs(5),
            ..OutboundSettings::new(format!("127.0.0.1:{port}"))
        },
        Shutdown::new(),
    ));
    let call = sim.place_call(CallSpec::new("ivr"));
    assert_eq!(rx.next().await, "stopping");
    logs.wait_text(Level::INFO, "outbound listener stopped accepting")
        .await;
    assert!(TcpStream::connect(loopback(port)).await.is_err());
    assert_eq!(rx.next().await, "played: FILE PLAYED");
    within("the server to stop", server)
        .await
        .unwrap()
        .expect("a server stopped by a call returns Ok");
    let rec = outbound_record(&sim, &call.uuid).unwrap();
    assert_eq!(texts(&rec.received).last().unwrap(), "exit\n\n");
    logs.assert_clean();
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

/// A simulator with its own password and one `userauth` user.
async fn guarded_simulator(seed: u64) -> Simulator {
    let mut cfg = config(seed);
    cfg.password = "s3cret".to_owned();
    cfg.users = vec![EslUser::new("1000@default", "user-pw")];
    simulator(cfg).await
}

/// The first packet of every inbound connection of `sim`.
fn first_packets(sim: &Simulator) -> Vec<String> {
    inbound_records(sim)
        .iter()
        .map(|r| texts(&r.received)[0].clone())
        .collect()
}

#[tokio::test]
async fn start_with_host_port_and_password() {
    let _lock = START_LOCK.lock().await;
    let mut rx = reports();
    let sim = guarded_simulator(53).await;
    let port = sim.local_addr().unwrap().port();
    let run = tokio::spawn(start!(StartMonitor(
        host = "127.0.0.1",
        port = port,
        password = "s3cret"
    )));
    assert_eq!(rx.next().await, "monitor connected");
    run.abort();
    assert_eq!(first_packets(&sim), ["auth s3cret\n\n"]);
}

#[tokio::test]
async fn start_with_user_sends_userauth() {
    let _lock = START_LOCK.lock().await;
    let mut rx = reports();
    let sim = guarded_simulator(59).await;
    let port = sim.local_addr().unwrap().port();
    let run = tokio::spawn(start!(StartMonitor(
        port = port,
        user = "1000@default",
        password = String::from("user-pw"),
    )));
    assert_eq!(rx.next().await, "monitor connected");
    run.abort();
    assert_eq!(first_packets(&sim), ["userauth 1000@default:user-pw\n\n"]);
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

// ----- start! with state -----

/// No `Default`: its value comes from configuration.
struct Tenant {
    context: String,
    tx: mpsc::UnboundedSender<String>,
}

#[inbound(events = ["CHANNEL_ANSWER"], filters("Caller-Context" = self.context.clone()))]
impl Tenant {
    async fn connection_completed(&self) {
        let _ = self.tx.send(format!("{} connected", self.context));
    }

    #[event(channel_answer)]
    async fn answered(&self, event: &Event) {
        let _ = self.tx.send(format!(
            "{} saw {}",
            self.context,
            event.header("X-N").unwrap_or("")
        ));
    }
}

#[tokio::test]
async fn start_runs_an_inbound_listener_from_its_value_with_its_filters() {
    let _lock = START_LOCK.lock().await;
    let sim = simulator(config(60)).await;
    let port = sim.local_addr().unwrap().port();
    let (tx, mut rx) = recorder();
    let context = String::from("tenant-7");
    let run = tokio::spawn(start!(Tenant(port = port) = Tenant { context, tx }));
    assert_eq!(rx.next().await, "tenant-7 connected");
    assert_eq!(
        texts(&inbound_records(&sim)[0].received),
        [
            "auth ClueCon\n\n",
            "filter Caller-Context tenant-7\n\n",
            "event plain CHANNEL_ANSWER\n\n"
        ]
    );
    // The computed filter is in force.
    sim.fire_event(
        "CHANNEL_ANSWER",
        &[("Caller-Context", "other"), ("X-N", "1")],
        None,
    );
    sim.fire_event(
        "CHANNEL_ANSWER",
        &[("Caller-Context", "tenant-7"), ("X-N", "2")],
        None,
    );
    assert_eq!(rx.next().await, "tenant-7 saw 2");
    run.abort();
}

/// No `Default`: each call's value comes from the factory.
struct Numbered {
    n: usize,
    tx: mpsc::UnboundedSender<String>,
}

#[outbound]
impl Numbered {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        let _ = self.tx.send(format!(
            "call {} from {}",
            self.n,
            call.header("Caller-Caller-ID-Number").unwrap_or_default()
        ));
        call.application("hangup", "").await?;
        Ok(())
    }
}

#[tokio::test]
async fn start_builds_each_outbound_call_from_the_factory() {
    let _lock = START_LOCK.lock().await;
    let (logs, _guard) = Logs::capture();
    let port = free_port();
    let sim = simulator(config(61).extension(socket_extension("ivr", port))).await;
    let (tx, mut rx) = recorder();
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let run = tokio::spawn(start!(Numbered(
        port = port,
        factory = move || Numbered {
            n: calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
            tx: tx.clone(),
        }
    )));
    logs.wait_text(Level::INFO, "outbound listener accepting calls")
        .await;
    let first = sim.place_call(CallSpec::new("ivr").caller("1001"));
    assert_eq!(rx.next().await, "call 0 from 1001");
    let second = sim.place_call(CallSpec::new("ivr").caller("1002"));
    assert_eq!(rx.next().await, "call 1 from 1002");
    for call in [first, second] {
        sim.wait_event(T, |e| {
            e.is("CHANNEL_DESTROY") && e.unique_id() == Some(call.uuid.as_str())
        })
        .await
        .unwrap();
    }
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
