//! The cost of metrics: the inbound workload with a Prometheus recorder
//! recording and without, interleaved in one run so that the machine's
//! noise falls on both alike.
//!
//! One global recorder is installed for the whole process (the `metrics`
//! facade allows one): a switch in front of metrics-exporter-prometheus's
//! recorder. Off, it hands out no-op handles, which is what the facade does
//! with no recorder at all; on, the Prometheus recorder's. librevox takes
//! its handles when a connection starts and per event, so each run's
//! connection records or not as the switch stood when it connected.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use crate::{answers_in, blaster, fmt_rate, frames, library, median, Report, Sizes};

/// The switchable recorder.
struct Switch {
    on: AtomicBool,
    inner: PrometheusRecorder,
}

impl Recorder for Switch {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_counter(key, unit, description)
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_gauge(key, unit, description)
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_histogram(key, unit, description)
    }
    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        if self.on.load(Ordering::Relaxed) {
            self.inner.register_counter(key, metadata)
        } else {
            Counter::noop()
        }
    }
    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        if self.on.load(Ordering::Relaxed) {
            self.inner.register_gauge(key, metadata)
        } else {
            Gauge::noop()
        }
    }
    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        // The bridge workload reads the bridge's publish latencies.
        if key.name() == "librevox_bridge_publish_seconds" {
            return Histogram::from_arc(Arc::new(crate::bridge::Capture));
        }
        if self.on.load(Ordering::Relaxed) {
            self.inner.register_histogram(key, metadata)
        } else {
            Histogram::noop()
        }
    }
}

/// The process's recorder, installed on first use, and its handle.
fn recorder() -> &'static (Arc<Switch>, PrometheusHandle) {
    static R: OnceLock<(Arc<Switch>, PrometheusHandle)> = OnceLock::new();
    R.get_or_init(|| {
        let inner = PrometheusBuilder::new().build_recorder();
        let handle = inner.handle();
        let switch = Arc::new(Switch {
            on: AtomicBool::new(false),
            inner,
        });
        metrics::set_global_recorder(SwitchRef(switch.clone()))
            .expect("no other metrics recorder in the load tool");
        (switch, handle)
    })
}

/// The installed recorder (the facade takes it by value).
struct SwitchRef(Arc<Switch>);

impl Recorder for SwitchRef {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_counter(key, unit, description)
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_gauge(key, unit, description)
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_histogram(key, unit, description)
    }
    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.0.register_counter(key, metadata)
    }
    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.0.register_gauge(key, metadata)
    }
    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.0.register_histogram(key, metadata)
    }
}

/// Installs the recorder (once) and switches it on or off.
pub fn record(on: bool) {
    recorder().0.on.store(on, Ordering::Relaxed);
}

/// The sum of `librevox_events_received_total` over its labels, read from
/// the Prometheus text.
fn events_received(handle: &PrometheusHandle) -> u64 {
    handle
        .render()
        .lines()
        .filter(|l| l.starts_with("librevox_events_received_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// One run of the inbound workload (as `inbound` runs it): events/s.
async fn once(
    sizes: &Sizes,
    cycle: &Arc<frames::InboundCycle>,
    calls: usize,
    report: &mut Report,
    label: &str,
) -> Option<f64> {
    let n = sizes.events;
    let (addr, started) = blaster(cycle, n).await;
    let state = library::InboundState::new(n as u64, None);
    let reached = library::inbound(addr, state.clone(), |_| {}, sizes.deadline).await;
    let count = state.count.load(Ordering::Acquire);
    report.check(
        reached,
        format!("inbound-metrics ({label}): {count} of {n} events handled"),
    );
    report.check(
        state.dropped() == 0,
        format!(
            "inbound-metrics ({label}): {} events dropped",
            state.dropped()
        ),
    );
    let answered = state.answered.load(Ordering::Relaxed);
    let expected = answers_in(cycle, calls, n);
    report.check(
        answered == expected,
        format!(
            "inbound-metrics ({label}): {answered} CHANNEL_ANSWER hooks ran, expected {expected}"
        ),
    );
    match (state.end.get(), started.get()) {
        (Some(end), Some(start)) => Some(n as f64 / (*end - *start).as_secs_f64()),
        _ => None,
    }
}

/// The inbound workload `repeat` times with the recorder on and off,
/// alternating which goes first; the medians and their ratio.
pub async fn inbound_metrics(sizes: &Sizes, report: &mut Report) {
    const CALLS: usize = 16;
    let cycle = Arc::new(frames::inbound_cycle(CALLS));
    let n = sizes.events;
    let (switch, handle) = recorder();
    let mut on = Vec::new();
    let mut off = Vec::new();
    // Twice the repeats: each pair is one off and one on run.
    for round in 0..sizes.repeat.max(1) * 2 {
        for recording in if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        } {
            switch.on.store(recording, Ordering::Relaxed);
            let before = events_received(handle);
            let label = if recording {
                "recording"
            } else {
                "no recorder"
            };
            let rate = once(sizes, &cycle, CALLS, report, label).await;
            let counted = events_received(handle) - before;
            if recording {
                report.check(
                    counted == n as u64,
                    format!("inbound-metrics: librevox_events_received_total moved by {counted}, expected {n}"),
                );
                on.extend(rate);
            } else {
                report.check(
                    counted == 0,
                    format!("inbound-metrics: {counted} events recorded with the recorder off"),
                );
                off.extend(rate);
            }
        }
    }
    switch.on.store(false, Ordering::Relaxed);
    let runs = on.len();
    // The ratio of each pair run back to back: slow drifts of the machine's
    // load fall on both runs of a pair.
    let ratio = median(on.iter().zip(&off).map(|(a, b)| a / b).collect());
    let (on, off) = (median(on), median(off));
    report.row(
        "inbound-metrics",
        format!("events/s ({n} events, {runs} pairs, interleaved): Prometheus recorder vs none"),
        fmt_rate(on),
        fmt_rate(off),
        format!("{ratio:.3}"),
        "≥ 0.97 × without (median of the pairs' ratios)",
        Some(ratio >= 0.97),
    );
}
