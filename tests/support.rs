//! Helpers shared by the integration tests: deadlines, a log capture, a
//! recorder channel, and simulator plumbing.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use librevox::listener::{Backoff, InboundSettings};
use librevox::simulator::{
    ConnectionKind, ConnectionRecord, Extension, Simulator, SimulatorConfig,
};
use tokio::sync::{mpsc, watch};
use tracing::field::{Field, Visit};
use tracing::Level;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// The deadline of every wait: generous, since a wait that times out is a
/// failure, never a way to let time pass.
pub const T: Duration = Duration::from_secs(10);

/// Awaits `f`, failing the test with `what` if it takes longer than [`T`].
pub async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(T, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

// ----- log capture -----

/// One captured log event.
#[derive(Debug, Clone)]
pub struct LogRecord {
    pub level: Level,
    /// When it was logged, on tokio's clock (virtual under paused time).
    pub at: tokio::time::Instant,
    /// The message and every field, as `message key=value ...`.
    pub text: String,
    /// The spans it was logged in, outermost first, as `name{key=value ...}`.
    pub spans: Vec<String>,
}

#[derive(Default)]
struct LogStore {
    records: Mutex<Vec<LogRecord>>,
    changed: Mutex<Option<watch::Sender<usize>>>,
}

/// The log events emitted on the current thread while the guard lives.
///
/// Tests that capture logs run on tokio's current-thread runtime (the
/// default of `#[tokio::test]`), so every task they spawn, librevox's and
/// the simulator's included, is polled on the test's thread and logs into
/// this capture, and parallel tests do not mix.
#[derive(Clone)]
pub struct Logs {
    store: Arc<LogStore>,
    rx: watch::Receiver<usize>,
}

struct CaptureLayer(Arc<LogStore>);

struct TextVisitor<'a>(&'a mut String);

impl Visit for TextVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let rest = std::mem::take(self.0);
            *self.0 = format!("{value:?}{rest}");
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            let rest = std::mem::take(self.0);
            *self.0 = format!("{value}{rest}");
        } else {
            self.0.push_str(&format!(" {}={value}", field.name()));
        }
    }
}

/// A span's fields as text, kept in the span's extensions.
struct SpanText(String);

impl<S> Layer<S> for CaptureLayer
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let mut fields = String::new();
        attrs.record(&mut TextVisitor(&mut fields));
        if let Some(span) = ctx.span(id) {
            let text = format!("{}{{{}}}", span.name(), fields.trim_start());
            span.extensions_mut().insert(SpanText(text));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let mut text = String::new();
        event.record(&mut TextVisitor(&mut text));
        let spans = ctx
            .event_scope(event)
            .into_iter()
            .flat_map(|scope| scope.from_root())
            .map(|span| {
                span.extensions()
                    .get::<SpanText>()
                    .map(|t| t.0.clone())
                    .unwrap_or_else(|| span.name().to_owned())
            })
            .collect();
        let meta = event.metadata();
        let n = {
            let mut records = self.0.records.lock().unwrap();
            records.push(LogRecord {
                level: *meta.level(),
                at: tokio::time::Instant::now(),
                text,
                spans,
            });
            records.len()
        };
        if let Some(tx) = &*self.0.changed.lock().unwrap() {
            let _ = tx.send(n);
        }
    }
}

/// The process-wide subscriber: records nothing, but keeps every callsite
/// "sometimes" interesting, so that a log line first reached on a thread
/// without a capture is never cached as uninteresting for the threads that
/// capture. Being installed first, it also keeps `start!` (which installs a
/// subscriber unless one exists) from writing logs to standard error.
struct Quiet;

impl tracing::Subscriber for Quiet {
    fn register_callsite(
        &self,
        _: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }

    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        false
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, _: &tracing::Event<'_>) {}

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

/// Installs [`Quiet`] as the global subscriber (once).
pub fn quiet_global_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing::subscriber::set_global_default(Quiet);
    });
}

impl Logs {
    /// Starts capturing (DEBUG and above) on this thread.
    pub fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        quiet_global_logs();
        let store = Arc::new(LogStore::default());
        let (tx, rx) = watch::channel(0);
        *store.changed.lock().unwrap() = Some(tx);
        let subscriber = tracing_subscriber::registry().with(
            CaptureLayer(store.clone()).with_filter(tracing_subscriber::filter::LevelFilter::DEBUG),
        );
        let guard = tracing::subscriber::set_default(subscriber);
        (Logs { store, rx }, guard)
    }

    /// Everything captured so far.
    pub fn records(&self) -> Vec<LogRecord> {
        self.store.records.lock().unwrap().clone()
    }

    /// The records at `level` exactly.
    pub fn at(&self, level: Level) -> Vec<LogRecord> {
        self.records()
            .into_iter()
            .filter(|r| r.level == level)
            .collect()
    }

    /// Fails the test when anything was logged at WARN or ERROR, showing
    /// what.
    #[track_caller]
    pub fn assert_clean(&self) {
        let bad: Vec<LogRecord> = self
            .records()
            .into_iter()
            .filter(|r| r.level <= Level::WARN)
            .collect();
        assert!(bad.is_empty(), "expected no warning or error, got {bad:#?}");
    }

    /// Waits for a record matching `pred` (including earlier ones).
    pub async fn wait_for(&self, what: &str, pred: impl Fn(&LogRecord) -> bool) -> LogRecord {
        let mut rx = self.rx.clone();
        within(what, async {
            loop {
                rx.borrow_and_update();
                if let Some(r) = self.records().into_iter().find(&pred) {
                    return r;
                }
                rx.changed().await.expect("the capture outlives the test");
            }
        })
        .await
    }

    /// Waits for a record at `level` whose text contains `needle`.
    pub async fn wait_text(&self, level: Level, needle: &str) -> LogRecord {
        self.wait_for(&format!("a {level} log containing {needle:?}"), |r| {
            r.level == level && r.text.contains(needle)
        })
        .await
    }
}

// ----- recorder -----

/// The receiving end of what listeners report to the test.
pub struct Rx<T>(pub mpsc::UnboundedReceiver<T>);

impl<T> Rx<T> {
    /// The next report (fails the test after [`T`]).
    pub async fn next(&mut self) -> T {
        within("a report from a listener", self.0.recv())
            .await
            .expect("every sender was dropped")
    }

    /// The next report that satisfies `pred`, skipping the others (each
    /// wait fails the test after [`T`]).
    pub async fn until(&mut self, pred: impl Fn(&T) -> bool) -> T {
        loop {
            let v = self.next().await;
            if pred(&v) {
                return v;
            }
        }
    }

    /// Everything reported so far, without waiting.
    pub fn drain(&mut self) -> Vec<T> {
        let mut out = Vec::new();
        while let Ok(v) = self.0.try_recv() {
            out.push(v);
        }
        out
    }
}

/// A channel for listeners to report to the test.
pub fn recorder<T>() -> (mpsc::UnboundedSender<T>, Rx<T>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (tx, Rx(rx))
}

// ----- simulator -----

/// A deterministic simulator on a fresh loopback port.
pub async fn simulator(config: SimulatorConfig) -> Simulator {
    quiet_global_logs();
    Simulator::start(config).await.expect("simulator starts")
}

/// Deterministic settings, listening on `127.0.0.1:0`.
pub fn config(seed: u64) -> SimulatorConfig {
    SimulatorConfig::deterministic(seed)
}

/// Inbound settings for `sim` with fast reconnects and short graces.
pub fn inbound_settings(sim: &Simulator) -> InboundSettings {
    let mut s = InboundSettings::new(sim.local_addr().expect("TCP simulator").to_string());
    s.backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(100));
    s.connect_timeout = Duration::from_secs(5);
    s.shutdown_grace = Duration::from_secs(5);
    s
}

/// The inbound connections of `sim`, in connection order.
pub fn inbound_records(sim: &Simulator) -> Vec<ConnectionRecord> {
    sim.connections()
        .into_iter()
        .filter(|c| matches!(c.kind, ConnectionKind::Inbound { .. }))
        .collect()
}

/// The outbound connection of channel `uuid`.
pub fn outbound_record(sim: &Simulator, uuid: &str) -> Option<ConnectionRecord> {
    sim.connections()
        .into_iter()
        .find(|c| matches!(&c.kind, ConnectionKind::Outbound { channel, .. } if channel == uuid))
}

/// Packets or frames as text (they are ASCII/UTF-8 in these tests).
pub fn texts(frames: &[bytes::Bytes]) -> Vec<String> {
    frames
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect()
}

/// A `command/reply` frame exactly as FreeSWITCH writes it.
pub fn reply_frame(text: &str) -> String {
    format!("Content-Type: command/reply\nReply-Text: {text}\n\n")
}

/// FreeSWITCH's inbound greeting.
pub const GREETING: &str = "Content-Type: auth/request\n\n";

/// Waits until inbound connection `index` of `sim` has answered at least
/// `packets` packets of its client (so their effect is in force: the
/// simulator records a packet before handling it, and a reply after), and
/// returns its record.
pub async fn inbound_with_packets(
    sim: &Simulator,
    index: usize,
    packets: usize,
) -> ConnectionRecord {
    sim.wait_for(T, |s| {
        inbound_records(s)
            .get(index)
            .is_some_and(|r| r.received.len() >= packets && r.sent.len() > packets)
    })
    .await
    .expect("the inbound listener connected and subscribed");
    inbound_records(sim).remove(index)
}

/// An extension `destination` whose `socket` application dials `port`.
pub fn socket_extension(destination: &str, port: u16) -> Extension {
    Extension::socket(destination, &format!("127.0.0.1:{port} async full"))
}

/// `127.0.0.1:port`.
pub fn loopback(port: u16) -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], port))
}
