//! Listeners: what `#[inbound]` and `#[outbound]` implement, and the loops
//! that run them.
//!
//! * An **inbound** listener connects to FreeSWITCH (port 8021), authenticates,
//!   subscribes (`event <format> <names>`, then one `filter` per value in
//!   declaration order) and handles events. It reconnects with exponential
//!   backoff and jitter when the connection drops or FreeSWITCH is not up, and
//!   replays the subscription. One listener value lives across reconnects.
//! * An **outbound** listener is a server (port 8084) that FreeSWITCH dials
//!   from the dialplan `socket` application. Each call gets a fresh listener
//!   value and a [`Session`]: `connect` → `myevents` → `linger`, then
//!   [`OutboundListener::session_initiated`] runs while events flow to the
//!   hooks (an error it returns is logged at once). Once both the
//!   disconnect-notice and CHANNEL_HANGUP_COMPLETE have arrived (either
//!   order) and running hooks have finished,
//!   [`OutboundListener::session_ended`] runs and the connection is closed.
//!
//! Events are dispatched off the socket task (see [`dispatch`]): events of
//! one channel (same `Unique-ID`) are handled in order, `on_event` before the
//! hooks; different channels proceed independently; a panicking hook is logged
//! and does not take the connection down. A hook that finishes without
//! waiting runs right on the listener's task (no task switch); one that
//! awaits continues on a task of its channel. So a hook with long
//! synchronous work holds up every channel while it runs: give such work to
//! `tokio::task::spawn_blocking`.

pub mod dispatch;
mod inbound;
pub(crate) mod macro_support;
mod outbound;
mod runner;
mod shutdown;
#[cfg(feature = "nats")]
pub mod stream;

use std::future::Future;

pub use inbound::{run_inbound, Backoff, Inbound, InboundSettings, Reconnect, Switch};
pub use outbound::{
    run_outbound_session, serve_outbound, IpNet, OutboundSettings, Session, SessionEnd,
    SessionOutcome,
};
pub use runner::{init_logging, shutdown_signal, use_colour, LogFormat, LogOptions, Runner};
pub use shutdown::Shutdown;
#[cfg(feature = "nats")]
pub use stream::{run_stream, StreamSettings};

pub use crate::target::AppTarget;

use crate::error::Result;
pub use crate::protocol::Linger;
use crate::protocol::{Event, EventFormat};

/// What an inbound listener subscribes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Event names (`CHANNEL_ANSWER`, `CUSTOM conference::maintenance`, `ALL`).
    pub events: Vec<String>,
    /// The event format FreeSWITCH should use.
    pub format: EventFormat,
    /// `(header, value)` filters, sent one `filter` command each, in order.
    pub filters: Vec<(String, String)>,
}

impl Subscription {
    /// True when this subscription receives every event the switch fires:
    /// some name is `ALL` and there are no filters. Only then does a gap in
    /// `Event-Sequence` mean lost events.
    pub(crate) fn sees_every_event(&self) -> bool {
        self.filters.is_empty()
            && self
                .events
                .iter()
                .flat_map(|e| e.split_whitespace())
                .any(|w| w.eq_ignore_ascii_case("ALL"))
    }

    /// Checks what FreeSWITCH would refuse, or what would end the command
    /// line early, before anything is sent: at least one event name, none
    /// with a line break; filter headers that are non-empty words without
    /// `:`; filter values that are not blank and have no line break.
    /// `run_inbound` checks this before connecting and at every handshake,
    /// and stops with the error instead of retrying a subscription that
    /// cannot work (filter values may come from configuration).
    pub fn validate(&self) -> Result<()> {
        let invalid = |msg: String| Err(crate::Error::InvalidCommand(msg));
        if self.events.is_empty() || self.events.iter().any(|e| e.trim().is_empty()) {
            return invalid("the subscription names no event (use \"ALL\" for every event)".into());
        }
        if let Some(name) = self.events.iter().find(|e| e.contains(['\r', '\n'])) {
            return invalid(format!(
                "event name {name:?} has a line break, which would end the command; name one event per entry"
            ));
        }
        for (header, value) in &self.filters {
            if header.is_empty() || header.contains(|c: char| c.is_whitespace() || c == ':') {
                return invalid(format!(
                    "filter header {header:?} must be a non-empty name without spaces or `:`"
                ));
            }
            if value.trim().is_empty() {
                return invalid(format!(
                    "filter {header:?} has an empty value; FreeSWITCH refuses `filter <header>` without one"
                ));
            }
            if value.contains(['\r', '\n']) {
                return invalid(format!(
                    "filter {header:?} has a value with a line break, which would end the command"
                ));
            }
        }
        Ok(())
    }
}

impl Default for Subscription {
    /// Every event (`ALL`), plain format, no filters: the original's default.
    fn default() -> Self {
        Subscription {
            events: vec!["ALL".to_owned()],
            format: EventFormat::Plain,
            filters: Vec::new(),
        }
    }
}

/// An inbound listener: connects to FreeSWITCH and handles its events.
///
/// Usually implemented by `#[inbound]` on an `impl` block; implementing it by
/// hand is fine too.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an inbound listener",
    label = "this type has no `#[inbound]` impl block",
    note = "put `#[librevox::inbound]` on an `impl {Self} {{ ... }}` block, or implement `librevox::listener::InboundListener` by hand"
)]
pub trait InboundListener: Send + Sync + 'static {
    /// The events, format and filters to subscribe to after authenticating.
    fn subscription(&self) -> Subscription {
        Subscription::default()
    }

    /// Runs after every successful handshake (auth, events, filters).
    fn connection_completed(&self, ctx: &Inbound) -> impl Future<Output = ()> + Send {
        let _ = ctx;
        async {}
    }

    /// Runs after a handshake that followed a lost connection: events fired
    /// while disconnected were missed.
    fn reconnected(&self, ctx: &Inbound) -> impl Future<Output = ()> + Send {
        let _ = ctx;
        async {}
    }

    /// Handles one event: `on_event`, then the matching hooks.
    fn handle_event(&self, ctx: &Inbound, event: &Event) -> impl Future<Output = ()> + Send;

    /// Whether [`handle_event`](Self::handle_event) does anything with
    /// events named `name` (`CHANNEL_ANSWER`; `CUSTOM` for every custom
    /// event). Events it does not want are not parsed for it or handed to
    /// it, which saves the parsing of every event a call's `myevents`
    /// brings that no hook uses. `#[inbound]`/`#[outbound]` generate this
    /// from the hooks; the default wants everything.
    fn wants_event(&self, name: &str) -> bool {
        let _ = name;
        true
    }
}

/// Per-call settings of an outbound listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundOptions {
    /// Whether the socket stays open after the hangup: [`Linger::Forever`]
    /// (the default, so the end of the call is seen; `linger`),
    /// [`Linger::Seconds`] (`linger n`) or [`Linger::Off`] (nothing sent:
    /// FreeSWITCH does not linger).
    pub linger: Linger,
    /// Send `event-lock: true` with every application (default true), so
    /// applications run strictly one after another.
    pub event_lock: bool,
    /// Extra event names to subscribe to beyond `myevents` (needs `full`).
    pub events: Vec<String>,
    /// The event format (`myevents <format>`).
    pub format: EventFormat,
}

impl Default for OutboundOptions {
    fn default() -> Self {
        OutboundOptions {
            linger: Linger::Forever,
            event_lock: true,
            events: Vec::new(),
            format: EventFormat::Plain,
        }
    }
}

/// An outbound listener: runs one call that FreeSWITCH hands to us.
///
/// Usually implemented by `#[outbound]` on an `impl` block.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an outbound listener",
    label = "this type has no `#[outbound]` impl block",
    note = "put `#[librevox::outbound]` on an `impl {Self} {{ ... }}` block with an `async fn session_initiated(&self, session: &Session) -> librevox::Result<()>`"
)]
pub trait OutboundListener: Send + Sync + 'static {
    /// Linger, event-lock and subscription settings for each call.
    fn options(&self) -> OutboundOptions {
        OutboundOptions::default()
    }

    /// The call's logic: runs once the session is set up.
    fn session_initiated(&self, session: &Session) -> impl Future<Output = Result<()>> + Send;

    /// Handles one event of the call: `on_event`, then the matching hooks.
    fn handle_event(&self, session: &Session, event: &Event) -> impl Future<Output = ()> + Send {
        let _ = (session, event);
        async {}
    }

    /// Runs once per call, after its end (the latch), once the hooks and
    /// `session_initiated` have finished, and before `exit` closes the
    /// socket: how it ended (hangup cause, duration, what
    /// `session_initiated` returned) is in `how`. It gets
    /// [`OutboundSettings::session_grace`] to finish; a panic in it is
    /// logged. Not called for a session whose setup failed, nor for one cut
    /// off by the server's shutdown grace period.
    fn session_ended(
        &self,
        session: &Session,
        how: &SessionEnd,
    ) -> impl Future<Output = ()> + Send {
        let _ = (session, how);
        async {}
    }

    /// Whether [`handle_event`](Self::handle_event) does anything with
    /// events named `name` (`CHANNEL_ANSWER`; `CUSTOM` for every custom
    /// event). Events it does not want are not parsed for it or handed to
    /// it, which saves the parsing of every event a call's `myevents`
    /// brings that no hook uses. `#[inbound]`/`#[outbound]` generate this
    /// from the hooks; the default wants everything.
    fn wants_event(&self, name: &str) -> bool {
        let _ = name;
        true
    }
}

#[cfg(test)]
mod subscription_tests {
    use super::Subscription;

    #[test]
    fn only_all_without_filters_sees_every_event() {
        assert!(Subscription::default().sees_every_event());
        let with = |events: &[&str], filters: &[(&str, &str)]| Subscription {
            events: events.iter().map(|e| e.to_string()).collect(),
            filters: filters
                .iter()
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect(),
            ..Subscription::default()
        };
        assert!(with(&["CHANNEL_CREATE all"], &[]).sees_every_event());
        assert!(!with(&["CHANNEL_CREATE"], &[]).sees_every_event());
        assert!(!with(&["ALL"], &[("Unique-ID", "x")]).sees_every_event());
    }
}
