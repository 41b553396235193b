//! A connection's state and its primitives: the phase it is in, writing
//! (and recording) frames, the goodbye, leaving the bus.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::protocol::server::{self, GOODBYE};
use crate::simulator::bus::{Fired, Out, Subscriber};
use crate::simulator::channel::{Channel, OutboundCtx, Switch};
use crate::simulator::config::EslUser;
use crate::simulator::core::{ConnectionKind, ConnectionRecord, Core};
use crate::simulator::sync::lock;
use crate::simulator::telemetry::ConnMetrics;

/// What a command answers.
pub(super) enum Reply {
    /// A `command/reply` with this `Reply-Text`.
    Text(String),
    /// A whole frame.
    Frame(Bytes),
    /// The command wrote its answer itself.
    Written,
    /// These frames, then the connection closes.
    Close(Vec<Bytes>),
}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Nothing read yet: the first-packet timer runs.
    AwaitingFirst,
    /// Inbound, packets read, not authenticated.
    Unauthenticated,
    /// Authenticated (inbound) or past the first packet (outbound).
    Ready,
    /// The controlled channel is down and the socket lingers, until the
    /// deadline if there is one.
    Lingering(Option<Instant>),
    /// Close once the reply being written is out (a sync socket whose
    /// channel hung up inline, without linger).
    Closing,
}

/// One connection's state.
pub(super) struct Conn {
    pub(super) switch: Arc<Switch>,
    pub(super) core: Arc<Core>,
    pub(super) shared: Arc<Subscriber>,
    pub(super) rx: mpsc::UnboundedReceiver<Out>,
    pub(super) writer: Box<dyn AsyncWrite + Send + Unpin>,
    pub(super) record: Arc<Mutex<ConnectionRecord>>,
    pub(super) phase: Phase,
    /// The `userauth` user's rights (`None`: `auth`, all rights).
    pub(super) perms: Option<EslUser>,
    pub(super) outbound: Option<OutboundCtx>,
    /// The controlled channel (outbound, or inbound after `myevents <uuid>`).
    pub(super) session: Option<Arc<Channel>>,
    /// `linger [<seconds>]` (-1: forever); `None` after `nolinger`.
    pub(super) linger: Option<i64>,
    /// Counts the connection open until it is dropped, and its events.
    pub(super) metrics: ConnMetrics,
    /// The call's dispatch lag (outbound): how many of the latest events
    /// are held back, so the linger notice can overtake them
    /// ([`CallOrder::dispatch_lag`](crate::simulator::CallOrder::dispatch_lag)).
    pub(super) lag: usize,
    /// The events held back, oldest first, each with the time it goes out
    /// at the latest.
    pub(super) held: VecDeque<(Instant, Arc<Fired>)>,
}

/// An ASCII case-insensitive prefix test.
pub(super) fn starts_ci(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

impl Conn {
    pub(super) fn new<W>(switch: &Arc<Switch>, writer: W, kind: ConnectionKind) -> Conn
    where
        W: AsyncWrite + Send + Unpin + 'static,
    {
        let core = switch.core.clone();
        let (shared, rx) = Subscriber::new(core.next_id());
        Conn {
            switch: switch.clone(),
            metrics: ConnMetrics::open(&kind),
            record: core.new_record(kind),
            core,
            shared,
            rx,
            writer: Box::new(writer),
            phase: Phase::AwaitingFirst,
            perms: None,
            outbound: None,
            session: None,
            linger: None,
            lag: 0,
            held: VecDeque::new(),
        }
    }
    /// Writes one frame (and records it); false when the peer is gone.
    pub(super) async fn write(&mut self, frame: Bytes) -> bool {
        let ok = self.writer.write_all(&frame).await.is_ok() && self.writer.flush().await.is_ok();
        lock(&self.record).sent.push(frame);
        self.core.notify();
        ok
    }

    /// The goodbye disconnect-notice, in the session form when the
    /// connection controls a channel.
    pub(super) fn goodbye_frame(&self) -> Bytes {
        match &self.session {
            Some(ch) => server::session_disconnect_notice(&ch.uuid, GOODBYE),
            None => server::disconnect_notice(GOODBYE),
        }
    }

    pub(super) async fn goodbye(&mut self) {
        let f = self.goodbye_frame();
        self.write(f).await;
    }

    /// Leaves the bus, closes the socket and lets an outbound channel go.
    pub(super) async fn finish(&mut self) {
        lock(&self.shared.subs).closed = true;
        self.core.remove_subscriber(self.shared.id);
        let _ = self.writer.shutdown().await;
        if self.outbound.is_some() {
            if let Some(ch) = &self.session {
                ch.release();
            }
        }
        lock(&self.record).closed = true;
        self.core.notify();
    }

    /// Drops queued items matching `pred` (held events too), keeping the
    /// others in order.
    pub(super) fn drain(&mut self, pred: impl Fn(&Out) -> bool) {
        let held = std::mem::take(&mut self.held);
        self.held = held
            .into_iter()
            .filter(|(_, fired)| !pred(&Out::Event(fired.clone())))
            .collect();
        let mut keep = Vec::new();
        while let Ok(o) = self.rx.try_recv() {
            if !pred(&o) {
                keep.push(o);
            }
        }
        for o in keep {
            self.shared.push(o);
        }
    }
}
