//! The switch as channels see it: the core, the registry of channels (with
//! the counters `status` reports), and the host that serves the outbound
//! sockets the `socket` application opens.
//!
//! The host is a trait object because the ESL layer that implements it sits
//! above the channels (it controls them): a channel opens the TCP stream,
//! the host speaks ESL on it. That keeps the module graph a DAG.

use std::sync::{Arc, Mutex};

use tokio::net::TcpStream;
use tokio::sync::oneshot;

use super::model::Channel;
use crate::simulator::core::Core;
use crate::simulator::sync::lock;

/// How the `socket` application connected: its mode words and who waits
/// for the client's `connect`.
pub(crate) struct OutboundCtx {
    /// `async` was given (otherwise the socket is served from the channel
    /// thread: a sync socket).
    pub(crate) async_mode: bool,
    /// `full` was given (otherwise only session commands are allowed).
    pub(crate) full: bool,
    /// Told when the client sent `connect`, with a sender the channel's
    /// thread drops once it parked (at once when the call's park delay is
    /// zero, else when it starts waiting for the delay): the `connect`
    /// reply waits for it, so a call that parks at once has fired its
    /// CHANNEL_PARK before the client can subscribe (as the switch's
    /// does), whatever the scheduling.
    pub(crate) on_connect: Option<oneshot::Sender<oneshot::Sender<()>>>,
}

/// Serves the ESL side of an outbound socket for a channel.
pub(crate) trait SocketHost: Send + Sync {
    /// Starts serving `stream` (dialed to `target`) for `channel`; returns
    /// at once.
    fn serve(
        &self,
        switch: Arc<Switch>,
        stream: TcpStream,
        channel: Arc<Channel>,
        target: String,
        ctx: OutboundCtx,
    );
}

#[derive(Default)]
struct Registry {
    channels: Vec<Arc<Channel>>,
    sessions_since_start: u64,
    peak: usize,
}

/// The counters of `api status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionCounts {
    pub(crate) since_start: u64,
    pub(crate) peak: usize,
    pub(crate) now: usize,
}

/// The core, the channels that exist, and the outbound socket host.
pub(crate) struct Switch {
    pub(crate) core: Arc<Core>,
    registry: Mutex<Registry>,
    sockets: Arc<dyn SocketHost>,
}

impl Switch {
    pub(crate) fn new(core: Arc<Core>, sockets: Arc<dyn SocketHost>) -> Arc<Switch> {
        Arc::new(Switch {
            core,
            registry: Mutex::new(Registry::default()),
            sockets,
        })
    }

    /// The channel with this `Unique-ID`, if it still exists.
    pub(crate) fn channel(&self, uuid: &str) -> Option<Arc<Channel>> {
        lock(&self.registry)
            .channels
            .iter()
            .find(|c| c.uuid == uuid)
            .cloned()
    }

    /// The channels that exist now, in creation order.
    pub(crate) fn channels(&self) -> Vec<Arc<Channel>> {
        lock(&self.registry).channels.clone()
    }

    pub(crate) fn counts(&self) -> SessionCounts {
        let r = lock(&self.registry);
        SessionCounts {
            since_start: r.sessions_since_start,
            peak: r.peak,
            now: r.channels.len(),
        }
    }

    /// Counts a new session and returns its number (`session_id`).
    pub(crate) fn next_session_id(&self) -> u64 {
        let mut r = lock(&self.registry);
        r.sessions_since_start += 1;
        r.sessions_since_start
    }

    pub(crate) fn add(&self, channel: Arc<Channel>) {
        let mut r = lock(&self.registry);
        r.channels.push(channel);
        r.peak = r.peak.max(r.channels.len());
    }

    pub(crate) fn remove(&self, uuid: &str) {
        lock(&self.registry).channels.retain(|c| c.uuid != uuid);
        self.core.notify();
    }

    pub(crate) fn sockets(&self) -> &dyn SocketHost {
        &*self.sockets
    }
}
