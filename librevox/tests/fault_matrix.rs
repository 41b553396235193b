//! The fault matrix (issue 13.11): {inbound listener, CommandSocket, outbound
//! session} × every [`Fault`] of the [`FaultProxy`] × four points of the
//! exchange (during the handshake, mid-command, mid-application,
//! mid-event-burst), each cell against its own simulator over loopback TCP.
//!
//! Every cell asserts:
//! * the operation at that point ends within its own timeout (plus slack):
//!   latency faults (delay, 1-byte split, throttle) let it succeed;
//!   half-open faults (stall, blackhole) fail it with `Error::Timeout` or
//!   `Error::Unresponsive` (the liveness probe); cuts (close, reset) fail it
//!   at once with a closed/I-O/protocol error — always a typed error;
//! * events of the burst arrive in order, none twice (some may be missed
//!   across a lost connection, as FreeSWITCH drops them too);
//! * after the fault, the client works again: an inbound listener has
//!   reconnected and re-subscribed (a second burst reaches it), a
//!   CommandSocket is dialled again, an outbound listener serves the next
//!   call.
//!
//! The test prints the matrix as a table (`--nocapture`).
#![cfg(feature = "simulator")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use librevox::listener::{
    run_inbound, serve_outbound, Backoff, Inbound, InboundListener, InboundSettings,
    OutboundListener, OutboundSettings, Session, Subscription,
};
use librevox::simulator::{
    CallSpec, Direction, Extension, Fault, FaultProxy, Rule, Simulator, SimulatorConfig,
};
use librevox::{
    CommandSocket, ConnectOptions, ConnectionConfig, Error, Event, Liveness, Message, Shutdown,
};
use tokio::sync::mpsc;
use tokio::time::Instant;

const REPLY: Duration = Duration::from_millis(1000);
const APP: Duration = Duration::from_millis(1500);
const SETUP: Duration = Duration::from_millis(1000);
const LIVENESS: Liveness = Liveness::new(Duration::from_millis(300), Duration::from_millis(300));
/// What a loaded two-core machine running several cells at once may add.
const SLACK: Duration = Duration::from_millis(1500);
const BURST: u32 = 100;
/// Where the burst is cut: this event's header.
const BURST_CUT: &str = "X-Seq: 40\n";
const PLAYBACK: Duration = Duration::from_millis(200);
const T: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Point {
    Handshake,
    Command,
    Application,
    Burst,
}

const POINTS: [Point; 4] = [
    Point::Handshake,
    Point::Command,
    Point::Application,
    Point::Burst,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Client {
    Inbound,
    Socket,
    Outbound,
}

fn faults() -> Vec<(&'static str, Fault)> {
    vec![
        ("delay 30 ms", Fault::Delay(Duration::from_millis(30))),
        ("split 1 B", Fault::Split(1)),
        (
            "throttle 50 kB/s",
            Fault::Throttle {
                bytes_per_second: 50_000,
            },
        ),
        ("stall", Fault::Stall),
        ("blackhole", Fault::Blackhole),
        ("close", Fault::Close),
        ("reset", Fault::Reset),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Latency,
    HalfOpen,
    Cut,
}

fn class(f: &Fault) -> Class {
    match f {
        Fault::Delay(_) | Fault::Split(_) | Fault::Throttle { .. } => Class::Latency,
        Fault::Stall | Fault::Blackhole => Class::HalfOpen,
        _ => Class::Cut,
    }
}

/// The rule that lands `fault` at `point`, on the bytes librevox reads
/// (`toward` the librevox side).
fn rule(fault: &Fault, point: Point, toward: Direction) -> Rule {
    let r = Rule::new(fault.clone()).direction(toward).once();
    match point {
        // In the middle of the greeting (inbound) / the connect reply
        // (outbound), whose first frame is a command/reply.
        Point::Handshake if toward == Direction::ServerToClient => {
            r.after_pattern("auth/request", 1)
        }
        Point::Handshake => r.after_pattern("Content-Type: command/reply", 5),
        Point::Command => r.after_pattern("Content-Type: api/response", 5),
        Point::Application => r.after_pattern("Event-Name: CHANNEL_EXECUTE_COMPLETE", 3),
        Point::Burst => r.after_pattern(BURST_CUT, 0),
    }
}

fn config() -> ConnectionConfig {
    ConnectionConfig {
        reply_timeout: REPLY,
        app_timeout: APP,
        job_timeout: APP,
        liveness: Some(LIVENESS),
        ..ConnectionConfig::default()
    }
}

fn sim_config() -> SimulatorConfig {
    SimulatorConfig {
        playback_duration: PLAYBACK,
        ..SimulatorConfig::default()
    }
    .extension(Extension::park("park"))
}

/// How one operation ended.
#[derive(Debug, Clone)]
struct Ended {
    result: Result<(), String>,
    kind: &'static str,
    took: Duration,
}

fn ended(r: librevox::Result<()>, took: Duration) -> Ended {
    let kind = match &r {
        Ok(()) => "ok",
        Err(Error::Timeout { .. }) => "Timeout",
        Err(Error::Unresponsive { .. }) => "Unresponsive",
        Err(Error::Closed { .. }) => "Closed",
        Err(Error::Io(_)) => "Io",
        Err(Error::Protocol(_)) => "Protocol",
        Err(Error::Hangup { .. }) => "Hangup",
        Err(_) => "other",
    };
    Ended {
        result: r.map_err(|e| e.to_string()),
        kind,
        took,
    }
}

/// The cell's verdict: the operation's end is what its fault class allows,
/// within `limit` (the wait's own timeout).
fn check_end(what: &str, class: Class, e: &Ended, limit: Duration) {
    match class {
        Class::Latency => assert!(e.result.is_ok(), "{what}: {e:?}"),
        Class::HalfOpen => {
            assert!(
                matches!(e.kind, "Timeout" | "Unresponsive" | "Closed"),
                "{what}: {e:?}"
            );
            assert!(e.took <= limit + SLACK, "{what}: waited {:?}", e.took);
        }
        Class::Cut => {
            assert!(
                matches!(e.kind, "Closed" | "Io" | "Protocol" | "Hangup"),
                "{what}: {e:?}"
            );
            assert!(e.took <= SLACK, "{what}: noticed after {:?}", e.took);
        }
    }
}

/// Fires the burst: `BURST` CUSTOM events, `X-Seq` 0.., on `uuid`'s channel
/// when given.
fn burst(sim: &Simulator, round: u32, uuid: Option<&str>) {
    for seq in 0..BURST {
        let seq = seq.to_string();
        let round = round.to_string();
        let mut headers = vec![
            ("Event-Subclass", "fault::burst"),
            ("X-Round", round.as_str()),
            ("X-Seq", seq.as_str()),
        ];
        if let Some(u) = uuid {
            headers.push(("Unique-ID", u));
        }
        sim.fire_event("CUSTOM", &headers, None);
    }
}

/// Burst events as (round, seq), in arrival order.
type Seen = Arc<Mutex<Vec<(u32, u32)>>>;

fn note(seen: &Seen, e: &Event) {
    if e.subclass() == Some("fault::burst") {
        let n = |h| e.header(h).and_then(|v| v.parse().ok()).unwrap_or(u32::MAX);
        seen.lock().unwrap().push((n("X-Round"), n("X-Seq")));
    }
}

/// In order, none twice.
fn check_order(what: &str, seen: &[(u32, u32)]) {
    for w in seen.windows(2) {
        assert!(w[0] < w[1], "{what}: {:?} then {:?}", w[0], w[1]);
    }
}

/// Until the whole burst was seen (`Ok`) or the connection ended (its
/// reason).
async fn until_full(seen: &Seen, conn: &librevox::Connection) -> librevox::Result<()> {
    let closed = conn.closed();
    tokio::pin!(closed);
    loop {
        if seen.lock().unwrap().len() == BURST as usize {
            return Ok(());
        }
        tokio::select! {
            e = &mut closed => return Err(e),
            _ = tokio::time::sleep(Duration::from_millis(5)) => {}
        }
    }
}

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + T;
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not within {T:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ----- CommandSocket -----

async fn socket(proxy: &FaultProxy, keep_events: bool) -> librevox::Result<CommandSocket> {
    let mut opts = ConnectOptions::new(proxy.addr().to_string()).keep_events(keep_events);
    opts.connect_timeout = SETUP;
    opts.config = config();
    CommandSocket::connect_with(opts).await
}

async fn socket_cell(name: &str, fault: Fault, point: Point) -> String {
    let what = format!("CommandSocket × {name} × {point:?}");
    let class = class(&fault);
    let sim = Simulator::start(sim_config()).await.unwrap();
    let proxy = FaultProxy::start(sim.local_addr().unwrap()).await.unwrap();
    let id = proxy.add(rule(&fault, point, Direction::ServerToClient));
    let started = Instant::now();
    let (end, limit, seen) = match point {
        Point::Handshake => {
            let r = socket(&proxy, false).await.map(|_| ());
            (ended(r, started.elapsed()), SETUP, Vec::new())
        }
        Point::Command => {
            let s = socket(&proxy, false).await.unwrap();
            let at = Instant::now();
            let r = s.api("status").await.map(|_| ());
            (ended(r, at.elapsed()), REPLY, Vec::new())
        }
        Point::Application => {
            let s = socket(&proxy, false).await.unwrap();
            let call = sim.place_call(CallSpec::new("park"));
            let at = Instant::now();
            let r = s
                .application(&call.uuid, "playback", "x.wav")
                .await
                .map(|_| ());
            (ended(r, at.elapsed()), APP + PLAYBACK, Vec::new())
        }
        Point::Burst => {
            let mut s = socket(&proxy, true).await.unwrap();
            let mut events = s.take_events().unwrap();
            s.command(&librevox::protocol::Command::event(
                librevox::EventFormat::Plain,
                &["CUSTOM fault::burst"],
            ))
            .await
            .unwrap();
            let seen: Seen = Arc::default();
            burst(&sim, 0, None);
            let at = Instant::now();
            let r = loop {
                match tokio::time::timeout(T, events.recv()).await {
                    Ok(Some(Message::Event(e))) => {
                        note(&seen, &e);
                        if seen.lock().unwrap().len() == BURST as usize {
                            break Ok(());
                        }
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => break Err(s.connection().closed().await),
                    Err(_) => panic!("{what}: the event stream neither ended nor finished"),
                }
            };
            let seen = seen.lock().unwrap().clone();
            (
                ended(r, at.elapsed()),
                LIVENESS.interval + LIVENESS.timeout,
                seen,
            )
        }
    };
    check_end(&what, class, &end, limit);
    check_order(&what, &seen);
    assert_eq!(proxy.fired(id), 1, "{what}: the fault fired");
    proxy.remove(id);
    // Dialled again, it works.
    let s = socket(&proxy, false).await.unwrap();
    assert!(s.api("status").await.is_ok(), "{what}: after the fault");
    format!("{} {:.1}s", end.kind, end.took.as_secs_f64())
}

// ----- inbound listener -----

async fn next_ctx(what: &str, ctxs: &mut mpsc::UnboundedReceiver<Inbound>) -> Inbound {
    tokio::time::timeout(T, ctxs.recv())
        .await
        .unwrap_or_else(|_| panic!("{what}: no connection"))
        .unwrap()
}

struct Watcher {
    seen: Seen,
    ctx: mpsc::UnboundedSender<Inbound>,
}

impl InboundListener for Watcher {
    fn subscription(&self) -> Subscription {
        Subscription {
            events: vec![
                "CHANNEL_EXECUTE_COMPLETE".into(),
                "CUSTOM fault::burst".into(),
            ],
            ..Subscription::default()
        }
    }
    async fn connection_completed(&self, ctx: &Inbound) {
        let _ = self.ctx.send(ctx.clone());
    }
    async fn handle_event(&self, _ctx: &Inbound, event: &Event) {
        note(&self.seen, event);
    }
}

fn subscriptions(sim: &Simulator) -> usize {
    sim.connections()
        .iter()
        .filter(|c| {
            c.received
                .iter()
                .any(|p| p.starts_with(b"event plain CHANNEL_EXECUTE_COMPLETE CUSTOM"))
        })
        .count()
}

async fn inbound_cell(name: &str, fault: Fault, point: Point) -> String {
    let what = format!("inbound × {name} × {point:?}");
    let class = class(&fault);
    let sim = Simulator::start(sim_config()).await.unwrap();
    let proxy = FaultProxy::start(sim.local_addr().unwrap()).await.unwrap();
    let id = proxy.add(rule(&fault, point, Direction::ServerToClient));
    let seen: Seen = Arc::default();
    let (tx, mut ctxs) = mpsc::unbounded_channel();
    let settings = InboundSettings {
        connect_timeout: SETUP,
        backoff: Backoff::new(Duration::from_millis(20), Duration::from_millis(200)),
        config: config(),
        shutdown_grace: Duration::from_secs(1),
        ..InboundSettings::new(proxy.addr().to_string())
    };
    let shutdown = Shutdown::new();
    let started = Instant::now();
    let task = tokio::spawn(run_inbound(
        Arc::new(Watcher {
            seen: seen.clone(),
            ctx: tx,
        }),
        settings,
        shutdown.clone(),
    ));
    let end = if point == Point::Handshake {
        // The first handshake meets the fault; with a latency fault it
        // succeeds, otherwise it fails within the handshake timeout and the
        // next attempt (the rule fires once) succeeds.
        let _ctx = next_ctx(&what, &mut ctxs).await;
        let took = started.elapsed();
        let attempts = proxy.stats().accepted;
        match class {
            Class::Latency => assert_eq!(attempts, 1, "{what}"),
            _ => {
                assert_eq!(attempts, 2, "{what}: {:?}", proxy.stats());
                assert!(
                    took <= SETUP + Duration::from_millis(200) + SLACK,
                    "{what}: connected after {took:?}"
                );
            }
        }
        Ended {
            result: Ok(()),
            kind: if attempts > 1 { "reconnected" } else { "ok" },
            took,
        }
    } else {
        let ctx = next_ctx(&what, &mut ctxs).await;
        let at = Instant::now();
        let (r, limit) = match point {
            Point::Command => (ctx.api("status").await.map(|_| ()), REPLY),
            Point::Application => {
                let call = sim.place_call(CallSpec::new("park"));
                let r = ctx
                    .application(&call.uuid, "playback", "x.wav")
                    .await
                    .map(|_| ());
                (r, APP + PLAYBACK)
            }
            _ => {
                burst(&sim, 0, None);
                let r = until_full(&seen, ctx.connection()).await;
                (r, LIVENESS.interval + LIVENESS.timeout)
            }
        };
        let e = ended(r, at.elapsed());
        check_end(&what, class, &e, limit);
        e
    };
    assert_eq!(proxy.fired(id), 1, "{what}: the fault fired");
    proxy.remove(id);
    if class != Class::Latency && point != Point::Handshake {
        // Half-open: the liveness probe ends the connection; cut: at once.
        // Either way the listener reconnects and subscribes again.
        let _again = next_ctx(&what, &mut ctxs).await;
    }
    let subscribed = subscriptions(&sim);
    assert!(subscribed >= 1, "{what}");
    if class != Class::Latency && point != Point::Handshake {
        assert!(subscribed >= 2, "{what}: re-subscribed {subscribed}");
    }
    // A burst after the fault arrives whole, in order.
    burst(&sim, 1, None);
    wait_until(&what, || {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|(round, _)| *round == 1)
            .count()
            == BURST as usize
    })
    .await;
    check_order(&what, &seen.lock().unwrap());
    shutdown.trigger();
    tokio::time::timeout(T, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    format!("{} {:.1}s", end.kind, end.took.as_secs_f64())
}

// ----- outbound session -----

/// One call's listener: its own burst record, sent with how
/// `session_initiated` ended.
struct Ivr {
    point: Point,
    seen: Seen,
    sim: Simulator,
    done: mpsc::UnboundedSender<(Ended, Vec<(u32, u32)>)>,
}

impl OutboundListener for Ivr {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        let at = Instant::now();
        let r = match self.point {
            Point::Handshake => Ok(()),
            Point::Command => call.api("status").await.map(|_| ()),
            Point::Application => call.application("playback", "x.wav").await.map(|_| ()),
            Point::Burst => {
                call.subscribe_custom().await?;
                burst(&self.sim, 0, Some(call.uuid()));
                until_full(&self.seen, call.connection()).await
            }
        };
        let seen = self.seen.lock().unwrap().clone();
        let _ = self.done.send((ended(r.clone(), at.elapsed()), seen));
        r
    }

    async fn handle_event(&self, _call: &Session, event: &Event) {
        note(&self.seen, event);
    }
}

trait SubscribeCustom {
    async fn subscribe_custom(&self) -> librevox::Result<()>;
}

impl SubscribeCustom for Session {
    async fn subscribe_custom(&self) -> librevox::Result<()> {
        self.command(&librevox::protocol::Command::event(
            librevox::EventFormat::Plain,
            &["CUSTOM fault::burst"],
        ))
        .await
        .map(|_| ())
    }
}

async fn outbound_cell(name: &str, fault: Fault, point: Point) -> String {
    let what = format!("outbound × {name} × {point:?}");
    let class = class(&fault);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server_addr = listener.local_addr().unwrap();
    // FreeSWITCH dials the proxy, the proxy the outbound listener.
    let proxy = FaultProxy::start(server_addr).await.unwrap();
    let sim = Simulator::start(sim_config().extension(Extension::socket(
        "ivr",
        &format!("{} async full", proxy.addr()),
    )))
    .await
    .unwrap();
    let id = proxy.add(rule(&fault, point, Direction::ClientToServer));
    let (tx, mut done) = mpsc::unbounded_channel();
    let shutdown = Shutdown::new();
    let settings = OutboundSettings {
        setup_timeout: SETUP,
        session_grace: Duration::from_secs(2),
        shutdown_grace: Duration::from_secs(2),
        config: config(),
        ..OutboundSettings::default()
    };
    let factory = {
        let sim = sim.clone();
        move || Ivr {
            point,
            seen: Seen::default(),
            sim: sim.clone(),
            done: tx.clone(),
        }
    };
    let server = tokio::spawn(serve_outbound(
        listener,
        factory,
        settings,
        shutdown.clone(),
    ));
    let started = Instant::now();
    sim.place_call(CallSpec::new("ivr"));
    let mut seen = Vec::new();
    let end = if point == Point::Handshake && class != Class::Latency {
        // The setup fails: no session starts; the socket is closed within
        // the setup timeout (the switch sees it close).
        sim.wait_for(T, |s| s.connections().first().is_some_and(|c| c.closed))
            .await
            .unwrap_or_else(|e| panic!("{what}: the socket was not closed: {e}"));
        let took = started.elapsed();
        assert!(took <= SETUP + SLACK, "{what}: closed after {took:?}");
        assert!(done.try_recv().is_err(), "{what}: session_initiated ran");
        Ended {
            result: Ok(()),
            kind: "closed",
            took,
        }
    } else {
        let (e, s) = tokio::time::timeout(T, done.recv())
            .await
            .unwrap_or_else(|_| panic!("{what}: session_initiated did not end"))
            .unwrap();
        seen = s;
        let limit = match point {
            Point::Handshake => SETUP,
            Point::Command => REPLY,
            Point::Application => APP + PLAYBACK,
            Point::Burst => LIVENESS.interval + LIVENESS.timeout,
        };
        check_end(&what, class, &e, limit);
        e
    };
    check_order(&what, &seen);
    assert_eq!(proxy.fired(id), 1, "{what}: the fault fired");
    proxy.remove(id);
    // The next call is served.
    sim.place_call(CallSpec::new("ivr"));
    let (next, next_seen) = tokio::time::timeout(T, done.recv())
        .await
        .unwrap_or_else(|_| panic!("{what}: the next call was not served"))
        .unwrap();
    assert!(next.result.is_ok(), "{what}: next call {next:?}");
    check_order(&what, &next_seen);
    shutdown.trigger();
    tokio::time::timeout(T, server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    format!("{} {:.1}s", end.kind, end.took.as_secs_f64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_survives_every_fault_at_every_point() {
    let mut table = Vec::new();
    let mut failures = Vec::new();
    for client in [Client::Inbound, Client::Socket, Client::Outbound] {
        for (name, fault) in faults() {
            // The four points of a row run at once, each on its own switch.
            let cells = POINTS.map(|point| {
                let fault = fault.clone();
                tokio::spawn(async move {
                    match client {
                        Client::Inbound => inbound_cell(name, fault, point).await,
                        Client::Socket => socket_cell(name, fault, point).await,
                        Client::Outbound => outbound_cell(name, fault, point).await,
                    }
                })
            });
            let mut row = vec![format!("{client:?}"), name.to_owned()];
            for cell in cells {
                match cell.await {
                    Ok(text) => row.push(text),
                    Err(e) => {
                        let panic = e.into_panic();
                        let text = panic
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default();
                        failures.push(text);
                        row.push("FAILED".to_owned());
                    }
                }
            }
            table.push(row);
        }
    }
    println!("| client | fault | handshake | mid-command | mid-application | mid-event-burst |");
    println!("|---|---|---|---|---|---|");
    for row in table {
        println!("| {} |", row.join(" | "));
    }
    assert!(
        failures.is_empty(),
        "{} cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
