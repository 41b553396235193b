//! Metrics and readiness.
//!
//! Everything librevox measures goes through the [`metrics`] facade: install
//! any recorder (Prometheus, StatsD, ...) and the `librevox_` series appear;
//! without one each call is a no-op. The built-in Prometheus exporter
//! (feature `prometheus`, `Runner::metrics`)
//! also serves `/health` and `/ready`, which report the [`Health`] of the
//! process's listeners.
//!
//! The series recorded (labels in brackets):
//!
//! | name | kind | meaning |
//! |---|---|---|
//! | `librevox_connections` (role) | gauge | open connections: `inbound` listeners connected, `outbound` sessions |
//! | `librevox_connects_total` (switch) | counter | inbound listener connections authenticated and subscribed |
//! | `librevox_reconnects_total` (switch) | counter | those of them that followed a lost connection |
//! | `librevox_auth_failures_total` (switch) | counter | connections FreeSWITCH refused (bad password, ACL) |
//! | `librevox_events_received_total` (event) | counter | events delivered to inbound listeners, by name (unknown names count as `other`) |
//! | `librevox_sessions_active` | gauge | outbound sessions running |
//! | `librevox_sessions_total` (cause) | counter | outbound sessions ended, by hangup cause (`none` when the call did not hang up) |
//! | `librevox_application_seconds` (application) | histogram | time from sending an application to its completion |
//! | `librevox_applications_failed_total` (kind) | counter | applications that ended with an error, by kind |
//! | `librevox_events_dropped_total` (policy) | counter | events read and never delivered: dropped by `DropNewest`, or parked when a connection closed |
//! | `librevox_event_backlog` | gauge | events read that their consumers have not taken yet, over all connections |
//! | `librevox_commands_total` (kind) | counter | commands written, by ESL verb (liveness probes are `api`) |
//! | `librevox_reply_seconds` (kind) | histogram | from queueing a command to its reply |
//! | `librevox_liveness_probes_total` | counter | liveness probes sent |
//! | `librevox_liveness_failures_total` | counter | probes unanswered: connections closed as unresponsive |
//! | `librevox_connections_refused_total` (reason) | counter | outbound connections closed unserved: `not_allowed` (outside `OutboundSettings::allow`), `max_sessions`, `setup_timeout` (the peer did not complete the `connect`/`myevents`/`linger` setup within `OutboundSettings::setup_timeout`), `setup` (the setup failed otherwise: refused channel data, closed by the peer) |
//! | `librevox_accept_failures_total` | counter | failed `accept` calls of outbound listeners (out of file descriptors, ...) |
//! | `librevox_event_sequence_gaps_total` (switch) | counter | gaps in `Event-Sequence` on an all-events subscription without filters, after the reordering window ([`WINDOW_EVENTS`], [`WINDOW_TIME`]) |
//! | `librevox_events_missed_total` (switch) | counter | the numbers those gaps left out: events lost |
//! | `librevox_core_uuid_changes_total` (switch) | counter | a listener saw a new `Core-UUID`: the switch restarted |
//! | `librevox_bridge_publish_seconds` (switch) | histogram | the JetStream bridge (feature `nats`): from publishing an event to its ack (retried publishes count from their retry) |

mod health;
#[cfg(feature = "prometheus")]
mod prometheus;
pub(crate) mod sequence;

pub use health::{Health, Readiness};
// The bridge (feature nats) registers its switches and NATS, as listeners do.
#[cfg_attr(not(feature = "nats"), allow(unused_imports))]
pub(crate) use health::Component;
#[cfg(feature = "prometheus")]
pub use prometheus::{serve, MetricsServer};
pub use sequence::{WINDOW_EVENTS, WINDOW_TIME};

use std::time::Duration;

use crate::protocol::EventName;
use crate::Error;

/// A connection's role, the `role` label of `librevox_connections`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Role {
    Inbound,
    Outbound,
}

impl Role {
    fn label(self) -> &'static str {
        match self {
            Role::Inbound => "inbound",
            Role::Outbound => "outbound",
        }
    }
}

/// Counts an open connection for as long as it lives.
pub(crate) struct ConnectionGauge(Role);

impl ConnectionGauge {
    pub(crate) fn open(role: Role) -> ConnectionGauge {
        metrics::gauge!("librevox_connections", "role" => role.label()).increment(1.0);
        if let Role::Outbound = role {
            metrics::gauge!("librevox_sessions_active").increment(1.0);
        }
        ConnectionGauge(role)
    }
}

impl Drop for ConnectionGauge {
    fn drop(&mut self) {
        metrics::gauge!("librevox_connections", "role" => self.0.label()).decrement(1.0);
        if let Role::Outbound = self.0 {
            metrics::gauge!("librevox_sessions_active").decrement(1.0);
        }
    }
}

pub(crate) fn connected(switch: &str, again: bool) {
    metrics::counter!("librevox_connects_total", "switch" => switch.to_owned()).increment(1);
    if again {
        metrics::counter!("librevox_reconnects_total", "switch" => switch.to_owned()).increment(1);
    }
}

pub(crate) fn auth_failed(switch: &str) {
    metrics::counter!("librevox_auth_failures_total", "switch" => switch.to_owned()).increment(1);
}

/// The `event` label for an event name: FreeSWITCH's names and `CUSTOM`;
/// anything else is `other`, so the label's values stay bounded.
pub(crate) fn event_label(name: Option<&str>) -> &'static str {
    match name.map(str::parse::<EventName>) {
        Some(Ok(EventName::Other(_))) | Some(Err(_)) | None => "other",
        Some(Ok(known)) => known
            .number()
            .and_then(|i| crate::protocol::names::EVENT_NAMES.get(i as usize).copied())
            .unwrap_or("other"),
    }
}

/// How many event names a connection keeps a counter for (FreeSWITCH has
/// about a hundred); names past that are looked up on every event.
const EVENT_COUNTERS: usize = 128;

/// One inbound connection's `librevox_events_received_total` handles, by
/// event name as it arrived: the hot path (once per event) is a short
/// string comparison and an atomic add, with no label formatting or
/// registry lookup. The handles belong to the recorder that was installed
/// when they were taken; [`check_recorder`](Self::check_recorder) starts
/// over when another one is (a recorder installed after the connection).
pub(crate) struct EventCounters {
    recorder: usize,
    seen: Vec<(Box<str>, metrics::Counter)>,
    unnamed: Option<metrics::Counter>,
}

/// The identity of the recorder the `metrics` macros would use now.
fn current_recorder() -> usize {
    metrics::with_recorder(|r| r as *const dyn metrics::Recorder as *const () as usize)
}

impl EventCounters {
    pub(crate) fn new() -> EventCounters {
        EventCounters {
            recorder: current_recorder(),
            seen: Vec::new(),
            unnamed: None,
        }
    }

    /// Drops the handles if the recorder changed since they were taken
    /// (cheap: call it once per batch of events).
    pub(crate) fn check_recorder(&mut self) {
        let now = current_recorder();
        if now != self.recorder {
            self.recorder = now;
            self.seen.clear();
            self.unnamed = None;
        }
    }

    /// Counts one event delivered to an inbound listener.
    pub(crate) fn received(&mut self, name: Option<&str>) {
        let Some(name) = name else {
            self.unnamed
                .get_or_insert_with(|| event_counter(None))
                .increment(1);
            return;
        };
        if let Some((_, c)) = self.seen.iter().find(|(n, _)| **n == *name) {
            c.increment(1);
            return;
        }
        let c = event_counter(Some(name));
        c.increment(1);
        if self.seen.len() < EVENT_COUNTERS {
            self.seen.push((name.into(), c));
        }
    }
}

impl std::fmt::Debug for EventCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventCounters")
            .field("names", &self.seen.len())
            .finish()
    }
}

fn event_counter(name: Option<&str>) -> metrics::Counter {
    metrics::counter!("librevox_events_received_total", "event" => event_label(name))
}

pub(crate) fn session_ended(cause: Option<&str>) {
    let cause = cause
        .map(str::to_owned)
        .unwrap_or_else(|| "none".to_owned());
    metrics::counter!("librevox_sessions_total", "cause" => cause).increment(1);
}

pub(crate) fn application_done(app: &str, took: Duration, failed: Option<&Error>) {
    metrics::histogram!("librevox_application_seconds", "application" => app.to_owned())
        .record(took.as_secs_f64());
    if let Some(e) = failed {
        metrics::counter!("librevox_applications_failed_total", "kind" => error_kind(e))
            .increment(1);
    }
}

/// A short, bounded name for an error's kind (the `kind` label).
pub(crate) fn error_kind(e: &Error) -> &'static str {
    match e {
        Error::Hangup { .. } => "hangup",
        Error::Timeout { .. } => "timeout",
        Error::Unresponsive { .. } => "unresponsive",
        e if e.is_closed() => "closed",
        Error::CommandFailed { .. } => "command_failed",
        _ => "other",
    }
}

/// The `kind` label of a command: its ESL verb (`api`, `bgapi`, `sendmsg`,
/// `event`, ...); anything unexpected is `other`, so the values stay bounded.
pub(crate) fn command_kind(bytes: &[u8]) -> &'static str {
    let end = bytes
        .iter()
        .position(|b| b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    const KINDS: &[&str] = &[
        "api",
        "bgapi",
        "sendmsg",
        "sendevent",
        "event",
        "nixevent",
        "noevents",
        "filter",
        "myevents",
        "divert_events",
        "linger",
        "nolinger",
        "log",
        "nolog",
        "resume",
        "connect",
        "auth",
        "userauth",
        "exit",
    ];
    KINDS
        .iter()
        .find(|k| k.as_bytes() == &bytes[..end])
        .copied()
        .unwrap_or("other")
}

/// A command written to the socket.
pub(crate) fn command_sent(kind: &'static str) {
    metrics::counter!("librevox_commands_total", "kind" => kind).increment(1);
}

/// A command's reply arrived `took` after the command was queued for writing.
pub(crate) fn reply_received(kind: &'static str, took: Duration) {
    metrics::histogram!("librevox_reply_seconds", "kind" => kind).record(took.as_secs_f64());
}

/// The `policy` label of `librevox_events_dropped_total`.
pub(crate) fn policy_label(policy: crate::OverflowPolicy) -> &'static str {
    match policy {
        crate::OverflowPolicy::Backpressure => "backpressure",
        crate::OverflowPolicy::DropNewest => "drop_newest",
    }
}

/// `n` events were lost under `policy`.
pub(crate) fn events_dropped(policy: crate::OverflowPolicy, n: u64) {
    metrics::counter!("librevox_events_dropped_total", "policy" => policy_label(policy))
        .increment(n);
}

/// A liveness probe was sent.
pub(crate) fn liveness_probe() {
    metrics::counter!("librevox_liveness_probes_total").increment(1);
}

/// A liveness probe went unanswered: the connection is closed.
pub(crate) fn liveness_failure() {
    metrics::counter!("librevox_liveness_failures_total").increment(1);
}

/// An outbound connection was closed without serving a call.
pub(crate) fn connection_refused(reason: &'static str) {
    metrics::counter!("librevox_connections_refused_total", "reason" => reason).increment(1);
}

/// An outbound listener's `accept` failed.
pub(crate) fn accept_failed() {
    metrics::counter!("librevox_accept_failures_total").increment(1);
}

/// One connection's share of `librevox_event_backlog`: events read from its
/// socket that its consumer has not taken yet. Both the socket task and the
/// event stream report what they see; the gauge moves by the difference, so
/// the series is the sum over all connections, and a connection that ends
/// takes its share back.
pub(crate) struct Backlog {
    gauge: metrics::Gauge,
    reported: std::sync::atomic::AtomicUsize,
}

impl Backlog {
    pub(crate) fn new() -> Backlog {
        Backlog {
            gauge: metrics::gauge!("librevox_event_backlog"),
            reported: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The backlog is `now` events.
    pub(crate) fn report(&self, now: usize) {
        let before = self
            .reported
            .swap(now, std::sync::atomic::Ordering::Relaxed);
        if before != now {
            self.gauge.increment(now as f64 - before as f64);
        }
    }
}

impl Drop for Backlog {
    fn drop(&mut self) {
        let left = *self.reported.get_mut();
        if left > 0 {
            self.gauge.decrement(left as f64);
        }
    }
}

impl std::fmt::Debug for Backlog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backlog")
            .field("reported", &self.reported)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_kinds_are_the_verb_or_other() {
        assert_eq!(command_kind(b"api status\n\n"), "api");
        assert_eq!(command_kind(b"bgapi originate x\n\n"), "bgapi");
        assert_eq!(
            command_kind(b"sendmsg abc\ncall-command: execute\n\n"),
            "sendmsg"
        );
        assert_eq!(command_kind(b"exit\n\n"), "exit");
        assert_eq!(command_kind(b"event plain ALL\n\n"), "event");
        assert_eq!(command_kind(b"apix status\n\n"), "other");
        assert_eq!(command_kind(b""), "other");
    }
}
