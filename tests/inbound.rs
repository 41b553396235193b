//! Inbound listeners written with `#[inbound]`, run by `run_inbound`
//! against the simulator over TCP.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use librevox::listener::{
    run_inbound, Backoff, Inbound, InboundListener, InboundSettings, Subscription,
};
use librevox::simulator::{Simulator, SimulatorConfig};
use librevox::{event, inbound, Event, EventFormat, Shutdown};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tracing::Level;

use crate::support::*;

/// Runs `listener` against `sim` until the returned handle is triggered.
fn spawn_inbound<L: InboundListener>(
    listener: L,
    sim: &Simulator,
) -> (Shutdown, JoinHandle<librevox::Result<()>>) {
    let token = Shutdown::new();
    let task = tokio::spawn(run_inbound(
        Arc::new(listener),
        inbound_settings(sim),
        token.clone(),
    ));
    (token, task)
}

/// Cancels the listener and waits for it to stop cleanly.
async fn stop(token: Shutdown, task: JoinHandle<librevox::Result<()>>) {
    token.trigger();
    within("the inbound listener to stop", task)
        .await
        .expect("the listener task did not panic")
        .expect("the listener stopped without error");
}

// ----- handshake and filters -----

struct Monitor {
    sim: Simulator,
    completed: mpsc::UnboundedSender<Vec<String>>,
    seen: mpsc::UnboundedSender<String>,
}

#[inbound(events = ["CHANNEL_EXECUTE", "CHANNEL_HANGUP", "CUSTOM conference::maintenance"],
          filters("Caller-Context" = ["default", "example"], "Caller-Privacy-Hide-Name" = "no"))]
impl Monitor {
    async fn connection_completed(&self) {
        // What FreeSWITCH has received when the hook runs.
        let rec = inbound_records(&self.sim).pop().expect("a connection");
        let _ = self.completed.send(texts(&rec.received));
    }

    #[event(channel_hangup)]
    async fn hangup(&self, event: &Event) {
        let _ = self.seen.send(format!(
            "hangup {}",
            event.header("Caller-Context").unwrap_or("-")
        ));
    }

    #[event(channel_execute)]
    async fn execute(&self, _ctx: &Inbound, event: &Event) {
        let _ = self.seen.send(format!(
            "execute {}",
            event.header("Caller-Context").unwrap_or("-")
        ));
    }
}

/// Starts a [`Monitor`] against `sim`, returning the channel of its hooks'
/// reports and the packets FreeSWITCH had received when
/// `connection_completed` ran.
async fn start_monitor(
    sim: &Simulator,
) -> (
    Shutdown,
    JoinHandle<librevox::Result<()>>,
    Rx<String>,
    Vec<String>,
) {
    let (completed, mut completed_rx) = recorder();
    let (seen, seen_rx) = recorder();
    let (token, task) = spawn_inbound(
        Monitor {
            sim: sim.clone(),
            completed,
            seen,
        },
        sim,
    );
    let received = completed_rx.next().await;
    (token, task, seen_rx, received)
}

#[tokio::test]
async fn handshake_is_auth_then_one_filter_per_value_in_order_then_event() {
    let sim = simulator(config(1)).await;
    let (token, task, _seen, received) = start_monitor(&sim).await;
    // Filters before the subscription (no unfiltered window), and
    // connection_completed runs after the subscription, not before.
    assert_eq!(
        received,
        [
            "auth ClueCon\n\n",
            "filter Caller-Context default\n\n",
            "filter Caller-Context example\n\n",
            "filter Caller-Privacy-Hide-Name no\n\n",
            "event plain CHANNEL_EXECUTE CHANNEL_HANGUP CUSTOM conference::maintenance\n\n",
        ]
    );
    let rec = inbound_records(&sim).pop().unwrap();
    assert_eq!(
        texts(&rec.sent),
        [
            GREETING.to_owned(),
            reply_frame("+OK accepted"),
            reply_frame("+OK filter added. [Caller-Context]=[default]"),
            reply_frame("+OK filter added. [Caller-Context]=[example]"),
            reply_frame("+OK filter added. [Caller-Privacy-Hide-Name]=[no]"),
            reply_frame("+OK event listener enabled plain"),
        ]
    );
    stop(token, task).await;
}

#[tokio::test]
async fn only_events_matching_a_filter_reach_the_hooks() {
    let sim = simulator(config(12)).await;
    let (token, task, mut seen_rx, _) = start_monitor(&sim).await;
    let ctx = |c: &'static str| [("Unique-ID", "f1"), ("Caller-Context", c)];
    sim.fire_event("CHANNEL_HANGUP", &ctx("default"), None);
    sim.fire_event("CHANNEL_HANGUP", &ctx("public"), None);
    sim.fire_event("CHANNEL_EXECUTE", &ctx("example"), None);
    sim.fire_event(
        "CHANNEL_EXECUTE",
        &[("Unique-ID", "f1"), ("Caller-Privacy-Hide-Name", "no")],
        None,
    );
    assert_eq!(seen_rx.next().await, "hangup default");
    assert_eq!(seen_rx.next().await, "execute example");
    assert_eq!(seen_rx.next().await, "execute -");
    stop(token, task).await;
    assert!(
        seen_rx.drain().is_empty(),
        "the `public` hangup was filtered out"
    );
}

struct Everything {
    sim: Simulator,
    completed: mpsc::UnboundedSender<Vec<String>>,
    seen: mpsc::UnboundedSender<(String, String)>,
}

#[inbound]
impl Everything {
    async fn connection_completed(&self) {
        let rec = inbound_records(&self.sim).pop().expect("a connection");
        let _ = self.completed.send(texts(&rec.received));
    }

    async fn on_event(&self, event: &Event) {
        if let Some(v) = event.header("X-Value") {
            let _ = self
                .seen
                .send((event.name().unwrap_or("").to_owned(), v.to_owned()));
        }
    }
}

struct JsonMonitor {
    sim: Simulator,
    completed: mpsc::UnboundedSender<Vec<String>>,
    seen: mpsc::UnboundedSender<(String, String)>,
}

#[inbound(events = ["DTMF", "CUSTOM my::thing"], format = "json")]
impl JsonMonitor {
    async fn connection_completed(&self) {
        let rec = inbound_records(&self.sim).pop().expect("a connection");
        let _ = self.completed.send(texts(&rec.received));
    }

    #[event(dtmf, custom = "my::thing")]
    async fn any(&self, event: &Event) {
        let _ = self.seen.send((
            event.name().unwrap_or("").to_owned(),
            event.header("X-Value").unwrap_or("").to_owned(),
        ));
    }
}

/// A value with characters that every event format encodes differently.
const AWKWARD: &str = "a b+c%d: é";

#[tokio::test]
async fn the_default_subscription_is_every_event_in_plain() {
    let sim = simulator(config(2)).await;
    let (completed, mut completed_rx) = recorder();
    let (seen, mut seen_rx) = recorder();
    let (token, task) = spawn_inbound(
        Everything {
            sim: sim.clone(),
            completed,
            seen,
        },
        &sim,
    );
    assert_eq!(
        completed_rx.next().await,
        ["auth ClueCon\n\n", "event plain ALL\n\n"]
    );
    sim.fire_event("HEARTBEAT", &[("X-Value", AWKWARD)], None);
    assert_eq!(
        seen_rx.next().await,
        ("HEARTBEAT".to_owned(), AWKWARD.to_owned())
    );
    stop(token, task).await;
}

#[tokio::test]
async fn format_json_is_subscribed_delivered_and_decoded() {
    let sim = simulator(config(13)).await;
    let (completed, mut completed_rx) = recorder();
    let (seen, mut seen_rx) = recorder();
    let (token, task) = spawn_inbound(
        JsonMonitor {
            sim: sim.clone(),
            completed,
            seen,
        },
        &sim,
    );
    assert_eq!(
        completed_rx.next().await,
        ["auth ClueCon\n\n", "event json DTMF CUSTOM my::thing\n\n"]
    );
    sim.fire_event("DTMF", &[("X-Value", AWKWARD)], None);
    sim.fire_event(
        "CUSTOM",
        &[("Event-Subclass", "my::thing"), ("X-Value", AWKWARD)],
        None,
    );
    assert_eq!(
        seen_rx.next().await,
        ("DTMF".to_owned(), AWKWARD.to_owned())
    );
    assert_eq!(
        seen_rx.next().await,
        ("CUSTOM".to_owned(), AWKWARD.to_owned())
    );
    // The events really went out as JSON.
    let rec = inbound_records(&sim).pop().unwrap();
    let json_frames = texts(&rec.sent)
        .into_iter()
        .filter(|f| f.contains("Content-Type: text/event-json"))
        .count();
    assert_eq!(json_frames, 2);
    stop(token, task).await;
}

// ----- filters in declaration order, for any subscription -----

struct Scripted {
    sub: Subscription,
    sim: Simulator,
    completed: mpsc::UnboundedSender<Vec<String>>,
}

impl InboundListener for Scripted {
    fn subscription(&self) -> Subscription {
        self.sub.clone()
    }

    async fn connection_completed(&self, _ctx: &Inbound) {
        let rec = inbound_records(&self.sim).pop().expect("a connection");
        let _ = self.completed.send(texts(&rec.received));
    }

    async fn handle_event(&self, _ctx: &Inbound, _event: &Event) {}
}

mod filter_order {
    use super::*;
    use proptest::prelude::*;

    fn header() -> impl Strategy<Value = String> {
        "[A-Z][a-z]{0,5}(-[A-Z][a-z]{0,5}){0,2}"
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9_.@]{1,10}",
            "-[a-z0-9]{1,6}",
            "/\\^[a-z]{1,4}/",
            "[a-z]{1,4} [a-z]{1,4}",
        ]
    }

    fn events() -> impl Strategy<Value = Vec<String>> {
        proptest::sample::subsequence(
            vec![
                "CHANNEL_CREATE",
                "CHANNEL_ANSWER",
                "CHANNEL_HANGUP",
                "DTMF",
                "HEARTBEAT",
                "BACKGROUND_JOB",
            ],
            1..=4,
        )
        .prop_map(|v| v.into_iter().map(str::to_owned).collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

        /// Whatever the subscription, the handshake is `auth`, one `event`
        /// line with the names in order, then one `filter` per value in
        /// order, and `connection_completed` comes after the last reply.
        #[test]
        fn filters_are_sent_in_declaration_order(
            events in events(),
            filters in proptest::collection::vec((header(), value()), 0..6),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let received = rt.block_on(async {
                let sim = simulator(config(3)).await;
                let (completed, mut rx) = recorder();
                let sub = Subscription {
                    events: events.clone(),
                    format: EventFormat::Plain,
                    filters: filters.clone(),
                };
                let (token, task) = spawn_inbound(Scripted { sub, sim: sim.clone(), completed }, &sim);
                let received = rx.next().await;
                stop(token, task).await;
                received
            });
            let mut expected = vec!["auth ClueCon\n\n".to_owned()];
            expected.extend(filters.iter().map(|(h, v)| format!("filter {h} {v}\n\n")));
            expected.push(format!("event plain {}\n\n", events.join(" ")));
            prop_assert_eq!(received, expected);
        }
    }
}

// ----- reconnect -----

#[derive(Default)]
struct LifeLog {
    notes: Mutex<Vec<String>>,
}

struct Survivor {
    life: Arc<LifeLog>,
    tx: mpsc::UnboundedSender<String>,
}

impl Survivor {
    fn note(&self, what: String) {
        self.life.notes.lock().unwrap().push(what.clone());
        let _ = self.tx.send(what);
    }
}

#[inbound(events = ["CHANNEL_ANSWER"], filters("Caller-Context" = ["default", "example"]))]
impl Survivor {
    async fn connection_completed(&self, ctx: &Inbound) {
        // One listener value lives across reconnects: count on it.
        let n = self.life.notes.lock().unwrap().len();
        self.note(format!("completed ({n} notes before) to {}", ctx.addr()));
    }

    async fn reconnected(&self) {
        self.note("reconnected".to_owned());
    }

    #[event(channel_answer)]
    async fn answered(&self, event: &Event) {
        self.note(format!("answer {}", event.header("X-N").unwrap_or("")));
    }
}

#[tokio::test]
async fn reconnects_after_the_switch_restarts_and_replays_the_subscription() {
    let (logs, _guard) = Logs::capture();
    let first = simulator(config(4)).await;
    let addr = first.local_addr().unwrap();
    let life = Arc::new(LifeLog::default());
    let (tx, mut rx) = recorder();
    let (token, task) = spawn_inbound(
        Survivor {
            life: life.clone(),
            tx,
        },
        &first,
    );
    assert_eq!(
        rx.next().await,
        format!("completed (0 notes before) to {addr}")
    );
    first.fire_event(
        "CHANNEL_ANSWER",
        &[("Caller-Context", "default"), ("X-N", "1")],
        None,
    );
    assert_eq!(rx.next().await, "answer 1");

    // FreeSWITCH restarts on the same port.
    first.shutdown().await;
    let second = simulator(SimulatorConfig {
        listen: Some(addr),
        ..config(5)
    })
    .await;
    assert_eq!(rx.next().await, "reconnected");
    assert_eq!(
        rx.next().await,
        format!("completed (3 notes before) to {addr}")
    );
    let handshake = [
        "auth ClueCon\n\n",
        "filter Caller-Context default\n\n",
        "filter Caller-Context example\n\n",
        "event plain CHANNEL_ANSWER\n\n",
    ];
    let old = inbound_records(&first);
    assert_eq!(old.len(), 1);
    assert_eq!(texts(&old[0].received), handshake);
    assert!(old[0].closed);
    let new = inbound_records(&second);
    assert_eq!(new.len(), 1, "one connection to the new switch");
    assert_eq!(texts(&new[0].received), handshake);

    // The replayed filters are in force on the new connection.
    second.fire_event(
        "CHANNEL_ANSWER",
        &[("Caller-Context", "public"), ("X-N", "filtered")],
        None,
    );
    second.fire_event(
        "CHANNEL_ANSWER",
        &[("Caller-Context", "example"), ("X-N", "2")],
        None,
    );
    assert_eq!(rx.next().await, "answer 2");
    logs.wait_text(
        Level::WARN,
        "reconnected; events fired while disconnected were missed",
    )
    .await;
    stop(token, task).await;
    assert!(rx.drain().is_empty());
    assert_eq!(
        *life.notes.lock().unwrap(),
        [
            format!("completed (0 notes before) to {addr}"),
            "answer 1".to_owned(),
            "reconnected".to_owned(),
            format!("completed (3 notes before) to {addr}"),
            "answer 2".to_owned(),
        ]
    );
}

// ----- FreeSWITCH not up yet -----

/// Counts its lifecycle calls.
#[derive(Default)]
struct Patient {
    completed: std::sync::atomic::AtomicUsize,
    reconnected: std::sync::atomic::AtomicUsize,
    tx: Mutex<Option<mpsc::UnboundedSender<&'static str>>>,
}

#[inbound(events = ["CHANNEL_ANSWER"])]
impl Patient {
    async fn connection_completed(&self) {
        self.completed
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let Some(tx) = &*self.tx.lock().unwrap() {
            let _ = tx.send("completed");
        }
    }

    async fn reconnected(&self) {
        self.reconnected
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// An address nothing listens on (bound, then released).
fn closed_port() -> std::net::SocketAddr {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap()
}

const CANNOT_CONNECT: &str = "cannot connect to FreeSWITCH; retrying in";

/// The "cannot connect" warnings so far: one per failed attempt.
fn failed_attempts(logs: &Logs) -> Vec<LogRecord> {
    logs.at(Level::WARN)
        .into_iter()
        .filter(|r| r.text.contains(CANNOT_CONNECT))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn refused_connections_are_retried_with_growing_delays() {
    const INITIAL: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_millis(800);
    const ATTEMPTS: usize = 7;
    let (logs, _guard) = Logs::capture();
    let addr = closed_port();
    let mut settings = InboundSettings::new(addr.to_string());
    settings.backoff = Backoff::new(INITIAL, MAX);
    // However a refused connect is reported (at once, or only once the
    // paused clock has jumped to this deadline), an attempt ends within
    // 1 ms of virtual time: the gaps below are the backoff delays.
    settings.connect_timeout = Duration::from_millis(1);
    let started = tokio::time::Instant::now();
    let shutdown = Shutdown::new();
    let task = tokio::spawn(run_inbound(
        Arc::new(Patient::default()),
        settings,
        shutdown.clone(),
    ));
    logs.wait_for("the failed attempts", |_| {
        failed_attempts(&logs).len() >= ATTEMPTS
    })
    .await;
    shutdown.trigger();
    within("the listener to stop", task).await.unwrap().unwrap();
    let failures: Vec<_> = failed_attempts(&logs).iter().map(|r| r.at).collect();
    // Stopped during the delay after the last failure: no attempt more.
    assert_eq!(failures.len(), ATTEMPTS);
    let slack = Duration::from_millis(2);
    // The first attempt is made at once.
    assert!(
        failures[0] - started <= slack,
        "{:?}",
        failures[0] - started
    );
    // Each delay is the doubled base (capped), jittered into [base/2, base].
    for (k, pair) in failures.windows(2).enumerate() {
        let gap = pair[1] - pair[0];
        let base = (INITIAL * 2u32.pow(k as u32)).min(MAX);
        assert!(
            gap + slack >= base / 2 && gap <= base + slack,
            "delay {k}: {gap:?} not in [{:?}, {base:?}]",
            base / 2
        );
    }
}

/// The "connected" lines so far: one per handshake that succeeded.
fn connections(logs: &Logs) -> Vec<tokio::time::Instant> {
    logs.at(Level::INFO)
        .into_iter()
        .filter(|r| r.text.contains("inbound listener connected"))
        .map(|r| r.at)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn sessions_dropped_right_after_the_login_are_retried_ever_more_slowly() {
    use librevox::simulator::{Direction, Fault, FaultProxy, Rule};
    const INITIAL: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_millis(1600);
    const HEALTHY: Duration = Duration::from_secs(5);
    const CUTS: usize = 6;
    let (logs, _guard) = Logs::capture();
    let sim = simulator(config(16)).await;
    let proxy = FaultProxy::start(sim.local_addr().unwrap()).await.unwrap();
    // Every session dies right after the `event` reply: login and
    // subscription succeed, then FreeSWITCH is gone.
    let cut = proxy.add(
        Rule::new(Fault::Close)
            .direction(Direction::ServerToClient)
            .after_pattern("+OK event listener enabled plain\n\n", 0),
    );
    let mut settings = InboundSettings::new(proxy.addr().to_string());
    settings.backoff = Backoff {
        healthy_after: HEALTHY,
        ..Backoff::new(INITIAL, MAX)
    };
    let shutdown = Shutdown::new();
    let task = tokio::spawn(run_inbound(
        Arc::new(Patient::default()),
        settings,
        shutdown.clone(),
    ));
    proxy
        .wait_fired(cut, CUTS as u64, Duration::from_secs(60))
        .await
        .unwrap();
    // The next session stays up.
    proxy.remove(cut);
    logs.wait_for("the session after the cuts", |_| {
        connections(&logs).len() > CUTS
    })
    .await;
    let up = connections(&logs);
    assert_eq!(up.len(), CUTS + 1, "one handshake per session");
    let slack = Duration::from_millis(2);
    // Each loss of a session younger than `healthy_after` is one more failed
    // attempt: the delays double (capped), jittered into [base/2, base].
    for (k, pair) in up.windows(2).enumerate() {
        let gap = pair[1] - pair[0];
        let base = (INITIAL * 2u32.pow(k as u32)).min(MAX);
        assert!(
            gap + slack >= base / 2 && gap <= base + slack,
            "delay {k}: {gap:?} not in [{:?}, {base:?}]",
            base / 2
        );
    }
    // A session that stayed up `healthy_after` resets the delays: its loss
    // is retried after the initial delay again.
    tokio::time::sleep(HEALTHY).await;
    let lost_at = tokio::time::Instant::now();
    proxy.close_all();
    logs.wait_for("the reconnection after a healthy session", |_| {
        connections(&logs).len() > CUTS + 1
    })
    .await;
    let gap = connections(&logs)[CUTS + 1] - lost_at;
    assert!(
        gap + slack >= INITIAL / 2 && gap <= INITIAL + slack,
        "after a healthy session: {gap:?} not in [{:?}, {INITIAL:?}]",
        INITIAL / 2
    );
    stop(shutdown, task).await;
}

#[tokio::test]
async fn a_listener_started_before_freeswitch_connects_once_it_is_up() {
    let (logs, _guard) = Logs::capture();
    let addr = closed_port();
    let patient = Arc::new(Patient::default());
    let (tx, mut rx) = recorder();
    *patient.tx.lock().unwrap() = Some(tx);
    let mut settings = InboundSettings::new(addr.to_string());
    settings.backoff = Backoff::new(Duration::from_millis(5), Duration::from_millis(20));
    let shutdown = Shutdown::new();
    let task = tokio::spawn(run_inbound(patient.clone(), settings, shutdown.clone()));
    logs.wait_for("two failed attempts", |_| failed_attempts(&logs).len() >= 2)
        .await;
    let sim = simulator(SimulatorConfig {
        listen: Some(addr),
        ..config(14)
    })
    .await;
    assert_eq!(rx.next().await, "completed");
    let records = inbound_records(&sim);
    assert_eq!(records.len(), 1);
    assert_eq!(
        texts(&records[0].received),
        ["auth ClueCon\n\n", "event plain CHANNEL_ANSWER\n\n"]
    );
    // The first connection is not a reconnection: nothing was missed.
    assert_eq!(
        patient.completed.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert_eq!(
        patient
            .reconnected
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    stop(shutdown, task).await;
}

// ----- a subscription that cannot work -----

struct Misconfigured {
    context: String,
}

#[inbound(events = ["CHANNEL_ANSWER"], filters("Caller-Context" = self.context.clone()))]
impl Misconfigured {}

#[tokio::test]
async fn a_computed_filter_value_freeswitch_would_refuse_stops_the_listener_at_once() {
    let sim = simulator(config(15)).await;
    for bad in ["", "a\nb"] {
        let (_token, task) = spawn_inbound(
            Misconfigured {
                context: bad.to_owned(),
            },
            &sim,
        );
        let err = within("the listener to refuse", task)
            .await
            .unwrap()
            .expect_err("an invalid subscription is an error");
        assert!(
            matches!(&err, librevox::Error::InvalidCommand(m) if m.contains("Caller-Context")),
            "{err:?}"
        );
    }
    assert!(inbound_records(&sim).is_empty(), "nothing was sent");
}

/// A listener whose subscription is whatever `sub` holds when asked.
struct Computed {
    sub: Mutex<Subscription>,
    /// Set in `connection_completed`: the subscription of the next handshake.
    next: Mutex<Option<Subscription>>,
    completed: mpsc::UnboundedSender<()>,
}

impl Computed {
    fn new(sub: Subscription) -> (Computed, Rx<()>) {
        let (completed, rx) = recorder();
        let l = Computed {
            sub: Mutex::new(sub),
            next: Mutex::new(None),
            completed,
        };
        (l, rx)
    }
}

impl InboundListener for Computed {
    fn subscription(&self) -> Subscription {
        self.sub.lock().unwrap().clone()
    }

    async fn connection_completed(&self, _ctx: &Inbound) {
        if let Some(next) = self.next.lock().unwrap().take() {
            *self.sub.lock().unwrap() = next;
        }
        let _ = self.completed.send(());
    }

    async fn handle_event(&self, _ctx: &Inbound, _event: &Event) {}
}

fn events_sub(names: &[&str]) -> Subscription {
    Subscription {
        events: names.iter().map(|n| n.to_string()).collect(),
        ..Subscription::default()
    }
}

#[tokio::test]
async fn an_event_name_with_a_line_break_stops_the_listener_at_once() {
    let sim = simulator(config(17)).await;
    let (listener, _rx) = Computed::new(events_sub(&["CHANNEL_ANSWER\nCHANNEL_HANGUP"]));
    let (_token, task) = spawn_inbound(listener, &sim);
    let err = within("the listener to refuse", task)
        .await
        .unwrap()
        .expect_err("an event name with a line break is an error");
    assert!(
        matches!(&err, librevox::Error::InvalidCommand(m) if m.contains("CHANNEL_ANSWER\\nCHANNEL_HANGUP")),
        "{err:?}"
    );
    assert!(inbound_records(&sim).is_empty(), "nothing was sent");
}

#[tokio::test]
async fn a_subscription_freeswitch_refuses_stops_the_listener_with_its_reply() {
    let sim = simulator(config(18)).await;
    // No known event name: FreeSWITCH answers `-ERR no keywords supplied`.
    let (listener, _rx) = Computed::new(events_sub(&["NO_SUCH_EVENT"]));
    let (_token, task) = spawn_inbound(listener, &sim);
    let err = within("the listener to stop", task)
        .await
        .unwrap()
        .expect_err("a refused subscription is an error");
    match &err {
        librevox::Error::CommandFailed { command, reply } => {
            assert_eq!(command, "event plain NO_SUCH_EVENT");
            assert_eq!(reply, "-ERR no keywords supplied");
        }
        other => panic!("{other:?}"),
    }
    // Asked once, not retried.
    let records = inbound_records(&sim);
    assert_eq!(records.len(), 1);
    assert_eq!(
        texts(&records[0].received),
        ["auth ClueCon\n\n", "event plain NO_SUCH_EVENT\n\n"]
    );
}

#[tokio::test]
async fn a_subscription_that_turns_invalid_stops_the_listener_at_the_reconnection() {
    use librevox::simulator::FaultProxy;
    let sim = simulator(config(19)).await;
    let proxy = FaultProxy::start(sim.local_addr().unwrap()).await.unwrap();
    let (listener, mut completed) = Computed::new(events_sub(&["CHANNEL_ANSWER"]));
    // Computed from state that changed while connected.
    *listener.next.lock().unwrap() = Some(Subscription {
        filters: vec![("Caller-Context".into(), "a\r\nevent plain ALL".into())],
        ..events_sub(&["CHANNEL_ANSWER"])
    });
    let mut settings = inbound_settings(&sim);
    settings.addr = proxy.addr().to_string();
    let token = Shutdown::new();
    let task = tokio::spawn(run_inbound(Arc::new(listener), settings, token.clone()));
    completed.next().await;
    proxy.close_all();
    let err = within("the listener to stop", task)
        .await
        .unwrap()
        .expect_err("the new subscription cannot be sent");
    assert!(
        matches!(&err, librevox::Error::InvalidCommand(m) if m.contains("Caller-Context")),
        "{err:?}"
    );
    // The second handshake stopped before connecting.
    assert_eq!(proxy.stats().accepted, 1, "{:?}", proxy.stats());
    assert_eq!(inbound_records(&sim).len(), 1);
}

// ----- per-channel ordering -----

type Trace = Arc<Mutex<HashMap<String, Vec<String>>>>;

struct Flood {
    trace: Trace,
    done: mpsc::UnboundedSender<()>,
}

impl Flood {
    fn push(&self, event: &Event, what: &str) {
        let uuid = event.unique_id().unwrap_or("").to_owned();
        let seq = event.header("X-Seq").unwrap_or("?");
        self.trace
            .lock()
            .unwrap()
            .entry(uuid)
            .or_default()
            .push(format!("{what}{seq}"));
    }
}

#[inbound(events = ["DTMF"])]
impl Flood {
    async fn on_event(&self, event: &Event) {
        self.push(event, "e");
        // Give the other channels' workers every chance to run in between.
        tokio::task::yield_now().await;
    }

    #[event(dtmf)]
    async fn digit(&self, event: &Event) {
        tokio::task::yield_now().await;
        self.push(event, "h");
        let _ = self.done.send(());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_channel_sees_its_own_events_in_order_under_a_flood() {
    const CHANNELS: usize = 24;
    const EACH: usize = 40;
    let sim = simulator(config(6)).await;
    let trace = Trace::default();
    let (done, mut done_rx) = recorder();
    let (token, task) = spawn_inbound(
        Flood {
            trace: trace.clone(),
            done,
        },
        &sim,
    );
    inbound_with_packets(&sim, 0, 2).await;
    // Interleaved: event i of every channel, then event i + 1 ...
    for i in 0..EACH {
        for c in 0..CHANNELS {
            sim.fire_event(
                "DTMF",
                &[
                    ("Unique-ID", &format!("chan-{c}")),
                    ("X-Seq", &i.to_string()),
                ],
                None,
            );
        }
    }
    for _ in 0..CHANNELS * EACH {
        done_rx.next().await;
    }
    let trace = trace.lock().unwrap().clone();
    assert_eq!(trace.len(), CHANNELS);
    let expected: Vec<String> = (0..EACH)
        .flat_map(|i| [format!("e{i}"), format!("h{i}")])
        .collect();
    for (uuid, seen) in &trace {
        assert_eq!(seen, &expected, "channel {uuid}");
    }
    stop(token, task).await;
}

struct Gated {
    gate: Arc<Notify>,
    seen: mpsc::UnboundedSender<String>,
}

#[inbound(events = ["CHANNEL_PROGRESS"])]
impl Gated {
    #[event(channel_progress)]
    async fn progress(&self, event: &Event) {
        let uuid = event.unique_id().unwrap_or("");
        let n = event.header("X-N").unwrap_or("");
        if uuid == "slow" && n == "1" {
            self.gate.notified().await;
        }
        let _ = self.seen.send(format!("{uuid} {n}"));
    }
}

#[tokio::test]
async fn a_slow_hook_on_one_channel_does_not_hold_up_another() {
    let sim = simulator(config(7)).await;
    let gate = Arc::new(Notify::new());
    let (seen, mut rx) = recorder();
    let (token, task) = spawn_inbound(
        Gated {
            gate: gate.clone(),
            seen,
        },
        &sim,
    );
    inbound_with_packets(&sim, 0, 2).await;
    let fire = |uuid: &str, n: &str| {
        sim.fire_event("CHANNEL_PROGRESS", &[("Unique-ID", uuid), ("X-N", n)], None);
    };
    fire("slow", "1");
    fire("slow", "2");
    for n in 1..=5 {
        fire("fast", &n.to_string());
    }
    // The fast channel is handled completely while the slow hook is stuck.
    for n in 1..=5 {
        assert_eq!(rx.next().await, format!("fast {n}"));
    }
    assert!(rx.drain().is_empty(), "the slow channel did not wait");
    gate.notify_one();
    assert_eq!(rx.next().await, "slow 1");
    assert_eq!(rx.next().await, "slow 2");
    stop(token, task).await;
}

// ----- CUSTOM subclasses -----

struct Conferences {
    seen: mpsc::UnboundedSender<String>,
}

#[inbound(events = ["CUSTOM a::b a::bc c::d"])]
impl Conferences {
    async fn on_event(&self, event: &Event) {
        let _ = self
            .seen
            .send(format!("on_event {}", event.subclass().unwrap_or("-")));
    }

    #[event(custom = "a::b")]
    async fn ab(&self, event: &Event) {
        let _ = self
            .seen
            .send(format!("a::b hook {}", event.subclass().unwrap_or("-")));
    }

    #[event(custom = "c::d", "CUSTOM a::bc")]
    async fn others(&self, event: &Event) {
        let _ = self.seen.send(format!(
            "c::d|a::bc hook {}",
            event.subclass().unwrap_or("-")
        ));
    }
}

#[tokio::test]
async fn custom_hooks_match_only_their_subclass() {
    let sim = simulator(config(8)).await;
    let (seen, mut rx) = recorder();
    let (token, task) = spawn_inbound(Conferences { seen }, &sim);
    let rec = inbound_with_packets(&sim, 0, 2).await;
    assert_eq!(
        texts(&rec.received)[1],
        "event plain CUSTOM a::b a::bc c::d\n\n"
    );
    for sub in ["a::bc", "c::d", "a::b", "x::y"] {
        sim.fire_event("CUSTOM", &[("Event-Subclass", sub)], None);
    }
    // Events without a Unique-ID share one worker: this order is exact.
    let mut got = Vec::new();
    for _ in 0..6 {
        got.push(rx.next().await);
    }
    assert_eq!(
        got,
        [
            "on_event a::bc",
            "c::d|a::bc hook a::bc",
            "on_event c::d",
            "c::d|a::bc hook c::d",
            "on_event a::b",
            "a::b hook a::b",
        ]
    );
    // x::y is not subscribed: FreeSWITCH does not send it.
    sim.fire_event("CUSTOM", &[("Event-Subclass", "c::d")], None);
    assert_eq!(rx.next().await, "on_event c::d");
    assert_eq!(rx.next().await, "c::d|a::bc hook c::d");
    stop(token, task).await;
}

// ----- a panicking hook, a hook calling api -----

struct Fragile {
    seen: mpsc::UnboundedSender<String>,
}

#[inbound(events = ["CHANNEL_EXECUTE"])]
impl Fragile {
    #[event(channel_execute)]
    async fn run(&self, event: &Event) {
        if event.header("X-Panic").is_some() {
            panic!("a hook panicking on purpose");
        }
        let _ = self.seen.send(event.header("X-N").unwrap_or("").to_owned());
    }
}

#[tokio::test]
async fn a_panicking_hook_is_logged_and_the_connection_goes_on() {
    let (logs, _guard) = Logs::capture();
    let sim = simulator(config(9)).await;
    let (seen, mut rx) = recorder();
    let (token, task) = spawn_inbound(Fragile { seen }, &sim);
    inbound_with_packets(&sim, 0, 2).await;
    sim.fire_event("CHANNEL_EXECUTE", &[("Unique-ID", "p"), ("X-N", "1")], None);
    sim.fire_event(
        "CHANNEL_EXECUTE",
        &[("Unique-ID", "p"), ("X-Panic", "1")],
        None,
    );
    sim.fire_event("CHANNEL_EXECUTE", &[("Unique-ID", "p"), ("X-N", "2")], None);
    sim.fire_event("CHANNEL_EXECUTE", &[("Unique-ID", "q"), ("X-N", "3")], None);
    let mut got = vec![rx.next().await, rx.next().await, rx.next().await];
    got.sort();
    assert_eq!(got, ["1", "2", "3"]);
    let panic = logs.wait_text(Level::ERROR, "an event hook panicked").await;
    assert!(
        panic.text.contains("a hook panicking on purpose"),
        "{panic:?}"
    );
    assert!(panic.text.contains("CHANNEL_EXECUTE"), "{panic:?}");
    // Same connection, still open, no reconnect.
    let records = inbound_records(&sim);
    assert_eq!(records.len(), 1);
    assert!(!records[0].closed);
    assert_eq!(logs.at(Level::ERROR).len(), 1);
    stop(token, task).await;
}

struct Asker {
    answers: mpsc::UnboundedSender<(String, String)>,
}

#[inbound(events = ["CHANNEL_EXECUTE"])]
impl Asker {
    #[event(channel_execute)]
    async fn ask(&self, ctx: &Inbound, event: &Event) {
        let n = event.header("X-N").unwrap_or("").to_owned();
        let answer = match ctx.api(&format!("echo reply-{n}")).await {
            Ok(r) => r.text().into_owned(),
            Err(e) => format!("error: {e}"),
        };
        let _ = self.answers.send((n, answer));
    }
}

#[tokio::test]
async fn hooks_calling_api_under_backpressure_do_not_deadlock() {
    let sim = simulator(config(10)).await;
    let (answers, mut rx) = recorder();
    let mut settings = inbound_settings(&sim);
    // The tightest queues: a mailbox of one event, an event stream of one.
    settings.mailbox_capacity = 1;
    settings.config.event_capacity = 1;
    let token = Shutdown::new();
    let task = tokio::spawn(run_inbound(
        Arc::new(Asker { answers }),
        settings,
        token.clone(),
    ));
    inbound_with_packets(&sim, 0, 2).await;
    const N: usize = 60;
    for i in 0..N {
        // Two channels: one hook waits for its reply while the other
        // channel's events keep arriving.
        let uuid = if i % 2 == 0 { "even" } else { "odd" };
        sim.fire_event(
            "CHANNEL_EXECUTE",
            &[("Unique-ID", uuid), ("X-N", &i.to_string())],
            None,
        );
    }
    let mut got = Vec::new();
    for _ in 0..N {
        got.push(rx.next().await);
    }
    for (n, answer) in &got {
        assert_eq!(answer, &format!("reply-{n}"));
    }
    // Each channel's hooks ran in order.
    for parity in [0, 1] {
        let order: Vec<usize> = got
            .iter()
            .map(|(n, _)| n.parse::<usize>().unwrap())
            .filter(|n| n % 2 == parity)
            .collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted);
    }
    stop(token, task).await;
}

#[tokio::test]
async fn a_stopped_switch_frees_its_port_at_once() {
    // The restart scenario above relies on this: after `shutdown` returns,
    // another simulator can listen on the same address.
    for seed in 0..20 {
        let first = simulator(config(seed)).await;
        let addr = first.local_addr().unwrap();
        first.shutdown().await;
        let second = Simulator::start(SimulatorConfig {
            listen: Some(addr),
            ..config(seed)
        })
        .await
        .expect("the port is free again");
        second.shutdown().await;
    }
}

// ----- shutdown while a hook runs -----

struct Busy {
    gate: Arc<Notify>,
    seen: mpsc::UnboundedSender<String>,
}

#[inbound(events = ["CHANNEL_EXECUTE"])]
impl Busy {
    #[event(channel_execute)]
    async fn work(&self, ctx: &Inbound) {
        let _ = self.seen.send("hook started".to_owned());
        self.gate.notified().await;
        // Still connected: the hook finishes its work before `exit`.
        let r = ctx.api("echo last-words").await;
        let _ = self.seen.send(match r {
            Ok(r) => format!("hook api {}", r.text()),
            Err(e) => format!("hook api failed: {e}"),
        });
    }
}

#[tokio::test]
async fn on_shutdown_running_hooks_finish_before_exit() {
    let sim = simulator(config(11)).await;
    let gate = Arc::new(Notify::new());
    let (seen, mut rx) = recorder();
    let (token, task) = spawn_inbound(
        Busy {
            gate: gate.clone(),
            seen,
        },
        &sim,
    );
    inbound_with_packets(&sim, 0, 2).await;
    sim.fire_event("CHANNEL_EXECUTE", &[("Unique-ID", "b")], None);
    assert_eq!(rx.next().await, "hook started");
    token.trigger();
    gate.notify_one();
    assert_eq!(rx.next().await, "hook api last-words");
    within("the listener to stop", task).await.unwrap().unwrap();
    let rec = inbound_records(&sim).remove(0);
    let received = texts(&rec.received);
    assert_eq!(
        received[2..],
        ["api echo last-words\n\n", "exit\n\n"],
        "the hook's api call, then exit"
    );
}
