//! The simulator's own series, through the [`metrics`] facade: what a
//! `librevox sim --metrics ADDR` shows. Their prefix is
//! `librevox_simulator_`, apart from the client's `librevox_` series, so a
//! test running a listener against an embedded simulator with one recorder
//! keeps the two sides apart. Without a recorder each call is a no-op.
//!
//! | name | kind | meaning |
//! |---|---|---|
//! | `librevox_simulator_connections` (role) | gauge | open event-socket connections: `inbound` (clients of the simulator), `outbound` (the `socket` application's, to outbound listeners) |
//! | `librevox_simulator_commands_total` (kind) | counter | commands read, by verb (`auth`, `userauth`, `exit`, `api`, `bgapi`, `event`, `sendmsg`, ...; `other`: answered `-ERR command not found`) |
//! | `librevox_simulator_events_sent_total` (role) | counter | events written to connections |

use metrics::{counter, gauge, Counter, Gauge};

use super::core::ConnectionKind;

/// One connection's handles: counted open while it lives.
pub(crate) struct ConnMetrics {
    open: Gauge,
    events_sent: Counter,
}

impl ConnMetrics {
    /// Counts a connection of `kind` open until this is dropped.
    pub(crate) fn open(kind: &ConnectionKind) -> ConnMetrics {
        let role = match kind {
            ConnectionKind::Inbound { .. } => "inbound",
            ConnectionKind::Outbound { .. } => "outbound",
        };
        let open = gauge!("librevox_simulator_connections", "role" => role);
        open.increment(1.0);
        ConnMetrics {
            open,
            events_sent: counter!("librevox_simulator_events_sent_total", "role" => role),
        }
    }

    /// One event written to the connection.
    pub(crate) fn event_sent(&self) {
        self.events_sent.increment(1);
    }
}

impl Drop for ConnMetrics {
    fn drop(&mut self) {
        self.open.decrement(1.0);
    }
}

/// One command read, of `kind` (a fixed verb: the label stays bounded).
pub(crate) fn command(kind: &'static str) {
    counter!("librevox_simulator_commands_total", "kind" => kind).increment(1);
}
