//! The inbound client loop: connect, authenticate, subscribe, dispatch,
//! reconnect.

use std::hash::{BuildHasher, Hasher};
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, error, info, info_span, warn, Instrument};

use super::dispatch::Dispatcher;
use super::shutdown::Shutdown;
use super::InboundListener;
use crate::connection::{
    authenticate, connect_tcp, Connection, ConnectionConfig, Credentials, EventStream, Password,
};
use crate::error::{Error, Result};
use crate::protocol::{Command, Event, Message};
use crate::telemetry::sequence::Sequence;
use crate::telemetry::{self, ConnectionGauge, Health, Role};

/// The context hooks of an inbound listener receive: the connection (all of
/// [`Connection`]'s methods through `Deref`: `api`, `bgapi`, `command`,
/// `execute`, ...), which switch it is connected to ([`Inbound::switch`]),
/// and the listener's [`Shutdown`].
#[derive(Clone, Debug)]
pub struct Inbound {
    conn: Connection,
    switch: Switch,
    shutdown: Shutdown,
}

impl Inbound {
    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    pub(crate) fn new(conn: Connection, switch: Switch, shutdown: Shutdown) -> Inbound {
        Inbound {
            conn,
            switch,
            shutdown,
        }
    }

    /// The connection handle.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The FreeSWITCH address this listener is connected to.
    pub fn addr(&self) -> &str {
        &self.switch.addr
    }

    /// Which switch this connection is to: its configured name (or the
    /// `FreeSWITCH-Hostname` it reports), address and `Core-UUID`. With
    /// several hosts (`start!(Monitor(hosts = [...]))`,
    /// [`Runner::inbound_many`](super::Runner::inbound_many)) one listener
    /// value serves every switch, and this tells them apart.
    pub fn switch(&self) -> &Switch {
        &self.switch
    }

    /// The handle that stops this listener: `ctx.shutdown().trigger()` in a
    /// hook ends the listener as a shutdown does (running hooks finish,
    /// then `exit`), and [`run_inbound`] returns `Ok`.
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }
}

impl Deref for Inbound {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

crate::target::api_target_by_methods!(Inbound);

/// The switch an inbound connection is to (see [`Inbound::switch`]).
///
/// The configured name and the address are known from the start; the
/// `Core-UUID` and `FreeSWITCH-Hostname` are taken from the first event of
/// the connection that carries them (every event FreeSWITCH fires does), so
/// they are `None` in `connection_completed` and until the first event has
/// arrived. A restarted switch has a new `Core-UUID` and a new connection,
/// hence a new context: an event's own `Core-UUID` header is always the one
/// of the switch that fired it.
#[derive(Clone, Debug)]
pub struct Switch {
    configured: Option<Arc<str>>,
    addr: Arc<str>,
    seen: Arc<std::sync::OnceLock<Seen>>,
}

#[derive(Debug)]
struct Seen {
    core_uuid: String,
    hostname: Option<String>,
}

impl Switch {
    pub(crate) fn new(configured: Option<&str>, addr: &str) -> Switch {
        Switch {
            configured: configured.map(Arc::from),
            addr: addr.into(),
            seen: Arc::new(std::sync::OnceLock::new()),
        }
    }

    /// The switch's name: the configured one
    /// ([`InboundSettings::name`], `hosts = [fs1 = "..."]`), else the
    /// `FreeSWITCH-Hostname` its events carry, else (before the first
    /// event) its address.
    pub fn name(&self) -> &str {
        self.configured
            .as_deref()
            .or_else(|| self.hostname())
            .unwrap_or(&self.addr)
    }

    /// The name given in the configuration, if any.
    pub fn configured_name(&self) -> Option<&str> {
        self.configured.as_deref()
    }

    /// The `host:port` connected to (for a listener consuming from
    /// JetStream: the NATS URL).
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The switch's `Core-UUID` (new at every start of FreeSWITCH), once an
    /// event has carried it.
    pub fn core_uuid(&self) -> Option<&str> {
        self.seen.get().map(|s| s.core_uuid.as_str())
    }

    /// The `FreeSWITCH-Hostname` the switch reports, once an event has
    /// carried it.
    pub fn hostname(&self) -> Option<&str> {
        self.seen.get().and_then(|s| s.hostname.as_deref())
    }

    /// Learns the identity from an event (the first one with a `Core-UUID`).
    pub(crate) fn observe(&self, event: &Event) {
        if self.seen.get().is_some() {
            return;
        }
        if let Some(core) = event.header("Core-UUID") {
            let _ = self.seen.set(Seen {
                core_uuid: core.to_owned(),
                hostname: event.header("FreeSWITCH-Hostname").map(str::to_owned),
            });
        }
    }
}

/// Reconnect delays: exponential from `initial`, doubled per failed attempt,
/// capped at `max`, each with random jitter of up to half the delay.
///
/// A connection that is lost before it stayed up for `healthy_after` counts
/// as a failed attempt: a switch that drops every session right after the
/// login is retried ever more slowly, up to `max`, instead of about four
/// times a second. Once a connection has stayed up that long, the next
/// loss starts again from `initial`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct Backoff {
    /// First delay (default 250 ms).
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub initial: Duration,
    /// Largest delay (default 30 s). Authentication failures and ACL
    /// rejections always wait this long: retrying them fast cannot help.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub max: Duration,
    /// How long a connection must stay up to count as healthy, so that the
    /// delays start again from `initial` after it is lost (default 30 s).
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub healthy_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(Duration::from_millis(250), Duration::from_secs(30))
    }
}

impl Backoff {
    /// Delays from `initial` up to `max`; a connection counts as healthy
    /// after 30 s (see [`healthy_after`](Backoff::healthy_after)).
    pub const fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max,
            healthy_after: Duration::from_secs(30),
        }
    }

    /// The delay before attempt `attempt` (0-based), with jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = self
            .initial
            .saturating_mul(1u32 << attempt.min(20))
            .min(self.max);
        // Jitter: a random point in [base/2, base].
        let half = base / 2;
        let nanos = half.as_nanos().min(u64::MAX as u128) as u64;
        let r = random_u64();
        half + Duration::from_nanos(if nanos == 0 { 0 } else { r % (nanos + 1) })
    }
}

/// The reconnect state of one client loop: how many attempts failed in a
/// row, and since when the current connection is up. The inbound
/// listeners, the NATS bridge and the `librevox` console reconnect through
/// it; use it in a reconnect loop of your own to get the same rule.
///
/// A connection lost before [`Backoff::healthy_after`] is one more failed
/// attempt, so the delays keep growing while a switch drops every session
/// right after the login; one that stayed up that long starts the delays
/// again from [`Backoff::initial`].
///
/// ```no_run
/// use librevox::listener::{Backoff, Reconnect};
/// use librevox::CommandSocket;
///
/// # async fn run() {
/// let mut retry = Reconnect::new(Backoff::default());
/// loop {
///     match CommandSocket::connect("127.0.0.1:8021", "ClueCon").await {
///         Ok(socket) => {
///             retry.connected();
///             let _ = socket.connection().closed().await;
///         }
///         Err(e) => eprintln!("cannot connect: {e}"),
///     }
///     tokio::time::sleep(retry.next_delay()).await;
/// }
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Reconnect {
    backoff: Backoff,
    failures: u32,
    up_since: Option<tokio::time::Instant>,
}

impl Reconnect {
    /// No failure yet, no connection up.
    pub fn new(backoff: Backoff) -> Reconnect {
        Reconnect {
            backoff,
            failures: 0,
            up_since: None,
        }
    }

    /// A connection is up (its handshake is done): from now on it counts
    /// towards [`Backoff::healthy_after`].
    pub fn connected(&mut self) {
        self.up_since = Some(tokio::time::Instant::now());
    }

    /// The delay to wait before the next attempt, after a failed attempt
    /// or a lost connection; counts one more failure unless the connection
    /// just lost had stayed up [`Backoff::healthy_after`].
    pub fn next_delay(&mut self) -> Duration {
        if let Some(since) = self.up_since.take() {
            if since.elapsed() >= self.backoff.healthy_after {
                self.failures = 0;
            }
        }
        let d = self.backoff.delay(self.failures);
        self.failures = self.failures.saturating_add(1);
        d
    }

    /// Failed attempts (and short-lived connections) in a row.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

fn random_u64() -> u64 {
    // Jitter needs spread, not cryptographic strength: std's per-process
    // random hash keys, mixed with the clock, are enough.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

/// Where and how an inbound listener connects.
#[derive(Debug, Clone)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct InboundSettings {
    /// `host:port` (default `127.0.0.1:8021`).
    pub addr: String,
    /// The switch's name (default none): what [`Switch::name`] returns, the
    /// `switch` label of this connection's metrics and logs (the address
    /// when unset). Useful with several switches
    /// ([`Runner::inbound_many`](super::Runner::inbound_many)).
    pub name: Option<String>,
    /// Password (default `ClueCon`).
    pub password: Password,
    /// `user@domain` for `userauth`.
    pub user: Option<String>,
    /// Deadline for connect + greeting + auth (default 10 s).
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub connect_timeout: Duration,
    /// Reconnect delays.
    pub backoff: Backoff,
    /// Per-channel mailbox size of the dispatcher (default 1024).
    pub mailbox_capacity: usize,
    /// Handle every event one at a time in arrival order, across channels
    /// (default false: channels run independently).
    pub serial: bool,
    /// Stop with the error instead of retrying when FreeSWITCH refuses the
    /// password or the connection (default false: retry every
    /// [`Backoff::max`], for daemons that outlive a configuration fix).
    pub give_up_on_refusal: bool,
    /// How long hooks may run on after shutdown before they are cut off
    /// (default 5 s).
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub shutdown_grace: Duration,
    /// Connection settings.
    pub config: ConnectionConfig,
}

impl Default for InboundSettings {
    fn default() -> Self {
        InboundSettings {
            addr: "127.0.0.1:8021".to_owned(),
            name: None,
            password: Password::new("ClueCon"),
            user: None,
            connect_timeout: Duration::from_secs(10),
            backoff: Backoff::default(),
            mailbox_capacity: 1024,
            serial: false,
            give_up_on_refusal: false,
            shutdown_grace: Duration::from_secs(5),
            config: ConnectionConfig::default(),
        }
    }
}

crate::connection::endpoint_from_env!(InboundSettings);

impl InboundSettings {
    /// Settings for `addr` (`host:port`), defaults otherwise.
    pub fn new(addr: impl Into<String>) -> InboundSettings {
        InboundSettings {
            addr: addr.into(),
            ..InboundSettings::default()
        }
    }

    /// Sets the password.
    pub fn password(mut self, password: impl Into<Password>) -> Self {
        self.password = password.into();
        self
    }

    /// Sets the switch's name ([`InboundSettings::name`]).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// What metrics and logs call this switch: the name, else the address.
    pub(crate) fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.addr)
    }
}

/// How one connection ended.
enum Ended {
    /// Shutdown was requested.
    Shutdown,
    /// The connection was up (handshake done) and then dropped.
    Lost(Error),
}

/// Runs an inbound listener until `shutdown` is triggered (by the caller,
/// or by a hook through [`Inbound::shutdown`]): connects, authenticates,
/// subscribes, dispatches events, and reconnects with backoff whenever the
/// connection drops or cannot be made. `shutdown` is a [`Shutdown`] (or a
/// tokio-util `CancellationToken`).
///
/// Errors that another attempt cannot fix stop the listener with that
/// error instead of being retried: a subscription that
/// [`Subscription::validate`](super::Subscription::validate) refuses (at the
/// start or at any reconnection, since the subscription is asked for at
/// every handshake), a filter or event command that cannot be encoded
/// ([`Error::InvalidCommand`]), and one FreeSWITCH answers with `-ERR`
/// ([`Error::CommandFailed`]). A lost connection counts as a failed
/// attempt until it has stayed up [`Backoff::healthy_after`].
pub async fn run_inbound<L: InboundListener>(
    listener: Arc<L>,
    settings: InboundSettings,
    shutdown: impl Into<Shutdown>,
) -> Result<()> {
    let shutdown: Shutdown = shutdown.into();
    let mut retry = Reconnect::new(settings.backoff);
    let mut connected_before = false;
    let label = settings.label().to_owned();
    let ready = Health::global().register(match &settings.name {
        Some(name) => format!("inbound {name} {}", settings.addr),
        None => format!("inbound {}", settings.addr),
    });
    let mut sequence = Sequence::new(&label, listener.subscription().sees_every_event());
    loop {
        if shutdown.is_triggered() {
            return Ok(());
        }
        let outcome = tokio::select! {
            _ = shutdown.wait() => return Ok(()),
            r = handshake(&listener, &settings, &shutdown) => r,
        };
        let delay = match outcome {
            Ok((ctx, events)) => {
                info!(switch = %label, addr = %settings.addr, "inbound listener connected");
                telemetry::connected(&label, connected_before);
                ready.set_ready(true);
                let _open = ConnectionGauge::open(Role::Inbound);
                if connected_before {
                    warn!(switch = %label, addr = %settings.addr, "reconnected; events fired while disconnected were missed");
                    listener.reconnected(&ctx).await;
                }
                connected_before = true;
                retry.connected();
                listener.connection_completed(&ctx).await;
                sequence.connected();
                let span = info_span!("inbound", switch = %label, role = "inbound");
                let ended = serve(&listener, ctx, events, &settings, &shutdown, &mut sequence)
                    .instrument(span)
                    .await;
                ready.set_ready(false);
                match ended {
                    Ended::Shutdown => return Ok(()),
                    Ended::Lost(e) => {
                        let d = retry.next_delay();
                        warn!(switch = %label, addr = %settings.addr, error = %e, "inbound connection lost; reconnecting in {d:?}");
                        d
                    }
                }
            }
            // Returned, not logged: the caller (a `Runner`) reports it.
            Err(Failed::Stop(e)) => return Err(e),
            Err(Failed::Retry(e @ (Error::Auth { .. } | Error::Rejected { .. })))
                if settings.give_up_on_refusal =>
            {
                telemetry::auth_failed(&label);
                return Err(e);
            }
            Err(Failed::Retry(e @ (Error::Auth { .. } | Error::Rejected { .. }))) => {
                telemetry::auth_failed(&label);
                error!(switch = %label, addr = %settings.addr, error = %e, "FreeSWITCH refused this listener; retrying in {:?}", settings.backoff.max);
                settings.backoff.max
            }
            Err(Failed::Retry(e)) => {
                let d = retry.next_delay();
                warn!(switch = %label, addr = %settings.addr, error = %e, "cannot connect to FreeSWITCH; retrying in {d:?}");
                d
            }
        };
        tokio::select! {
            _ = shutdown.wait() => return Ok(()),
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// Why a handshake failed, and whether trying again can help.
enum Failed {
    /// The network, the switch's state, a timeout: worth another attempt.
    Retry(Error),
    /// The listener's own subscription cannot work (a value that cannot be
    /// sent, or one FreeSWITCH answered with `-ERR`): retrying sends the
    /// same again (issue 13.3).
    Stop(Error),
}

async fn handshake<L: InboundListener>(
    listener: &Arc<L>,
    settings: &InboundSettings,
    shutdown: &Shutdown,
) -> std::result::Result<(Inbound, EventStream), Failed> {
    // The subscription is asked for at every handshake: one computed from
    // the listener's state may have changed since the start.
    let sub = listener.subscription();
    sub.validate().map_err(Failed::Stop)?;
    let work = async {
        let (conn, mut events) = connect_tcp(&settings.addr, &settings.config)
            .await
            .map_err(Failed::Retry)?;
        let credentials = Credentials {
            password: &settings.password,
            user: settings.user.as_deref(),
        };
        authenticate(&conn, &mut events, credentials)
            .await
            .map_err(Failed::Retry)?;
        let subscribed = async {
            // Filters first: from the `event` reply on, FreeSWITCH delivers
            // every subscribed event it fires, so filters added after it let
            // through whatever fired in between (seen live: other calls' events).
            for (header, value) in &sub.filters {
                conn.command(&Command::filter(header, value)).await?;
            }
            conn.subscribe(sub.format, &sub.events).await
        };
        match subscribed.await {
            Ok(_) => {}
            Err(e @ (Error::InvalidCommand(_) | Error::CommandFailed { .. })) => {
                return Err(Failed::Stop(e))
            }
            Err(e) => return Err(Failed::Retry(e)),
        }
        Ok((
            Inbound {
                conn,
                switch: Switch::new(settings.name.as_deref(), &settings.addr),
                shutdown: shutdown.clone(),
            },
            events,
        ))
    };
    match tokio::time::timeout(settings.connect_timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(Failed::Retry(Error::Timeout {
            what: "connecting, authenticating and subscribing",
            after: settings.connect_timeout,
        })),
    }
}

/// Events taken from the stream per wake-up.
const BATCH: usize = 64;

async fn serve<L: InboundListener>(
    listener: &Arc<L>,
    ctx: Inbound,
    mut events: EventStream,
    settings: &InboundSettings,
    shutdown: &Shutdown,
    sequence: &mut Sequence,
) -> Ended {
    let handler_listener = listener.clone();
    let handler_ctx = ctx.clone();
    // Hooks may run on a channel's worker task: their span names this
    // connection's as its parent wherever they run.
    let connection = tracing::Span::current();
    let mut dispatcher = Dispatcher::new(
        Arc::new(move |event: Event| {
            let l = handler_listener.clone();
            let c = handler_ctx.clone();
            let span = info_span!(parent: &connection, "hook", event = event.name().unwrap_or(""));
            Box::pin(async move { l.handle_event(&c, &event).await }.instrument(span))
        }),
        settings.mailbox_capacity,
    );
    if settings.serial {
        dispatcher = dispatcher.serial();
    }
    // Events are taken in batches: one wake-up for many events.
    let mut batch = Vec::with_capacity(BATCH);
    let mut counters = telemetry::EventCounters::new();
    let ended = 'serve: loop {
        let n = tokio::select! {
            _ = shutdown.wait() => break Ended::Shutdown,
            n = events.recv_many(&mut batch, BATCH) => n,
        };
        if n == 0 {
            break Ended::Lost(ctx.conn.closed().await);
        }
        counters.check_recorder();
        for msg in batch.drain(..) {
            match msg {
                Message::Event(event) => {
                    counters.received(event.name());
                    sequence.observe(&event);
                    ctx.switch.observe(&event);
                    dispatcher.dispatch(event).await
                }
                Message::DisconnectNotice(n) => debug!(?n, "disconnect-notice"),
                Message::Log(line) => {
                    debug!(level = line.level, text = %line.text.trim_end(), "FreeSWITCH log")
                }
                other => debug!(?other, "unexpected frame on an inbound listener"),
            }
            if shutdown.is_triggered() {
                break 'serve Ended::Shutdown;
            }
        }
    };
    // Running hooks finish first: they may still use the connection.
    if tokio::time::timeout(settings.shutdown_grace, dispatcher.finish())
        .await
        .is_err()
    {
        warn!("event hooks still running after the shutdown grace period; abandoning them");
    }
    if matches!(ended, Ended::Shutdown) {
        // Say goodbye so FreeSWITCH frees the socket at once.
        let _ = tokio::time::timeout(settings.shutdown_grace, ctx.conn.exit()).await;
    }
    ended
}
