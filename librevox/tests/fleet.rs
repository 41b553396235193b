//! One inbound listener value on two switches (issue 16.1), against two
//! simulators: each connection independent, `ctx.switch()` naming the switch
//! an event came from (configured name, else `FreeSWITCH-Hostname`; its
//! `Core-UUID`), per-channel order per switch, and one switch going away
//! (and coming back as a restarted switch) while the other keeps delivering.
#![cfg(feature = "simulator")]

use std::collections::HashMap;
use std::time::Duration;

use librevox::listener::{Backoff, Inbound, InboundListener, InboundSettings, Runner};
use librevox::protocol::Event;
use librevox::simulator::{Simulator, SimulatorConfig};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);

/// What a hook saw.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// `connection_completed`: the switch's name and address.
    Connected { name: String, addr: String },
    /// An event: the context's name and Core-UUID, the event's own
    /// Core-UUID, Unique-ID and `N`.
    Event {
        name: String,
        ctx_core: Option<String>,
        core: String,
        uuid: String,
        n: usize,
    },
}

struct Probe {
    tx: mpsc::UnboundedSender<Seen>,
}

impl InboundListener for Probe {
    async fn connection_completed(&self, ctx: &Inbound) {
        let _ = self.tx.send(Seen::Connected {
            name: ctx.switch().name().to_owned(),
            addr: ctx.switch().addr().to_owned(),
        });
    }

    async fn handle_event(&self, ctx: &Inbound, event: &Event) {
        let Some(n) = event.header("N").and_then(|n| n.parse().ok()) else {
            return;
        };
        // Give way, so that a hook that awaits runs on its channel's task:
        // the order below is the dispatcher's, not one task's.
        tokio::task::yield_now().await;
        let _ = self.tx.send(Seen::Event {
            name: ctx.switch().name().to_owned(),
            ctx_core: ctx.switch().core_uuid().map(str::to_owned),
            core: event.header("Core-UUID").unwrap_or("").to_owned(),
            uuid: event.unique_id().unwrap_or("").to_owned(),
            n,
        });
    }
}

async fn switch(hostname: &str, listen: Option<std::net::SocketAddr>) -> Simulator {
    let defaults = SimulatorConfig::default();
    let config = SimulatorConfig {
        hostname: hostname.to_owned(),
        listen: listen.or(defaults.listen),
        ..defaults
    };
    Simulator::start(config).await.unwrap()
}

fn settings(sim: &Simulator) -> InboundSettings {
    InboundSettings {
        backoff: Backoff::new(Duration::from_millis(20), Duration::from_millis(200)),
        ..InboundSettings::new(sim.local_addr().unwrap().to_string())
    }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("a hook ran within 10 s")
        .expect("listener alive")
}

/// Fires `count` CUSTOM events numbered from `from`, spread over the
/// channels `uuids` (the same Unique-IDs on every switch).
fn fire(sim: &Simulator, uuids: &[&str], from: usize, count: usize) {
    for n in from..from + count {
        let uuid = uuids[n % uuids.len()];
        let n = n.to_string();
        sim.fire_event(
            "CUSTOM",
            &[
                ("Event-Subclass", "fleet::probe"),
                ("Unique-ID", uuid),
                ("N", &n),
            ],
            None,
        );
    }
}

/// Takes events until `count` have arrived, grouped by (switch name,
/// Unique-ID) in arrival order; every one's context Core-UUID must be the
/// event's own.
async fn collect(
    rx: &mut mpsc::UnboundedReceiver<Seen>,
    count: usize,
) -> HashMap<(String, String), Vec<usize>> {
    let mut by = HashMap::<(String, String), Vec<usize>>::new();
    for _ in 0..count {
        match next(rx).await {
            Seen::Event {
                name,
                ctx_core,
                core,
                uuid,
                n,
            } => {
                assert_eq!(ctx_core.as_deref(), Some(core.as_str()), "{name} event {n}");
                by.entry((name, uuid)).or_default().push(n);
            }
            other => panic!("expected an event, got {other:?}"),
        }
    }
    by
}

const UUIDS: [&str; 4] = ["chan-a", "chan-b", "chan-c", "chan-d"];

/// The numbers `from..from+count` that land on channel `uuid`, in order.
fn expected(uuid: &str, from: usize, count: usize) -> Vec<usize> {
    let i = UUIDS.iter().position(|u| *u == uuid).unwrap();
    (from..from + count)
        .filter(|n| n % UUIDS.len() == i)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_listener_value_reads_two_switches_and_knows_which_is_which() {
    let a = switch("alpha-host", None).await;
    let b = switch("beta-host", None).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let runner = Runner::new()
        .without_logging()
        .without_signals()
        .inbound_many(
            Probe { tx },
            // fs1 is named in the configuration; the other goes by the
            // FreeSWITCH-Hostname its events carry.
            [settings(&a).name("fs1"), settings(&b)],
        );
    let stop = runner.shutdown_handle();
    let run = tokio::spawn(runner.run());

    let mut connected = vec![next(&mut rx).await, next(&mut rx).await];
    connected.sort_by_key(|s| format!("{s:?}"));
    let b_addr = b.local_addr().unwrap().to_string();
    assert_eq!(
        connected,
        [
            // Before any event: the address for the unnamed switch.
            Seen::Connected {
                name: b_addr.clone(),
                addr: b_addr.clone(),
            },
            Seen::Connected {
                name: "fs1".into(),
                addr: a.local_addr().unwrap().to_string(),
            },
        ]
    );

    // The same Unique-IDs on both switches, interleaved: order must hold per
    // channel of each switch, and nothing may cross over.
    const N: usize = 400;
    for round in 0..4 {
        fire(&a, &UUIDS, round * N / 4, N / 4);
        fire(&b, &UUIDS, round * N / 4, N / 4);
    }
    let by = collect(&mut rx, 2 * N).await;
    assert_eq!(by.len(), 8, "{:?}", by.keys());
    for name in ["fs1", "beta-host"] {
        for uuid in UUIDS {
            let got = by
                .get(&(name.to_owned(), uuid.to_owned()))
                .unwrap_or_else(|| panic!("nothing from {name} {uuid}"));
            assert_eq!(got, &expected(uuid, 0, N), "{name} {uuid}");
        }
    }
    // Each switch's events carried its own Core-UUID (checked in collect
    // against the context's): and they differ.
    assert_ne!(a.core_uuid(), b.core_uuid());

    stop.trigger();
    tokio::time::timeout(WAIT, run)
        .await
        .expect("the runner stopped")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_going_away_leaves_the_other_delivering_and_comes_back_restarted() {
    let a = switch("alpha-host", None).await;
    let b = switch("beta-host", None).await;
    let a_addr = a.local_addr().unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let runner = Runner::new()
        .without_logging()
        .without_signals()
        .inbound_many(
            Probe { tx },
            [settings(&a).name("fs1"), settings(&b).name("fs2")],
        );
    let stop = runner.shutdown_handle();
    let run = tokio::spawn(runner.run());
    for _ in 0..2 {
        assert!(matches!(next(&mut rx).await, Seen::Connected { .. }));
    }
    fire(&a, &UUIDS, 0, 8);
    fire(&b, &UUIDS, 0, 8);
    let by = collect(&mut rx, 16).await;
    assert_eq!(by.len(), 8);
    let old_core = a.core_uuid().to_owned();

    // fs1 goes away (mod_event_socket unloaded: the port is closed, and
    // the listener's reconnects are refused); fs2 keeps delivering.
    a.shutdown().await;
    drop(a);
    fire(&b, &UUIDS, 8, 200);
    let by = collect(&mut rx, 200).await;
    assert_eq!(by.len(), 4, "only fs2's channels: {:?}", by.keys());
    for uuid in UUIDS {
        assert_eq!(
            by[&("fs2".to_owned(), uuid.to_owned())],
            expected(uuid, 8, 200)
        );
    }
    assert!(
        !run.is_finished(),
        "one switch gone does not stop the runner"
    );

    // fs1 comes back on its address as a restarted switch: a new Core-UUID,
    // which the new connection's context reports.
    let a = switch("alpha-host", Some(a_addr)).await;
    assert_ne!(a.core_uuid(), old_core);
    assert_eq!(
        next(&mut rx).await,
        Seen::Connected {
            name: "fs1".into(),
            addr: a_addr.to_string(),
        }
    );
    fire(&a, &UUIDS, 0, 8);
    fire(&b, &UUIDS, 208, 8);
    let mut cores = HashMap::new();
    for _ in 0..16 {
        match next(&mut rx).await {
            Seen::Event {
                name,
                ctx_core,
                core,
                ..
            } => {
                assert_eq!(ctx_core.as_deref(), Some(core.as_str()));
                cores.insert(name, core);
            }
            other => panic!("expected an event, got {other:?}"),
        }
    }
    assert_eq!(cores["fs1"], a.core_uuid());
    assert_eq!(cores["fs2"], b.core_uuid());

    stop.trigger();
    tokio::time::timeout(WAIT, run)
        .await
        .expect("the runner stopped")
        .unwrap()
        .unwrap();
}

/// The DSL form: `start!(Tagger(hosts = [fs1 = ..., ...]) = value)`.
struct Tagger {
    tx: mpsc::UnboundedSender<(String, String)>,
}

#[librevox::inbound(events = ["CUSTOM fleet::probe"])]
impl Tagger {
    async fn on_event(&self, ctx: &Inbound, event: &Event) {
        let n = event.header("N").unwrap_or("").to_owned();
        let _ = self.tx.send((ctx.switch().name().to_owned(), n));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_with_hosts_runs_one_connection_per_switch() {
    let a = switch("alpha-host", None).await;
    let b = switch("beta-host", None).await;
    let a_addr = a.local_addr().unwrap().to_string();
    let b_addr = b.local_addr().unwrap().to_string();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let run = tokio::spawn(librevox::start!(
        Tagger(
            hosts = [fs1 = a_addr.as_str(), b_addr],
            password = "ClueCon"
        ) = Tagger { tx }
    ));
    // Fire until each switch's first event arrives (the subscriptions are
    // made concurrently; there is no hook to wait on here).
    let mut from = HashMap::new();
    for i in 0..100 {
        fire(&a, &UUIDS, i, 1);
        fire(&b, &UUIDS, i, 1);
        if let Ok(Some((name, n))) =
            tokio::time::timeout(Duration::from_millis(100), rx.recv()).await
        {
            from.entry(name).or_insert(n);
        }
        while let Ok((name, n)) = rx.try_recv() {
            from.entry(name).or_insert(n);
        }
        if from.len() == 2 {
            break;
        }
    }
    let mut names: Vec<&String> = from.keys().collect();
    names.sort();
    assert_eq!(names, ["beta-host", "fs1"]);
    run.abort();
}
