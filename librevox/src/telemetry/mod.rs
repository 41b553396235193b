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

mod health;
#[cfg(feature = "prometheus")]
mod prometheus;

pub use health::{Health, Readiness};
#[cfg(feature = "prometheus")]
pub use prometheus::{serve, MetricsServer};

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

pub(crate) fn event_received(name: Option<&str>) {
    metrics::counter!("librevox_events_received_total", "event" => event_label(name)).increment(1);
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
