//! The NATS JetStream bridge (feature `nats`): every event of N switches
//! into one stream, and `api`/`bgapi` by NATS request/reply.
//!
//! For each configured switch the bridge holds one inbound connection
//! (`event plain ALL`, reconnecting with [`Backoff`]) and:
//!
//! * **publishes every event** to JetStream on
//!   [`fleet::event_subject`](crate::fleet::event_subject), the payload being
//!   [`event_json::to_string`](crate::protocol::event_json::to_string) (what
//!   `librevox events --output json` prints), with the headers
//!   `Nats-Msg-Id: <Core-UUID>:<Event-Sequence>` ([`fleet::msg_id`](crate::fleet::msg_id)),
//!   `Unique-ID` (when the event has one) and `Event-Name`;
//! * **acknowledges every publish**: at most [`BridgeConfig::max_in_flight`]
//!   publishes wait for their JetStream ack at once. An ack that fails or
//!   times out makes the bridge publish again, in order, everything from the
//!   oldest unacknowledged event on: the Msg-Id lets JetStream drop what it
//!   already stored, so a retry never doubles an event. The time from a
//!   publish to its ack is recorded in the histogram
//!   `librevox_bridge_publish_seconds` (label `switch`; see [`telemetry`](crate::telemetry));
//! * **buffers when NATS is slow or down**, up to
//!   [`BridgeConfig::max_buffered_events`] events or
//!   [`BridgeConfig::max_buffered_bytes`] of payload, and then stops reading
//!   the switch's socket (FreeSWITCH queues on its side). Nothing is dropped
//!   while the bridge runs; what is still unacknowledged when it is stopped
//!   is counted in [`SwitchStats::dropped`] and logged;
//! * **answers commands**: a request on `freeswitch.<switch>.api` (payload:
//!   the command line) is answered with the response body, or, for a
//!   `-ERR`/`-USAGE` answer, an error (header [`ERROR_HEADER`] carrying
//!   FreeSWITCH's text). A request on `freeswitch.<switch>.bgapi` is answered
//!   at once with the `Job-UUID` (header and body; a request may choose it
//!   with its own `Job-UUID` header, so it can subscribe first), and the job's
//!   result body is published on `freeswitch.<switch>.job.<Job-UUID>`.
//!   Command lines with CR or LF are refused, every command has
//!   [`BridgeConfig::request_timeout`]. Bridges subscribe in the queue group
//!   [`QUEUE_GROUP`], so of two bridges on one switch one answers.
//!
//! # High availability
//! Run two bridges (on two machines) for the same switches. Both publish
//! every event; JetStream keeps the first copy of each Msg-Id within the
//! stream's duplicate window (2 minutes for the stream the bridge creates), so
//! the stream holds each event once, and either bridge may die at any moment.
//!
//! # Order
//! Within one switch, events are published in the order the switch delivered
//! them, and a retry republishes from the oldest unacknowledged one, so the
//! stream keeps the switch's delivery order (per channel, and per switch).
//! That is not always `Event-Sequence` order: the real FreeSWITCH can deliver
//! a channel's CHANNEL_ANSWER before its CHANNEL_CREATE. The bridge does not
//! reorder. With two bridges, a duplicate arriving first fixes an event's
//! place in the stream, so order across the pair is each bridge's order
//! interleaved.
//!
//! ```no_run
//! # async fn f() -> Result<(), librevox::bridge::BridgeError> {
//! use librevox::bridge::{Bridge, BridgeConfig, SwitchConfig};
//! use librevox::fleet::SwitchName;
//!
//! let mut config = BridgeConfig::new("nats://127.0.0.1:4222");
//! config.switches.push(SwitchConfig::new(
//!     SwitchName::new("fs1").unwrap(),
//!     "127.0.0.1:8021",
//!     "ClueCon",
//! ));
//! let bridge = Bridge::start(config).await?;
//! // ... until it is time to stop:
//! let stats = bridge.stop().await;
//! println!("{stats:?}");
//! # Ok(()) }
//! ```

mod publish;
mod requests;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_nats::jetstream;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;

use crate::connection::Connection;
use crate::fleet::SwitchName;
use crate::listener::{Backoff, Shutdown};
use crate::telemetry::{Component, Health};

/// The NATS reply header carrying an error (FreeSWITCH's `-ERR` text, a
/// refused command line, a disconnected switch, a timeout).
pub const ERROR_HEADER: &str = "Librevox-Error";

/// The queue group the bridges' command subscriptions share.
pub const QUEUE_GROUP: &str = "librevox-bridge";

/// One switch the bridge reads.
#[derive(Clone)]
pub struct SwitchConfig {
    /// The name in the subjects (`freeswitch.<name>.…`).
    pub name: SwitchName,
    /// `host:port` of its event socket.
    pub address: String,
    /// The event socket password.
    pub password: String,
    /// A `userauth` user, if the switch has users configured.
    pub user: Option<String>,
}

impl SwitchConfig {
    /// A switch with a name, an address and a password.
    pub fn new(name: SwitchName, address: impl Into<String>, password: impl Into<String>) -> Self {
        SwitchConfig {
            name,
            address: address.into(),
            password: password.into(),
            user: None,
        }
    }
}

impl std::fmt::Debug for SwitchConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwitchConfig")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("password", &"<redacted>")
            .field("user", &self.user)
            .finish()
    }
}

/// How to authenticate to NATS.
#[derive(Clone, Default)]
pub enum NatsAuth {
    /// No credentials.
    #[default]
    None,
    /// A user and a password.
    UserPassword(String, String),
    /// A token.
    Token(String),
}

impl std::fmt::Debug for NatsAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NatsAuth::None => f.write_str("None"),
            NatsAuth::UserPassword(u, _) => write!(f, "UserPassword({u:?}, <redacted>)"),
            NatsAuth::Token(_) => f.write_str("Token(<redacted>)"),
        }
    }
}

/// Everything a [`Bridge`] needs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BridgeConfig {
    /// The switches to read.
    pub switches: Vec<SwitchConfig>,
    /// The NATS server(s), comma separated (`nats://host:4222,...`).
    pub nats_url: String,
    /// NATS credentials.
    pub nats_auth: NatsAuth,
    /// The stream's name (default `FREESWITCH`). Created when missing with
    /// the subjects `freeswitch.*.event.>` (not `freeswitch.>`: that would capture the api/bgapi request subjects too) and [`dedup_window`](Self::dedup_window);
    /// an existing stream is left as configured.
    pub stream: String,
    /// The duplicate window of a stream the bridge creates (default 2 min).
    pub dedup_window: Duration,
    /// Events of one switch buffered while NATS is slow or down, at most
    /// (default 100,000). Past that the bridge stops reading the switch.
    pub max_buffered_events: usize,
    /// Payload bytes of one switch buffered, at most (default 256 MiB).
    pub max_buffered_bytes: usize,
    /// Publishes of one switch waiting for their ack at once (default 256).
    pub max_in_flight: usize,
    /// How long a publish waits for its ack before it is retried (default 5 s).
    pub ack_timeout: Duration,
    /// The timeout of every api/bgapi request (default 30 s).
    pub request_timeout: Duration,
    /// Reconnect delays for the switches.
    pub backoff: Backoff,
    /// How long [`Bridge::stop`] waits for outstanding acks (default 5 s).
    pub stop_grace: Duration,
}

impl BridgeConfig {
    /// Defaults, for a NATS URL, with no switch yet.
    pub fn new(nats_url: impl Into<String>) -> BridgeConfig {
        BridgeConfig {
            switches: Vec::new(),
            nats_url: nats_url.into(),
            nats_auth: NatsAuth::None,
            stream: "FREESWITCH".to_owned(),
            dedup_window: Duration::from_secs(120),
            max_buffered_events: 100_000,
            max_buffered_bytes: 256 << 20,
            max_in_flight: 256,
            ack_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            backoff: Backoff::default(),
            stop_grace: Duration::from_secs(5),
        }
    }
}

/// Why a bridge could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BridgeError {
    /// The configuration names no switch, or one twice.
    #[error("bridge configuration: {0}")]
    Config(String),
    /// NATS could not be reached.
    #[error("cannot connect to NATS at {url}: {source}")]
    Nats {
        /// The URL tried.
        url: String,
        /// What async-nats said.
        #[source]
        source: async_nats::ConnectError,
    },
    /// The stream could not be looked up or created.
    #[error("JetStream stream `{stream}`: {message} (is JetStream enabled: nats-server -js?)")]
    Stream {
        /// The stream's name.
        stream: String,
        /// What the server said.
        message: String,
    },
    /// The command subjects could not be subscribed.
    #[error("subscribing {subject}: {message}")]
    Subscribe {
        /// The subject.
        subject: String,
        /// What async-nats said.
        message: String,
    },
}

/// Counters of one switch (monotonic since the bridge started).
#[derive(Default)]
pub(crate) struct Counters {
    pub connected: AtomicBool,
    pub connects: AtomicU64,
    pub received: AtomicU64,
    pub acked: AtomicU64,
    pub duplicates: AtomicU64,
    pub retries: AtomicU64,
    pub dropped: AtomicU64,
    /// This switch's entry in [`Health::global`] (`/ready`).
    pub health: OnceLock<Component>,
}

impl Counters {
    /// Records whether the switch's event socket is connected and subscribed.
    pub(crate) fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Relaxed);
        if let Some(c) = self.health.get() {
            c.set_ready(connected);
        }
    }
}

/// A snapshot of one switch's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SwitchStats {
    /// The switch.
    pub name: SwitchName,
    /// Whether its event socket is connected and subscribed now.
    pub connected: bool,
    /// Successful connections so far (1 + reconnects).
    pub connects: u64,
    /// Events read from the switch.
    pub received: u64,
    /// Events JetStream acknowledged (stored, or known as duplicates).
    pub acked: u64,
    /// Of those, the ones JetStream reported as duplicates (the other bridge
    /// of an HA pair, or a retry, stored them first).
    pub duplicates: u64,
    /// Publishes sent again after a failed or timed-out ack.
    pub retries: u64,
    /// Events read but never acknowledged (counted when the bridge stops).
    pub dropped: u64,
}

struct SwitchHandle {
    name: SwitchName,
    counters: Arc<Counters>,
}

/// A running bridge. Dropping it stops it abruptly (like a killed process);
/// [`stop`](Self::stop) stops it gracefully.
pub struct Bridge {
    switches: Vec<SwitchHandle>,
    shutdown: Shutdown,
    tasks: JoinSet<()>,
    nats_ready: watch::Receiver<bool>,
    /// Keeps the NATS entry of `/ready` while the bridge lives.
    _nats_health: Arc<Component>,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("switches", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Bridge {
    /// Connects to NATS, makes sure the stream exists, subscribes the command
    /// subjects and starts reading the switches (in the background: a switch
    /// that is down is retried, see [`SwitchStats::connected`]).
    pub async fn start(config: BridgeConfig) -> Result<Bridge, BridgeError> {
        if config.switches.is_empty() {
            return Err(BridgeError::Config(
                "no switch: add one (`--switch fs1=127.0.0.1:8021`)".into(),
            ));
        }
        for (i, s) in config.switches.iter().enumerate() {
            if config.switches[..i].iter().any(|o| o.name == s.name) {
                return Err(BridgeError::Config(format!(
                    "the switch name `{}` is used twice: names must be unique",
                    s.name
                )));
            }
        }
        if config.max_in_flight == 0 || config.max_buffered_events == 0 {
            return Err(BridgeError::Config(
                "max_in_flight and max_buffered_events must be at least 1".into(),
            ));
        }
        let (ready_tx, nats_ready) = watch::channel(false);
        let ready_tx = Arc::new(ready_tx);
        let on_event = ready_tx.clone();
        // `/ready` (telemetry): NATS reachable, and each switch connected.
        let nats_health =
            Arc::new(Health::global().register(format!("bridge NATS {}", config.nats_url)));
        let on_event_health = nats_health.clone();
        let mut opts = async_nats::ConnectOptions::new()
            .name("librevox-bridge")
            // Publishes wait in the client while it reconnects: the bridge's
            // own buffer and acks bound them.
            .retry_on_initial_connect()
            .max_reconnects(None)
            .event_callback(move |ev| {
                let tx = on_event.clone();
                let health = on_event_health.clone();
                async move {
                    match ev {
                        async_nats::Event::Connected => {
                            tracing::info!("NATS connected");
                            tx.send_replace(true);
                            health.set_ready(true);
                        }
                        async_nats::Event::Disconnected => {
                            tracing::warn!("NATS disconnected; buffering events");
                            tx.send_replace(false);
                            health.set_ready(false);
                        }
                        other => tracing::debug!("NATS: {other}"),
                    }
                }
            });
        opts = match &config.nats_auth {
            NatsAuth::None => opts,
            NatsAuth::UserPassword(u, p) => opts.user_and_password(u.clone(), p.clone()),
            NatsAuth::Token(t) => opts.token(t.clone()),
        };
        // retry_on_initial_connect returns at once; the first connection is
        // then awaited below with a deadline, so a wrong URL fails start.
        let client = opts
            .connect(config.nats_url.as_str())
            .await
            .map_err(|source| BridgeError::Nats {
                url: config.nats_url.clone(),
                source,
            })?;
        let mut ready = nats_ready.clone();
        let first = tokio::time::timeout(
            Duration::from_secs(10),
            ready.wait_for(|connected| *connected),
        )
        .await;
        if !matches!(first, Ok(Ok(_))) {
            return Err(BridgeError::Stream {
                stream: config.stream.clone(),
                message: format!("no NATS server answered at {} within 10 s", config.nats_url),
            });
        }
        let js = jetstream::context::ContextBuilder::new()
            .timeout(config.ack_timeout)
            .max_ack_inflight(config.max_in_flight.saturating_mul(config.switches.len()))
            .build(client.clone());
        js.get_or_create_stream(jetstream::stream::Config {
            name: config.stream.clone(),
            // Events only: a stream on `freeswitch.>` would also capture the
            // api/bgapi request subjects and answer them with its PubAck.
            subjects: vec![format!("{}.*.event.>", crate::fleet::SUBJECT_ROOT)],
            duplicate_window: config.dedup_window,
            ..Default::default()
        })
        .await
        .map_err(|e| BridgeError::Stream {
            stream: config.stream.clone(),
            message: e.to_string(),
        })?;

        let shutdown = Shutdown::new();
        let mut tasks = JoinSet::new();
        let mut switches = Vec::new();
        let config = Arc::new(config);
        for sw in config.switches.iter() {
            let counters = Arc::new(Counters::default());
            let _ = counters.health.set(
                Health::global().register(format!("bridge switch {} ({})", sw.name, sw.address)),
            );
            let (conn_tx, conn_rx) = watch::channel::<Option<Connection>>(None);
            let subs = requests::subscribe(&client, &sw.name).await?;
            let (tx, rx) = mpsc::channel(config.max_buffered_events);
            let bytes = Arc::new(Semaphore::new(
                config.max_buffered_bytes.min(Semaphore::MAX_PERMITS),
            ));
            tasks.spawn(publish::read_switch(
                sw.clone(),
                config.clone(),
                tx,
                bytes.clone(),
                counters.clone(),
                conn_tx,
                shutdown.clone(),
            ));
            tasks.spawn(publish::publish_loop(
                sw.name.clone(),
                config.clone(),
                js.clone(),
                rx,
                bytes,
                counters.clone(),
                shutdown.clone(),
            ));
            tasks.spawn(requests::serve(
                sw.name.clone(),
                client.clone(),
                subs,
                conn_rx,
                config.request_timeout,
                shutdown.clone(),
            ));
            switches.push(SwitchHandle {
                name: sw.name.clone(),
                counters,
            });
        }
        Ok(Bridge {
            switches,
            shutdown,
            tasks,
            nats_ready,
            _nats_health: nats_health,
        })
    }

    /// Every switch's counters.
    pub fn stats(&self) -> Vec<SwitchStats> {
        self.switches
            .iter()
            .map(|s| {
                let c = &s.counters;
                SwitchStats {
                    name: s.name.clone(),
                    connected: c.connected.load(Ordering::Relaxed),
                    connects: c.connects.load(Ordering::Relaxed),
                    received: c.received.load(Ordering::Relaxed),
                    acked: c.acked.load(Ordering::Relaxed),
                    duplicates: c.duplicates.load(Ordering::Relaxed),
                    retries: c.retries.load(Ordering::Relaxed),
                    dropped: c.dropped.load(Ordering::Relaxed),
                }
            })
            .collect()
    }

    /// Ready: every switch connected and NATS reachable.
    pub fn is_ready(&self) -> bool {
        *self.nats_ready.borrow()
            && self
                .switches
                .iter()
                .all(|s| s.counters.connected.load(Ordering::Relaxed))
    }

    /// Waits until [`is_ready`](Self::is_ready), at most `timeout`; returns
    /// whether it became ready.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut nats = self.nats_ready.clone();
        loop {
            if self.is_ready() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            // Switch state has no notifier: re-check at a short interval,
            // or as soon as the NATS state changes.
            let _ = tokio::time::timeout(Duration::from_millis(20), nats.changed()).await;
        }
    }

    /// The bridge's stop switch: triggering it stops the bridge like
    /// [`stop`](Self::stop) (the tasks end; [`wait`](Self::wait) returns).
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Waits until the bridge has stopped (after its [`shutdown`](Self::shutdown)
    /// was triggered), and returns the final counters.
    pub async fn wait(mut self) -> Vec<SwitchStats> {
        while self.tasks.join_next().await.is_some() {}
        self.stats()
    }

    /// Stops reading the switches, waits up to
    /// [`BridgeConfig::stop_grace`] for the outstanding acks, and returns the
    /// final counters (what was never acknowledged is in `dropped`, and logged).
    pub async fn stop(self) -> Vec<SwitchStats> {
        self.shutdown.trigger();
        self.wait().await
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        // JoinSet aborts its tasks on drop: an abrupt stop, as a killed
        // process would (the HA tests rely on this).
        self.tasks.abort_all();
    }
}
