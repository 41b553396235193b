//! The NATS tier: the JetStream bridge against a REAL nats-server (never a
//! mock), with the embedded simulator as the switches.
//!
//! Not part of the default `cargo test` (it needs a `nats-server` binary):
//! `cargo test -p librevox --features nats,simulator --test nats`
//! (`.ci/run` installs nats-server and runs it). The server is found in
//! `$NATS_SERVER`, then `/usr/sbin/nats-server`, then `nats-server` on PATH;
//! a missing server FAILS the tests, it never skips them.
//!
//! Each test starts its own server on a free 127.0.0.1 port with `-js` and a
//! temporary store directory, and kills it when done.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use librevox::bridge::{Bridge, BridgeConfig, SwitchConfig, SwitchStats, ERROR_HEADER};
use librevox::fleet::{self, SwitchName};
use librevox::protocol::event_json;
use librevox::protocol::Event;
use librevox::simulator::{Simulator, SimulatorConfig};

#[path = "support/nats_server.rs"]
mod nats_server;
use nats_server::NatsServer;

// ---------------------------------------------------------------------------
// Helpers.

const WAIT: Duration = Duration::from_secs(30);

async fn sim(hostname: &str) -> Simulator {
    Simulator::start(SimulatorConfig {
        hostname: hostname.to_owned(),
        ..SimulatorConfig::default()
    })
    .await
    .expect("simulator")
}

fn switch(name: &str, sim: &Simulator) -> SwitchConfig {
    SwitchConfig::new(
        SwitchName::new(name).unwrap(),
        sim.local_addr().unwrap().to_string(),
        "ClueCon",
    )
}

fn config(nats: &NatsServer, switches: Vec<SwitchConfig>) -> BridgeConfig {
    let mut c = BridgeConfig::new(nats.url());
    c.switches = switches;
    c.ack_timeout = Duration::from_secs(2);
    c.stop_grace = Duration::from_secs(10);
    c
}

async fn start_bridge(config: BridgeConfig) -> Bridge {
    let b = Bridge::start(config).await.expect("bridge starts");
    assert!(
        b.wait_ready(WAIT).await,
        "bridge not ready: {:?}",
        b.stats()
    );
    b
}

async fn client(nats: &NatsServer) -> async_nats::Client {
    async_nats::connect(nats.url()).await.expect("NATS client")
}

/// One stored message.
#[derive(Debug)]
struct Stored {
    subject: String,
    msg_id: String,
    unique_id: Option<String>,
    event_name: Option<String>,
    payload: String,
}

/// Waits until the stream holds at least `n` messages, then reads them all.
async fn stream_contents(js: &jetstream::Context, n: u64) -> Vec<Stored> {
    let mut stream = js.get_stream("FREESWITCH").await.expect("stream exists");
    let deadline = Instant::now() + WAIT;
    let last = loop {
        let info = stream.info().await.expect("stream info");
        if info.state.messages >= n {
            break info.state.last_sequence;
        }
        assert!(
            Instant::now() < deadline,
            "the stream holds {} messages, {n} expected",
            info.state.messages
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut out = Vec::new();
    for seq in 1..=last {
        let m = stream.get_raw_message(seq).await.expect("stored message");
        let h = |name: &str| m.headers.get(name).map(|v| v.as_str().to_owned());
        out.push(Stored {
            subject: m.subject.to_string(),
            msg_id: m
                .headers
                .get(async_nats::header::NATS_MESSAGE_ID)
                .map(|v| v.as_str().to_owned())
                .unwrap_or_else(|| panic!("no Msg-Id: {} {:?}", m.subject, m.headers)),
            unique_id: h("Unique-ID"),
            event_name: h("Event-Name"),
            payload: String::from_utf8(m.payload.to_vec()).unwrap(),
        });
    }
    out
}

fn fire(sim: &Simulator, i: usize) -> Event {
    let uuid = format!("chan-{}", i % 7);
    let n = i.to_string();
    sim.fire_event(
        "CHANNEL_STATE",
        &[("Unique-ID", uuid.as_str()), ("Burst-Index", n.as_str())],
        None,
    )
}

/// fired / stored / duplicates / missing, as the HA report gives them.
fn tally(fired: &[Event], stored: &[Stored]) -> (usize, usize, usize, usize) {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for s in stored {
        *counts.entry(s.msg_id.as_str()).or_default() += 1;
    }
    let ids: Vec<String> = fired.iter().map(|e| fleet::msg_id(e).unwrap()).collect();
    let missing = ids
        .iter()
        .filter(|id| !counts.contains_key(id.as_str()))
        .count();
    let duplicates = counts.values().map(|c| c - 1).sum();
    (fired.len(), stored.len(), duplicates, missing)
}

/// The stored messages of the fired events, in stream order, must be the
/// fired order within each channel (here: the whole switch's order).
fn assert_order(fired: &[Event], stored: &[Stored]) {
    let pos: HashMap<String, usize> = fired
        .iter()
        .enumerate()
        .map(|(i, e)| (fleet::msg_id(e).unwrap(), i))
        .collect();
    let mut per_channel: HashMap<String, usize> = HashMap::new();
    for s in stored {
        if let Some(&p) = pos.get(&s.msg_id) {
            let ch = s.unique_id.clone().unwrap_or_default();
            if let Some(&prev) = per_channel.get(&ch) {
                assert!(prev < p, "channel {ch}: event {p} stored after {prev}");
            }
            per_channel.insert(ch, p);
        }
    }
}

fn total(stats: &[SwitchStats], f: impl Fn(&SwitchStats) -> u64) -> u64 {
    stats.iter().map(f).sum()
}

// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_switches_through_one_bridge_every_event_under_its_subject_and_msg_id() {
    let nats = NatsServer::start();
    let (s1, s2) = (sim("box-one").await, sim("box-two").await);
    assert_ne!(s1.core_uuid(), s2.core_uuid());
    let bridge = start_bridge(config(&nats, vec![switch("fs1", &s1), switch("fs2", &s2)])).await;
    let js = jetstream::new(client(&nats).await);

    let mut fired = Vec::new();
    for i in 0..50 {
        fired.push(("fs1", fire(&s1, i)));
        fired.push(("fs2", fire(&s2, i)));
    }
    fired.push((
        "fs1",
        s1.fire_event(
            "CUSTOM",
            &[
                ("Event-Subclass", "sofia::register"),
                ("Unique-ID", "reg-1"),
            ],
            Some("a body\nof two lines"),
        ),
    ));
    fired.push(("fs2", s2.fire_event("HEARTBEAT", &[], None)));

    let stored = stream_contents(&js, fired.len() as u64).await;
    let by_id: HashMap<&str, &Stored> = stored.iter().map(|s| (s.msg_id.as_str(), s)).collect();
    for (sw, ev) in &fired {
        let id = format!(
            "{}:{}",
            ev.header("Core-UUID").unwrap(),
            ev.header("Event-Sequence").unwrap()
        );
        let s = by_id
            .get(id.as_str())
            .unwrap_or_else(|| panic!("{id} not in the stream"));
        let name = ev.header("Event-Name").unwrap();
        let subject = if name == "CUSTOM" {
            format!("freeswitch.{sw}.event.CUSTOM.sofia.register")
        } else {
            format!("freeswitch.{sw}.event.{name}")
        };
        assert_eq!(s.subject, subject);
        assert_eq!(s.event_name.as_deref(), Some(name));
        assert_eq!(s.unique_id.as_deref(), ev.header("Unique-ID"));
        assert_eq!(s.payload, event_json::to_string(ev), "payload of {id}");
    }
    assert_eq!(stored.len(), fired.len(), "nothing else, nothing twice");

    let stats = bridge.stop().await;
    assert_eq!(total(&stats, |s| s.dropped), 0, "{stats:?}");
    assert_eq!(total(&stats, |s| s.acked), fired.len() as u64, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridge_leaves_an_existing_stream_as_configured() {
    let nats = NatsServer::start();
    let js = jetstream::new(client(&nats).await);
    js.create_stream(jetstream::stream::Config {
        name: "FREESWITCH".into(),
        subjects: vec!["freeswitch.*.event.>".into()],
        duplicate_window: Duration::from_secs(30),
        max_messages: 12345,
        ..Default::default()
    })
    .await
    .unwrap();
    let s1 = sim("box-one").await;
    let bridge = start_bridge(config(&nats, vec![switch("fs1", &s1)])).await;
    let mut stream = js.get_stream("FREESWITCH").await.unwrap();
    let info = stream.info().await.unwrap();
    assert_eq!(info.config.max_messages, 12345);
    assert_eq!(info.config.duplicate_window, Duration::from_secs(30));
    drop(bridge);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_bridges_on_one_switch_one_killed_mid_burst_store_each_event_once() {
    const BURST: usize = 3000;
    let nats = NatsServer::start();
    let s1 = sim("box-one").await;
    let a = start_bridge(config(&nats, vec![switch("fs1", &s1)])).await;
    let b = start_bridge(config(&nats, vec![switch("fs1", &s1)])).await;
    let js = jetstream::new(client(&nats).await);

    let mut fired = Vec::with_capacity(BURST);
    let mut a = Some(a);
    for i in 0..BURST {
        fired.push(fire(&s1, i));
        if i == BURST / 3 {
            // Killed mid-burst: its tasks are aborted, unacked publishes lost.
            drop(a.take());
        }
        if i % 100 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let stored = stream_contents(&js, BURST as u64).await;
    let (f, s, d, m) = tally(&fired, &stored);
    println!("HA: events fired {f}, stored {s}, duplicates {d}, missing {m}");
    assert_eq!((d, m), (0, 0), "fired {f}, stored {s}");
    assert_eq!(s, f);
    assert_order(&fired, &stored);
    let stats = b.stop().await;
    println!("HA: surviving bridge {stats:?}");
    assert_eq!(total(&stats, |s| s.dropped), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_restarted_mid_burst_loses_no_event_and_stops_reading_when_full() {
    const BEFORE: usize = 500;
    const DURING: usize = 2000;
    const BUFFER: usize = 200;
    const IN_FLIGHT: usize = 16;
    let mut nats = NatsServer::start();
    let s1 = sim("box-one").await;
    let mut cfg = config(&nats, vec![switch("fs1", &s1)]);
    cfg.max_buffered_events = BUFFER;
    cfg.max_in_flight = IN_FLIGHT;
    let bridge = start_bridge(cfg).await;

    let mut fired = Vec::new();
    for i in 0..BEFORE {
        fired.push(fire(&s1, i));
    }
    let deadline = Instant::now() + WAIT;
    while bridge.stats()[0].acked < BEFORE as u64 {
        assert!(Instant::now() < deadline, "{:?}", bridge.stats());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    nats.kill();
    for i in BEFORE..BEFORE + DURING {
        fired.push(fire(&s1, i));
    }
    // While NATS is down the bridge reads at most its buffer, the publishes
    // in flight and the one event it holds: then it stops reading (the rest
    // waits in the switch's socket). Watch it for a while.
    let bound = (BEFORE + BUFFER + IN_FLIGHT + 1) as u64;
    let mut seen = 0;
    let watch_until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < watch_until {
        let r = bridge.stats()[0].received;
        seen = seen.max(r);
        assert!(
            r <= bound,
            "read {r} events while NATS was down (bound {bound})"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    println!(
        "NATS down: the bridge read {seen} of {} events (bound {bound})",
        fired.len()
    );
    assert!(
        seen > BEFORE as u64,
        "the bridge kept reading into its buffer"
    );
    nats.spawn();
    let js = jetstream::new(client(&nats).await);
    let stored = stream_contents(&js, fired.len() as u64).await;
    let (f, s, d, m) = tally(&fired, &stored);
    let stats = bridge.stop().await;
    println!(
        "NATS restart: fired {f}, stored {s}, duplicates {d}, missing {m}, retries {}, dropped {}",
        stats[0].retries, stats[0].dropped
    );
    assert_eq!((s, d, m), (f, 0, 0));
    assert_eq!(stats[0].dropped, 0, "{stats:?}");
    assert_order(&fired, &stored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_and_bgapi_by_request_reply() {
    const VERSION: &str = "FreeSWITCH Version 1.11.3-dev~64bit ( 64bit)\n";
    let nats = NatsServer::start();
    let s1 = sim("box-one").await;
    let bridge = start_bridge(config(&nats, vec![switch("fs1", &s1)])).await;
    let c = client(&nats).await;

    // api: the body.
    let reply = c
        .request("freeswitch.fs1.api", "version".into())
        .await
        .unwrap();
    assert!(
        reply
            .headers
            .as_ref()
            .and_then(|h| h.get(ERROR_HEADER))
            .is_none(),
        "{:?} {:?}",
        reply.headers,
        reply.payload
    );
    assert_eq!(std::str::from_utf8(&reply.payload).unwrap(), VERSION);

    // api: -ERR in the error header.
    let reply = c
        .request("freeswitch.fs1.api", "no_such_command x".into())
        .await
        .unwrap();
    let err = reply.headers.as_ref().and_then(|h| h.get(ERROR_HEADER));
    assert_eq!(
        err.map(|v| v.as_str()),
        Some("-ERR no_such_command Command not found!")
    );

    // Validation: CR/LF refused before anything reaches the switch.
    let reply = c
        .request("freeswitch.fs1.api", "status\r\n\r\napi version".into())
        .await
        .unwrap();
    let err = reply
        .headers
        .as_ref()
        .and_then(|h| h.get(ERROR_HEADER))
        .unwrap();
    assert!(
        err.as_str().contains("CR") || err.as_str().contains("LF"),
        "{err}"
    );

    // bgapi: the Job-UUID at once, the result on the job subject.
    let job_uuid = "7f4de4bc-17d7-11dd-b7a0-db4edd065621";
    let mut job = c
        .subscribe(format!("freeswitch.fs1.job.{job_uuid}"))
        .await
        .unwrap();
    c.flush().await.unwrap();
    let mut h = async_nats::HeaderMap::new();
    h.insert("Job-UUID", job_uuid);
    let reply = c
        .request_with_headers("freeswitch.fs1.bgapi", h, "version".into())
        .await
        .unwrap();
    assert_eq!(std::str::from_utf8(&reply.payload).unwrap(), job_uuid);
    let result = tokio::time::timeout(WAIT, futures_next(&mut job))
        .await
        .expect("the job's result within 30 s");
    assert_eq!(std::str::from_utf8(&result.payload).unwrap(), VERSION);

    drop(bridge);
}

async fn futures_next(sub: &mut async_nats::Subscriber) -> async_nats::Message {
    use futures_util::StreamExt;
    sub.next().await.expect("subscription open")
}

// ---------------------------------------------------------------------------
// Consuming from the stream with the DSL (16.4).

use librevox::listener::{run_stream, Inbound, StreamSettings};
use tokio::sync::mpsc;

/// What a consumer's hook saw: (consumer tag, switch name, Unique-ID,
/// Burst-Index, whether ctx.api failed naming JetStream).
type Seen = (u8, String, String, usize, bool);

struct Billing {
    tag: u8,
    tx: mpsc::UnboundedSender<Seen>,
}

#[librevox::inbound(events = ["CHANNEL_STATE"])]
impl Billing {
    async fn on_event(&self, ctx: &Inbound, event: &Event) {
        let n = event
            .header("Burst-Index")
            .and_then(|n| n.parse().ok())
            .unwrap_or(usize::MAX);
        // Yield, so hooks of different channels interleave.
        tokio::task::yield_now().await;
        let no_socket = match ctx.api("status").await {
            Err(e) => e.to_string().contains("JetStream"),
            Ok(_) => false,
        };
        let _ = self.tx.send((
            self.tag,
            ctx.switch().name().to_owned(),
            event.unique_id().unwrap_or("").to_owned(),
            n,
            no_socket,
        ));
    }
}

fn consumer(nats: &NatsServer, name: &str) -> StreamSettings {
    let mut s = StreamSettings::new(nats.url(), name);
    s.ack_wait = Duration::from_secs(2);
    s.backoff =
        librevox::listener::Backoff::new(Duration::from_millis(50), Duration::from_millis(500));
    s
}

fn start_consumer(
    nats: &NatsServer,
    name: &str,
    tag: u8,
    tx: &mpsc::UnboundedSender<Seen>,
) -> (
    librevox::Shutdown,
    tokio::task::JoinHandle<librevox::Result<()>>,
) {
    let stop = librevox::Shutdown::new();
    let listener = std::sync::Arc::new(Billing {
        tag,
        tx: tx.clone(),
    });
    let task = tokio::spawn(run_stream(listener, consumer(nats, name), stop.clone()));
    (stop, task)
}

async fn seen(rx: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("a hook ran within 30 s")
        .expect("consumer alive")
}

async fn stop(stop: librevox::Shutdown, task: tokio::task::JoinHandle<librevox::Result<()>>) {
    stop.trigger();
    tokio::time::timeout(WAIT, task)
        .await
        .expect("the consumer stopped")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_listener_consumes_the_bridges_events_in_channel_order() {
    let nats = NatsServer::start();
    let (s1, s2) = (sim("box-one").await, sim("box-two").await);
    let bridge = start_bridge(config(&nats, vec![switch("fs1", &s1), switch("fs2", &s2)])).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (halt, task) = start_consumer(&nats, "billing", 1, &tx);
    const N: usize = 300;
    for i in 0..N {
        fire(&s1, i);
        fire(&s2, i);
        if i % 50 == 0 {
            // Not subscribed: filtered out by the consumer's subject.
            s1.fire_event("HEARTBEAT", &[], None);
        }
    }
    let mut by: HashMap<(String, String), Vec<usize>> = HashMap::new();
    for _ in 0..2 * N {
        let (_, name, uuid, n, no_socket) = seen(&mut rx).await;
        assert!(no_socket, "ctx.api must fail saying there is no socket");
        by.entry((name, uuid)).or_default().push(n);
    }
    for sw in ["fs1", "fs2"] {
        for c in 0..7 {
            let uuid = format!("chan-{c}");
            let want: Vec<usize> = (0..N).filter(|i| i % 7 == c).collect();
            assert_eq!(by[&(sw.to_owned(), uuid.clone())], want, "{sw} {uuid}");
        }
    }
    assert_eq!(by.len(), 14);
    stop(halt, task).await;
    assert!(rx.try_recv().is_err(), "nothing more than the events fired");
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_restarted_mid_stream_resumes_without_loss() {
    let nats = NatsServer::start();
    let s1 = sim("box-one").await;
    let bridge = start_bridge(config(&nats, vec![switch("fs1", &s1)])).await;
    const N: usize = 600;
    for i in 0..N {
        fire(&s1, i);
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (halt, task) = start_consumer(&nats, "billing", 1, &tx);
    let mut got: HashMap<usize, usize> = HashMap::new();
    while got.len() < N / 3 {
        let (_, _, _, n, _) = seen(&mut rx).await;
        *got.entry(n).or_default() += 1;
    }
    // Stopped mid-stream: hooks running finish and are acked; the rest
    // stays in the consumer.
    stop(halt, task).await;
    let before = got.len();
    while let Ok((_, _, _, n, _)) = rx.try_recv() {
        *got.entry(n).or_default() += 1;
    }
    let (halt, task) = start_consumer(&nats, "billing", 2, &tx);
    while got.len() < N {
        let (_, _, _, n, _) = seen(&mut rx).await;
        *got.entry(n).or_default() += 1;
    }
    stop(halt, task).await;
    while let Ok((_, _, _, n, _)) = rx.try_recv() {
        *got.entry(n).or_default() += 1;
    }
    let missing: Vec<usize> = (0..N).filter(|n| !got.contains_key(n)).collect();
    let twice = got.values().filter(|c| **c > 1).count();
    println!("restart: {N} fired, {before} handled before the restart, {} after, {twice} twice, {} missing", N - before, missing.len());
    assert!(missing.is_empty(), "{missing:?}");
    assert!(before < N, "the restart happened mid-stream");
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_consumers_sharing_one_name_split_the_events_none_lost() {
    let nats = NatsServer::start();
    let s1 = sim("box-one").await;
    let bridge = start_bridge(config(&nats, vec![switch("fs1", &s1)])).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (halt_a, task_a) = start_consumer(&nats, "shared", 1, &tx);
    let (halt_b, task_b) = start_consumer(&nats, "shared", 2, &tx);
    const N: usize = 1000;
    for i in 0..N {
        fire(&s1, i);
    }
    let mut got: HashMap<usize, usize> = HashMap::new();
    let mut per = [0usize; 3];
    while got.len() < N {
        let (tag, _, _, n, _) = seen(&mut rx).await;
        *got.entry(n).or_default() += 1;
        per[tag as usize] += 1;
    }
    stop(halt_a, task_a).await;
    stop(halt_b, task_b).await;
    while let Ok((tag, _, _, n, _)) = rx.try_recv() {
        *got.entry(n).or_default() += 1;
        per[tag as usize] += 1;
    }
    let twice = got.values().filter(|c| **c > 1).count();
    println!(
        "shared: {N} fired, consumer 1 {}, consumer 2 {}, {twice} twice",
        per[1], per[2]
    );
    assert_eq!(got.len(), N, "none lost");
    assert!(per[1] > 0 && per[2] > 0, "both consumers got work: {per:?}");
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_with_nats_and_consumer_runs_the_listener_on_the_stream() {
    let nats = NatsServer::start();
    let s1 = sim("box-one").await;
    let bridge = start_bridge(config(&nats, vec![switch("fs1", &s1)])).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let url = nats.url();
    let run = tokio::spawn(librevox::start!(
        Billing(nats = url, consumer = "dsl") = Billing { tag: 7, tx }
    ));
    for i in 0..20 {
        fire(&s1, i);
    }
    let mut got = Vec::new();
    for _ in 0..20 {
        let (tag, name, _, n, _) = seen(&mut rx).await;
        assert_eq!((tag, name.as_str()), (7, "fs1"));
        got.push(n);
    }
    got.sort();
    assert_eq!(got, (0..20).collect::<Vec<_>>());
    run.abort();
    bridge.stop().await;
}

/// Waits until the stream listener `name` is (`true`) or is not (`false`)
/// ready as `/ready` reports it; returns `/ready`'s body then.
async fn wait_readiness(name: &str, ready: bool) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let r = librevox::telemetry::Health::global().readiness();
        if r.not_ready.iter().any(|n| n == name) != ready {
            return r.to_json();
        }
        assert!(
            Instant::now() < deadline,
            "`{name}` still {} after {WAIT:?}: {}",
            if ready { "not ready" } else { "ready" },
            r.to_json()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits for the hook to see the event with this Burst-Index (earlier
/// ones may come again: at least once).
async fn seen_index(rx: &mut mpsc::UnboundedReceiver<Seen>, i: usize) {
    while seen(rx).await.3 != i {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_listener_is_ready_while_its_consumer_fetches_and_not_while_nats_is_down() {
    let mut nats = NatsServer::start();
    let s1 = sim("box-one").await;
    let bridge = start_bridge(config(&nats, vec![switch("fs1", &s1)])).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (halt, task) = start_consumer(&nats, "ready-check", 1, &tx);
    let name = format!("stream FREESWITCH/ready-check {}", nats.url());
    // Fetching: an event fired now reaches the hook; and ready.
    fire(&s1, 0);
    seen_index(&mut rx, 0).await;
    wait_readiness(&name, true).await;
    // NATS gone: not ready, and the body names the listener.
    nats.kill();
    let body = wait_readiness(&name, false).await;
    assert!(
        body.contains(&format!(r#""{name}""#)) && body.ends_with(r#""ready":false}"#),
        "{body}"
    );
    // NATS back (same port and store): ready again, and fetching again.
    nats.spawn();
    wait_readiness(&name, true).await;
    fire(&s1, 1);
    seen_index(&mut rx, 1).await;
    stop(halt, task).await;
    // Stopped: it leaves `/ready` (not listed as not ready).
    assert!(
        !librevox::telemetry::Health::global()
            .readiness()
            .not_ready
            .contains(&name),
        "a stopped listener is not reported"
    );
    bridge.stop().await;
}
