//! Event-Sequence gaps on an all-events subscription, against a simulator
//! told to skip numbers: counted once per gap with the events missed, not
//! for numbers that arrive out of order, and a Core-UUID change counted.
//! A gap of one number (routine on FreeSWITCH 1.11: one per loopback call)
//! is counted but logged at info; a larger one is warned.
//! A binary of its own: the metrics recorder is process-wide.
#![cfg(all(feature = "prometheus", feature = "simulator"))]

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use librevox::listener::{run_inbound, Inbound, InboundListener, InboundSettings};
use librevox::simulator::{Simulator, SimulatorConfig};
use librevox::telemetry::WINDOW_EVENTS;
use librevox::Event;
use support::scrape::{metrics, value};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The gap records the sequence module logged: (level, message).
#[derive(Clone, Default)]
struct Logged(Arc<Mutex<Vec<(tracing::Level, String)>>>);

impl Logged {
    fn install() -> Logged {
        use tracing_subscriber::layer::SubscriberExt;
        let logged = Logged::default();
        let subscriber = tracing_subscriber::registry().with(logged.clone());
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        logged
    }

    /// Records at `level` that mention `text`.
    fn count(&self, level: tracing::Level, text: &str) -> usize {
        let records = self.0.lock().unwrap();
        records
            .iter()
            .filter(|(l, m)| *l == level && m.contains(text))
            .count()
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Logged {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if !event.metadata().target().ends_with("sequence") {
            return;
        }
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut m = Message(String::new());
        event.record(&mut m);
        self.0
            .lock()
            .unwrap()
            .push((*event.metadata().level(), m.0));
    }
}

const LOST: &str = "events lost: Event-Sequence numbers never arrived";
const ONE: &str = "one Event-Sequence number never arrived";

#[derive(Default)]
struct Counter {
    custom: AtomicU64,
    connected: Notify,
    changed: Notify,
}

impl InboundListener for Counter {
    async fn connection_completed(&self, _ctx: &Inbound) {
        self.connected.notify_one();
    }
    async fn handle_event(&self, _ctx: &Inbound, event: &Event) {
        if event.subclass() == Some("test::seq") {
            self.custom.fetch_add(1, Ordering::SeqCst);
            self.changed.notify_one();
        }
    }
}

impl Counter {
    async fn until(&self, n: u64) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while self.custom.load(Ordering::SeqCst) < n {
                self.changed.notified().await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{} of {n} events", self.custom.load(Ordering::SeqCst)));
    }
}

fn fire(sim: &Simulator, n: u64) {
    for _ in 0..n {
        sim.fire_event("CUSTOM", &[("Event-Subclass", "test::seq")], None);
    }
}

/// An event exactly as given, numbered `seq` of `core`.
fn numbered(core: &str, seq: u64) -> Event {
    let mut e = Event::new("CUSTOM");
    e.push_header("Core-UUID", core);
    e.push_header("Event-Subclass", "test::seq");
    e.push_header("Event-Sequence", &seq.to_string());
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gaps_are_counted_once_with_their_size_and_reordering_is_not_a_gap() {
    let logged = Logged::install();
    let server = librevox::telemetry::serve("127.0.0.1:0").await.unwrap();
    let http = server.local_addr();
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let addr = sim.local_addr().unwrap().to_string();
    let counter = Arc::new(Counter::default());
    let token = CancellationToken::new();
    let mut settings = InboundSettings::new(addr.clone());
    settings.serial = true;
    let listener = tokio::spawn(run_inbound(counter.clone(), settings, token.clone()));
    tokio::time::timeout(Duration::from_secs(10), counter.connected.notified())
        .await
        .expect("the listener connected");
    let gaps = format!("librevox_event_sequence_gaps_total{{switch=\"{addr}\"}}");
    let missed = format!("librevox_events_missed_total{{switch=\"{addr}\"}}");

    // 5 numbers skipped, then enough later ones to close the window.
    fire(&sim, 3);
    sim.skip_sequence(5);
    fire(&sim, WINDOW_EVENTS);
    let mut received = 3 + WINDOW_EVENTS;
    counter.until(received).await;
    let text = metrics(http).await;
    assert_eq!(value(&text, &gaps), 1.0, "{text}");
    assert_eq!(value(&text, &missed), 5.0);
    assert_eq!(logged.count(tracing::Level::WARN, LOST), 1);
    assert_eq!(logged.count(tracing::Level::INFO, ONE), 0);

    // One number skipped (as the real switch does per loopback call):
    // counted, logged at info, no warning.
    sim.skip_sequence(1);
    fire(&sim, WINDOW_EVENTS);
    received += WINDOW_EVENTS;
    counter.until(received).await;
    let text = metrics(http).await;
    assert_eq!(value(&text, &gaps), 2.0, "{text}");
    assert_eq!(value(&text, &missed), 6.0);
    assert_eq!(logged.count(tracing::Level::WARN, LOST), 1);
    assert_eq!(logged.count(tracing::Level::INFO, ONE), 1);

    // Two numbers delivered in reverse order, then a window's worth more:
    // no new gap.
    let first = sim.skip_sequence(2);
    let core = sim.core_uuid().to_owned();
    sim.inject_event(numbered(&core, first + 1));
    sim.inject_event(numbered(&core, first));
    fire(&sim, WINDOW_EVENTS + 1);
    received += 2 + WINDOW_EVENTS + 1;
    counter.until(received).await;
    let text = metrics(http).await;
    assert_eq!(value(&text, &gaps), 2.0, "{text}");
    assert_eq!(value(&text, &missed), 6.0);

    // A different Core-UUID: counted as a restart, not as a gap.
    sim.inject_event(numbered("00000000-0000-0000-0000-000000000001", 1));
    received += 1;
    counter.until(received).await;
    let text = metrics(http).await;
    assert_eq!(
        value(
            &text,
            &format!("librevox_core_uuid_changes_total{{switch=\"{addr}\"}}")
        ),
        1.0,
        "{text}"
    );
    assert_eq!(value(&text, &gaps), 2.0);
    assert_eq!(logged.count(tracing::Level::WARN, LOST), 1);

    token.cancel();
    listener.await.unwrap().unwrap();
    sim.shutdown().await;
}
