//! The outbound server: FreeSWITCH dials us once per call.

use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

pub use ipnet::IpNet;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tracing::{debug, error, info, info_span, warn, Instrument};

use super::dispatch::{panic_text, CatchUnwind, Dispatcher};
use super::shutdown::Shutdown;
use super::{Linger, OutboundListener, OutboundOptions};
use crate::connection::{BackgroundJob, Connection, ConnectionConfig, EventStream, Latch, Reply};
use crate::error::{Error, Result};
use crate::protocol::{
    AnswerState, ApiResponse, CallState, ChannelState, Command, CommandReply, Event, EventFormat,
    HangupCause, Message, SendMsg,
};
use crate::target::AppTarget;
use crate::telemetry;

/// Where the outbound server listens and how it treats calls.
#[derive(Debug, Clone)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct OutboundSettings {
    /// Address to bind (default `127.0.0.1:8084`; use `0.0.0.0:8084` when
    /// FreeSWITCH runs on another host).
    pub bind: String,
    /// Deadline for the `connect`/`myevents`/`linger` setup (default 10 s).
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub setup_timeout: Duration,
    /// On shutdown, how long running calls may go on before their sockets
    /// are closed (default 30 s).
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub shutdown_grace: Duration,
    /// After the call ended, how long `session_initiated` may still run
    /// before it is cut off (default 10 s).
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub session_grace: Duration,
    /// Per-channel mailbox size of the dispatcher (default 1024).
    pub mailbox_capacity: usize,
    /// Calls served at once (default 10,000; `usize::MAX` for no limit). A
    /// connection beyond it is closed at once, unanswered, and logged (at
    /// most once a second, with a count).
    pub max_sessions: usize,
    /// The networks FreeSWITCH may connect from; empty (the default) accepts
    /// every peer. Anyone who can reach the port can otherwise drive the
    /// listener: when it binds beyond loopback, list your switches'
    /// addresses here (`10.0.0.5/32`, `10.0.0.0/24`, `2001:db8::/32`; see
    /// [`allow`](OutboundSettings::allow)). A connection from elsewhere is
    /// closed at once, unanswered, and logged. In a settings file: `allow =
    /// ["10.0.0.5", "10.0.1.0/24"]`.
    #[cfg_attr(feature = "serde", serde(deserialize_with = "allow_list::deserialize"))]
    pub allow: Vec<IpNet>,
    /// Connection settings.
    pub config: ConnectionConfig,
}

impl Default for OutboundSettings {
    fn default() -> Self {
        OutboundSettings {
            bind: "127.0.0.1:8084".to_owned(),
            setup_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(30),
            session_grace: Duration::from_secs(10),
            mailbox_capacity: 1024,
            max_sessions: 10_000,
            allow: Vec::new(),
            config: ConnectionConfig::default(),
        }
    }
}

/// Reads one allow-list entry: a network in CIDR notation, or one address.
fn parse_network(text: &str) -> Result<IpNet> {
    let text = text.trim();
    if let Ok(net) = text.parse::<IpNet>() {
        return Ok(net);
    }
    if let Ok(addr) = text.parse::<std::net::IpAddr>() {
        return Ok(IpNet::from(addr));
    }
    Err(Error::Config(format!(
        "`{text}` is not an address or a network: write one address (`10.0.0.5`) or a network in CIDR notation (`10.0.0.0/24`, `2001:db8::/32`)"
    )))
}

#[cfg(feature = "serde")]
mod allow_list {
    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> std::result::Result<Vec<ipnet::IpNet>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| super::parse_network(s).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// Whether `peer` may connect: `allow` is empty, or one of its networks
/// holds the address (an IPv4 peer on a dual-stack socket, `::ffff:a.b.c.d`,
/// is matched as the IPv4 address it is).
fn allowed(allow: &[IpNet], peer: std::net::IpAddr) -> bool {
    let peer = peer.to_canonical();
    allow.is_empty() || allow.iter().any(|net| net.contains(&peer))
}

impl OutboundSettings {
    /// Settings binding `addr`, defaults otherwise.
    pub fn new(bind: impl Into<String>) -> OutboundSettings {
        OutboundSettings {
            bind: bind.into(),
            ..OutboundSettings::default()
        }
    }

    /// Adds a network FreeSWITCH may connect from to [`allow`](OutboundSettings::allow):
    /// one address (`"10.0.0.5"`) or a network in CIDR notation
    /// (`"10.0.0.0/24"`); anything else is an [`Error::Config`] saying what
    /// to write.
    ///
    /// ```
    /// use librevox::OutboundSettings;
    /// let settings = OutboundSettings::new("0.0.0.0:8084")
    ///     .allow("10.0.0.5")?
    ///     .allow("10.0.1.0/24")?;
    /// assert_eq!(settings.allow.len(), 2);
    /// assert!(OutboundSettings::default().allow("10.0.0/8").is_err());
    /// # Ok::<(), librevox::Error>(())
    /// ```
    pub fn allow(mut self, network: &str) -> Result<Self> {
        self.allow.push(parse_network(network)?);
        Ok(self)
    }
}

struct SessionInner {
    conn: Connection,
    uuid: String,
    data: RwLock<Event>,
    event_lock: bool,
    /// Set once the call is over (CHANNEL_HANGUP_COMPLETE, or on a sync
    /// socket the linger notice): an application sent after that cannot
    /// complete.
    ended: Latch<()>,
    /// The outbound server's handle.
    shutdown: Shutdown,
    /// Applications sent and not yet returned; `idle` is notified when the
    /// count drops to zero.
    in_flight: AtomicUsize,
    idle: Notify,
}

/// Counts one application in flight for as long as it lives (also when
/// its future is dropped).
struct InFlight<'a>(&'a SessionInner);

impl<'a> InFlight<'a> {
    fn enter(inner: &'a SessionInner) -> InFlight<'a> {
        inner.in_flight.fetch_add(1, AtomicOrdering::SeqCst);
        InFlight(inner)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, AtomicOrdering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// One outbound call: the channel's data and the commands to drive it.
///
/// Cheap to clone; every clone is the same call. It speaks the verbs of
/// every handle (see the crate documentation, "One vocabulary on every
/// handle"): [`command`](Session::command), [`send`](Session::send),
/// [`api`](Session::api), [`bgapi`](Session::bgapi),
/// [`application`](Session::application), [`execute`](Session::execute),
/// [`sendmsg`](Session::sendmsg), and `sendevent` (from
/// [`Commands`](crate::commands::Commands)).
///
/// Application calls send `sendmsg` with an `Event-UUID` (and
/// `event-lock: true` unless the listener turned it off or the message says
/// otherwise) and return when the CHANNEL_EXECUTE_COMPLETE with the matching
/// `Application-UUID` arrives; if the caller hangs up or the connection
/// closes first they fail promptly ([`Error::Hangup`] with the hangup cause
/// whenever FreeSWITCH sent one, [`Error::Closed`]). An application that
/// FreeSWITCH reports as completed on a channel that has hung up (an
/// interrupted playback, or any application started after the hangup) fails
/// with [`Error::Hangup`] too. An application that ends the call itself
/// (`hangup`, `redirect`, `deflect`) succeeds when the call ends, on async
/// and sync sockets alike, whatever order FreeSWITCH's last frames come in.
#[derive(Clone)]
pub struct Session {
    inner: Arc<SessionInner>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("uuid", &self.inner.uuid)
            .finish()
    }
}

impl Session {
    /// A session over a connection whose `connect` reply was `channel_data`.
    pub fn new(conn: Connection, channel_data: Event, event_lock: bool) -> Session {
        Session::with_shutdown(conn, channel_data, event_lock, Shutdown::new())
    }

    fn with_shutdown(
        conn: Connection,
        channel_data: Event,
        event_lock: bool,
        shutdown: Shutdown,
    ) -> Session {
        let uuid = channel_data.unique_id().unwrap_or_default().to_owned();
        Session {
            inner: Arc::new(SessionInner {
                conn,
                uuid,
                data: RwLock::new(channel_data),
                event_lock,
                ended: Latch::default(),
                shutdown,
                in_flight: AtomicUsize::new(0),
                idle: Notify::new(),
            }),
        }
    }

    /// The channel's `Unique-ID`.
    pub fn uuid(&self) -> &str {
        &self.inner.uuid
    }

    /// The connection handle.
    pub fn connection(&self) -> &Connection {
        &self.inner.conn
    }

    /// The handle that stops the outbound server this call came through:
    /// `call.shutdown().trigger()` makes it stop accepting calls and give
    /// the running ones (this one included) their grace period, as a
    /// shutdown does. (For a session run alone by [`run_outbound_session`],
    /// or built with [`Session::new`], a handle nothing else watches.)
    pub fn shutdown(&self) -> &Shutdown {
        &self.inner.shutdown
    }

    /// The latest channel data: the `connect` reply, refreshed by every
    /// CHANNEL_EXECUTE_COMPLETE and CHANNEL_DATA event (values decoded).
    pub fn channel_data(&self) -> Event {
        self.read_data(|e| e.clone())
    }

    fn read_data<T>(&self, f: impl FnOnce(&Event) -> T) -> T {
        let guard = self
            .inner
            .data
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        f(&guard)
    }

    /// Marks the call as over (its CHANNEL_HANGUP_COMPLETE, or on a sync
    /// socket its linger notice, was seen): applications started later fail
    /// at once with [`Error::Hangup`]; those already sent still get their
    /// completion (or the connection's hangup grace).
    pub(crate) fn mark_ended(&self) {
        self.inner.ended.set(());
    }

    /// Waits until no application of this session is in flight.
    pub(crate) async fn idle(&self) {
        loop {
            let notified = self.inner.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.inner.in_flight.load(AtomicOrdering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// The error for an application that cannot complete any more: the
    /// cause from the latest channel data.
    fn hangup_error(&self) -> Error {
        Error::Hangup {
            uuid: self.inner.uuid.clone(),
            cause: self.hangup_cause(),
        }
    }

    pub(crate) fn update(&self, event: &Event) {
        // Only events that carry the channel's variables replace the data.
        // Names only: reading the values would decode them.
        if event.names().any(|n| n.starts_with("variable_")) {
            self.replace_data(event.clone());
        }
    }

    fn replace_data(&self, data: Event) {
        *self
            .inner
            .data
            .write()
            .unwrap_or_else(|poison| poison.into_inner()) = data;
    }

    /// A channel variable (`variable_<name>` of the channel data; the
    /// name's ASCII case does not matter).
    pub fn variable(&self, name: &str) -> Option<String> {
        self.read_data(|e| e.variable(name).map(str::to_owned))
    }

    /// A header of the channel data (`Caller-Caller-ID-Number`, ...; the
    /// name's ASCII case does not matter).
    pub fn header(&self, name: &str) -> Option<String> {
        self.read_data(|e| e.header(name).map(str::to_owned))
    }

    /// The channel's `Hangup-Cause`, once the channel data carries one.
    pub fn hangup_cause(&self) -> Option<HangupCause> {
        self.read_data(Event::hangup_cause)
    }

    /// The channel's `Channel-State` in the latest channel data.
    pub fn channel_state(&self) -> Option<ChannelState> {
        self.read_data(Event::channel_state)
    }

    /// The channel's `Channel-Call-State` in the latest channel data.
    pub fn call_state(&self) -> Option<CallState> {
        self.read_data(Event::call_state)
    }

    /// The channel's `Answer-State` in the latest channel data.
    pub fn answer_state(&self) -> Option<AnswerState> {
        self.read_data(Event::answer_state)
    }

    /// Runs application `app` with `arg` on this channel and waits for its
    /// CHANNEL_EXECUTE_COMPLETE, which it returns. To queue an application
    /// without waiting, use [`sendmsg`](Session::sendmsg).
    pub async fn application(&self, app: &str, arg: &str) -> Result<Event> {
        self.execute(SendMsg::execute(app, arg)).await
    }

    /// Runs a `sendmsg` on this channel and waits for its completion; use it
    /// for `loops`, `async`, a custom `event-lock` and other headers. A
    /// message that does not set `event-lock` gets the listener's
    /// ([`OutboundOptions::event_lock`], on by default).
    ///
    /// An application that ends the call (`hangup`, `redirect`, `deflect`)
    /// returns its completion, or, when the call ended before FreeSWITCH
    /// sent one (a sync socket whose notice overtook the events, a socket
    /// closed without linger), the channel data as last seen.
    pub async fn execute(&self, msg: SendMsg) -> Result<Event> {
        if self.inner.ended.get().is_some() {
            // Sent too late: FreeSWITCH drops it, no completion comes.
            return Err(self.hangup_error());
        }
        let msg = msg.or_event_lock(self.inner.event_lock);
        let ends_call = msg.ends_call();
        let _in_flight = InFlight::enter(&self.inner);
        let app = msg.app_name().unwrap_or("").to_owned();
        // The Event-UUID is chosen here, so that the span can carry it.
        let msg = match msg.event_uuid_value() {
            Some(_) => msg,
            None => msg.event_uuid(crate::new_uuid()),
        };
        let span = info_span!(
            "application",
            app = %app,
            event_uuid = msg.event_uuid_value().unwrap_or(""),
            duration_ms = tracing::field::Empty,
        );
        let sent = std::time::Instant::now();
        let done = self
            .inner
            .conn
            .execute_on(msg, Some(self.inner.uuid.clone()))
            .instrument(span.clone())
            .await;
        let took = sent.elapsed();
        span.record("duration_ms", took.as_secs_f64() * 1000.0);
        span.in_scope(|| debug!(ok = done.is_ok(), "application ended"));
        let failed = match &done {
            // Ending the call is what hangup/redirect/deflect are for.
            Err(e) if ends_call && (e.is_hangup() || e.is_closed()) => None,
            Err(e) => Some(e),
            Ok(_) => None,
        };
        telemetry::application_done(&app, took, failed);
        let done = match done {
            Ok(done) => done,
            // The call ended as this application asked.
            Err(Error::Hangup { .. }) if ends_call => return Ok(self.channel_data()),
            // The cause came on an event the wait did not see (a sync
            // socket's notice overtook CHANNEL_HANGUP): take the data's.
            Err(Error::Hangup { uuid, cause: None }) => {
                return Err(Error::Hangup {
                    uuid,
                    cause: self.hangup_cause(),
                })
            }
            Err(e) if ends_call && e.is_closed() && self.inner.ended.get().is_some() => {
                return Ok(self.channel_data())
            }
            Err(e) => return Err(e),
        };
        // (A completion saying the call hung up is already Error::Hangup.)
        self.update(&done);
        Ok(done)
    }

    /// Sends a `sendmsg` and returns FreeSWITCH's `+OK` acknowledgement
    /// only: the message is queued, nothing waits for it to run. An
    /// application whose `event-lock` is unset gets the listener's.
    pub async fn sendmsg(&self, msg: &SendMsg) -> Result<CommandReply> {
        let msg = msg.clone().or_event_lock(self.inner.event_lock);
        self.inner.conn.sendmsg(&msg).await
    }

    /// Re-reads the channel's data from FreeSWITCH (`api uuid_dump
    /// <uuid>`; the socket must be `full`), makes it
    /// [`channel_data`](Session::channel_data) and returns it: variables set
    /// by others (`uuid_setvar`, the dialplan of a bridged leg) become
    /// visible. The original's `update_session`.
    pub async fn refresh(&self) -> Result<Event> {
        let dump = self
            .inner
            .conn
            .api(&format!("uuid_dump {}", self.inner.uuid))
            .await?;
        let data = Event::parse_plain(dump.body())?;
        if data.unique_id() != Some(self.inner.uuid.as_str()) {
            return Err(Error::protocol(format!(
                "uuid_dump {} returned data of another channel or none",
                self.inner.uuid
            )));
        }
        self.replace_data(data.clone());
        Ok(data)
    }

    /// Runs `api <command>` (the socket must be `full`); `-ERR`/`-USAGE`
    /// bodies are [`Error::CommandFailed`].
    pub async fn api(&self, command: &str) -> Result<ApiResponse> {
        self.inner.conn.api(command).await
    }

    /// Runs `bgapi <command>`; the job's event reaches this socket when it is
    /// subscribed to BACKGROUND_JOB (its `Job-Owner-UUID` is this channel).
    pub async fn bgapi(&self, command: &str) -> Result<BackgroundJob> {
        self.inner.conn.bgapi(command).await
    }

    /// Sends a command answered by `command/reply`; `-ERR` is
    /// [`Error::CommandFailed`].
    pub async fn command(&self, command: &Command) -> Result<CommandReply> {
        self.inner.conn.command(command).await
    }

    /// Sends any command and returns the reply as it came (`-ERR` too).
    pub async fn send(&self, command: &Command) -> Result<Reply> {
        self.inner.conn.send(command).await
    }

    /// Ends the session: sends `exit`, and FreeSWITCH closes the socket.
    /// Events after this are lost; normally the session ends by itself once
    /// the call is over.
    pub async fn disconnect(&self) -> Result<()> {
        self.inner.conn.exit().await
    }
}

crate::target::api_target_by_methods!(Session);

impl AppTarget for Session {
    fn run_app(
        &self,
        app: &str,
        arg: String,
    ) -> impl std::future::Future<Output = Result<Event>> + Send {
        let session = self.clone();
        let app = app.to_owned();
        async move { session.application(&app, &arg).await }
    }
}

/// Serves outbound calls on `listener` until `shutdown` is triggered (by
/// the caller, or by a call through [`Session::shutdown`]): each accepted
/// connection gets a fresh listener value from `factory`. On shutdown,
/// accepting stops and running calls get
/// [`OutboundSettings::shutdown_grace`] to finish. `shutdown` is a
/// [`Shutdown`] (or a tokio-util `CancellationToken`).
pub async fn serve_outbound<L, F>(
    listener: TcpListener,
    factory: F,
    settings: OutboundSettings,
    shutdown: impl Into<Shutdown>,
) -> Result<()>
where
    L: OutboundListener,
    F: Fn() -> L + Send + Sync + 'static,
{
    let shutdown: Shutdown = shutdown.into();
    if settings.max_sessions == 0 {
        return Err(Error::Config(
            "outbound max_sessions is 0, so no call could be served; set a limit of at least 1 (usize::MAX for none)".into(),
        ));
    }
    let settings = Arc::new(settings);
    let mut calls = JoinSet::new();
    let local = listener.local_addr()?;
    info!(addr = %local, "outbound listener accepting calls");
    let ready = telemetry::Health::global().register(format!("outbound {local}"));
    ready.set_ready(true);
    let mut accept_errors = AcceptErrors::default();
    let mut refused = Refusals::default();
    // Sessions running: taken before a call's task is spawned, given back
    // when the task ends (or is dropped).
    let active = Arc::new(AtomicUsize::new(0));
    loop {
        let paused_until = accept_errors.paused_until;
        tokio::select! {
            _ = shutdown.wait() => break,
            accepted = listener.accept(), if paused_until.is_none() => match accepted {
                Ok((stream, peer)) => {
                    accept_errors.succeeded();
                    if let Some(reason) = refusal(&settings, &active, peer) {
                        // Closed unanswered: FreeSWITCH sends nothing before
                        // `connect`, so the peer sees a FIN. Counted first,
                        // so whoever sees the FIN sees the count too.
                        refused.note(reason, peer);
                        drop(stream);
                        continue;
                    }
                    let slot = Slot::take(&active);
                    let _ = stream.set_nodelay(true);
                    if let Err(e) = crate::connection::set_keepalive(&stream) {
                        debug!(error = %e, "could not turn TCP keepalive on");
                    }
                    let handler = factory();
                    let settings = settings.clone();
                    let shutdown = shutdown.clone();
                    calls.spawn(async move {
                        let _slot = slot;
                        // Its errors were logged as they happened.
                        let _ = handle_call(stream, handler, &settings, shutdown).await;
                    }.instrument(info_span!("call", %peer)));
                }
                // Out of file descriptors and the like: retrying at once
                // fails the same way (the pending connection keeps the
                // socket readable), so accepting pauses briefly.
                Err(e) => accept_errors.failed(&e),
            },
            _ = sleep_until_opt(paused_until), if paused_until.is_some() => {
                accept_errors.paused_until = None;
            }
            Some(done) = calls.join_next(), if !calls.is_empty() => {
                if let Err(e) = done {
                    if e.is_panic() {
                        error!(panic = %panic_text(e.into_panic().as_ref()), "a call task panicked");
                    }
                }
            }
        }
    }
    drop(listener);
    drop(ready);
    info!(
        running = calls.len(),
        "outbound listener stopped accepting; waiting for running calls"
    );
    let drain = async { while calls.join_next().await.is_some() {} };
    if tokio::time::timeout(settings.shutdown_grace, drain)
        .await
        .is_err()
    {
        warn!(
            remaining = calls.len(),
            "calls still running after the shutdown grace period; closing them"
        );
        calls.shutdown().await;
    }
    Ok(())
}

/// Why a connection was closed unanswered (13.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    /// Its address is in none of the allowed networks.
    NotAllowed,
    /// `max_sessions` calls were running.
    Full,
}

fn refusal(
    settings: &OutboundSettings,
    active: &AtomicUsize,
    peer: std::net::SocketAddr,
) -> Option<Refusal> {
    if !allowed(&settings.allow, peer.ip()) {
        Some(Refusal::NotAllowed)
    } else if active.load(AtomicOrdering::SeqCst) >= settings.max_sessions {
        Some(Refusal::Full)
    } else {
        None
    }
}

/// One running session, counted for `max_sessions` while it lives.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(active: &Arc<AtomicUsize>) -> Slot {
        active.fetch_add(1, AtomicOrdering::SeqCst);
        Slot(active.clone())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, AtomicOrdering::SeqCst);
    }
}

/// Refused connections, logged at most once a second per reason with how
/// many were refused since the last line and in all.
#[derive(Default)]
struct Refusals {
    /// Per reason: refused since the last line, in all, when last logged.
    not_allowed: (u64, u64, Option<tokio::time::Instant>),
    full: (u64, u64, Option<tokio::time::Instant>),
}

impl Refusals {
    fn note(&mut self, reason: Refusal, peer: std::net::SocketAddr) {
        telemetry::connection_refused(match reason {
            Refusal::NotAllowed => "not_allowed",
            Refusal::Full => "max_sessions",
        });
        let (since, total, last) = match reason {
            Refusal::NotAllowed => &mut self.not_allowed,
            Refusal::Full => &mut self.full,
        };
        *since += 1;
        *total += 1;
        let now = tokio::time::Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < Duration::from_secs(1)) {
            return;
        }
        *last = Some(now);
        match reason {
            Refusal::NotAllowed => warn!(
                %peer, refused = *since, refused_total = *total,
                "closed a connection from an address outside the allowed networks (OutboundSettings::allow); {} refused since the last report", *since
            ),
            Refusal::Full => warn!(
                %peer, refused = *since, refused_total = *total,
                "closed a connection: max_sessions calls are running; {} refused since the last report", *since
            ),
        }
        *since = 0;
    }
}

/// Failed accepts (13.5): each failure in a row pauses accepting, from 5 ms
/// doubling to 500 ms. They are logged at most once a second, with how many
/// failed since the last line; the end of a reported run of failures is
/// logged once accepting works again.
#[derive(Default)]
struct AcceptErrors {
    /// Failures since accepting last worked.
    streak: u32,
    /// Failures not yet counted in a log line.
    unlogged: u64,
    /// A warning was logged during the current streak.
    reported: bool,
    last_logged: Option<tokio::time::Instant>,
    paused_until: Option<tokio::time::Instant>,
}

impl AcceptErrors {
    const FIRST_PAUSE: Duration = Duration::from_millis(5);
    const MAX_PAUSE: Duration = Duration::from_millis(500);
    const LOG_EVERY: Duration = Duration::from_secs(1);

    fn failed(&mut self, e: &std::io::Error) {
        telemetry::accept_failed();
        let now = tokio::time::Instant::now();
        self.unlogged += 1;
        let pause = Self::FIRST_PAUSE
            .saturating_mul(1 << self.streak.min(16))
            .min(Self::MAX_PAUSE);
        self.streak = self.streak.saturating_add(1);
        if self
            .last_logged
            .is_none_or(|at| now.duration_since(at) >= Self::LOG_EVERY)
        {
            warn!(
                error = %e,
                failures = self.unlogged,
                "accept failed {} time(s) since the last report; pausing accepts for {pause:?}",
                self.unlogged
            );
            self.unlogged = 0;
            self.last_logged = Some(now);
            self.reported = true;
        }
        self.paused_until = Some(now + pause);
    }

    fn succeeded(&mut self) {
        if self.reported {
            info!(
                failures = self.streak,
                "accepting calls again after {} failed accept(s) in a row", self.streak
            );
        }
        self.streak = 0;
        self.reported = false;
        self.paused_until = None;
    }
}

/// What `session_initiated` returned, a panic in it being an error.
fn main_outcome(r: std::result::Result<Result<()>, Box<dyn std::any::Any + Send>>) -> Result<()> {
    r.unwrap_or_else(|panic| {
        Err(Error::protocol(format!(
            "session_initiated panicked: {}",
            panic_text(panic.as_ref())
        )))
    })
}

/// How `session_initiated` ended, as [`SessionEnd::outcome`] reports it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SessionOutcome {
    /// It returned `Ok(())`.
    Completed,
    /// The call ended under it: it returned [`Error::Hangup`] (an
    /// application interrupted by the hangup), or [`Error::Closed`] after
    /// the hangup. This is how calls normally end; it is not logged as an
    /// error.
    HungUp,
    /// It returned another error, or panicked (an [`Error::Protocol`] saying
    /// so). Logged at error level the moment it happened.
    Failed(Error),
    /// It was still running [`OutboundSettings::session_grace`] after the
    /// call had ended, and was cancelled.
    Cancelled,
}

/// How an outbound session ended: what
/// [`OutboundListener::session_ended`](super::OutboundListener::session_ended)
/// receives, once, after the end of the call and before the socket closes.
#[derive(Debug, Clone)]
pub struct SessionEnd {
    outcome: SessionOutcome,
    hangup_cause: Option<HangupCause>,
    hung_up: bool,
    duration: Duration,
}

impl SessionEnd {
    /// How `session_initiated` ended.
    pub fn outcome(&self) -> &SessionOutcome {
        &self.outcome
    }

    /// The error `session_initiated` failed with (a panic included), if it
    /// failed; `None` when it completed, ended by the hangup, or was
    /// cancelled.
    pub fn error(&self) -> Option<&Error> {
        match &self.outcome {
            SessionOutcome::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// The call's hangup cause ([`HangupCause::NormalClearing`], `UserBusy`, ...), from
    /// its CHANNEL_HANGUP / CHANNEL_HANGUP_COMPLETE or the latest channel
    /// data; `None` when FreeSWITCH sent none (the socket closed first).
    pub fn hangup_cause(&self) -> Option<&HangupCause> {
        self.hangup_cause.as_ref()
    }

    /// True when the end of the call was seen (CHANNEL_HANGUP_COMPLETE, or
    /// on a sync socket the disconnect-notice); false when the connection
    /// closed first (`disconnect()`, FreeSWITCH went away).
    pub fn hung_up(&self) -> bool {
        self.hung_up
    }

    /// How long the session lasted: from FreeSWITCH's `connect` reply to the
    /// end of the call (before the hooks finished).
    pub fn duration(&self) -> Duration {
        self.duration
    }
}

/// Logs what `session_initiated` returned, the moment it returns, inside
/// the session's span. A closed connection is judged at the end (it may
/// be the normal end of the call), in [`classify`].
fn log_outcome(uuid: &str, r: &Result<()>) {
    match r {
        Ok(()) | Err(Error::Closed { .. }) => {}
        Err(e @ Error::Hangup { .. }) => {
            debug!(error = %e, "session_initiated ended by the hangup")
        }
        Err(e) => error!(uuid, error = %e, "session_initiated failed"),
    }
}

/// The outcome of `session_initiated` once the call is over.
fn classify(result: Option<Result<()>>, hung_up: bool) -> SessionOutcome {
    match result {
        None => SessionOutcome::Cancelled,
        Some(Ok(())) => SessionOutcome::Completed,
        Some(Err(Error::Hangup { .. })) => SessionOutcome::HungUp,
        Some(Err(e)) if e.is_closed() && hung_up => SessionOutcome::HungUp,
        Some(Err(e)) => {
            if e.is_closed() {
                info!(error = %e, "session_initiated ended: the connection closed");
            }
            SessionOutcome::Failed(e)
        }
    }
}

/// Runs one call: setup, `session_initiated`, event dispatch, the latch.
async fn handle_call<L: OutboundListener>(
    stream: TcpStream,
    handler: L,
    settings: &OutboundSettings,
    shutdown: Shutdown,
) -> Result<()> {
    let (conn, events) = Connection::new(stream, settings.config.clone());
    run_session(conn, events, handler, settings, shutdown).await
}

/// Runs one outbound call over an already-accepted socket (a TCP stream, or
/// an in-memory duplex in tests): setup (`connect`, `myevents`, `linger`),
/// `session_initiated` alongside the hooks, `session_ended`, and the close
/// once the call is over. Returns what `session_initiated` returned; a
/// hangup that interrupts it is a normal end, not an error. Errors are
/// logged as they happen (a failed `session_initiated` at once, while the
/// caller may still be on the line).
pub async fn run_outbound_session<L, T>(
    io: T,
    handler: L,
    settings: &OutboundSettings,
) -> Result<()>
where
    L: OutboundListener,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let (conn, events) = Connection::new(io, settings.config.clone());
    run_session(conn, events, handler, settings, Shutdown::new()).await
}

async fn setup(conn: &Connection, options: &OutboundOptions) -> Result<Event> {
    let reply = conn.command(&Command::connect()).await?;
    let data = reply
        .into_channel_data()
        .ok_or_else(|| Error::protocol("the connect reply carried no channel data"))?;
    // Every sendmsg names the channel by its Unique-ID: without one the
    // session could only send commands addressed to no channel (13.4).
    if data.unique_id().is_none_or(str::is_empty) {
        return Err(Error::protocol(
            "the connect reply's channel data has no Unique-ID",
        ));
    }
    let myevents = match options.format {
        EventFormat::Plain => Command::myevents(),
        other => Command::myevents_format(other),
    };
    conn.command(&myevents).await?;
    conn.set_format(options.format);
    if !options.events.is_empty() {
        conn.subscribe(options.format, &options.events).await?;
    }
    if options.linger != Linger::Off {
        conn.command(&Command::linger(options.linger)).await?;
    }
    Ok(data)
}

/// The setup, with its deadline; failures are logged.
async fn setup_within(
    conn: &Connection,
    options: &OutboundOptions,
    settings: &OutboundSettings,
) -> Result<Event> {
    let r = match tokio::time::timeout(settings.setup_timeout, setup(conn, options)).await {
        Ok(r) => r,
        Err(_) => Err(Error::Timeout {
            what: "the outbound session setup (connect, myevents, linger)",
            after: settings.setup_timeout,
        }),
    };
    match &r {
        Err(e) if e.is_closed() => info!(error = %e, "outbound session setup: connection closed"),
        Err(e) => error!(error = %e, "outbound session setup failed"),
        Ok(_) => {}
    }
    r
}

/// What the session loop saw of the end of the call.
#[derive(Default)]
struct Ending {
    notice_seen: bool,
    hangup_complete: bool,
    /// The channel's own CHANNEL_HANGUP was seen.
    hangup_seen: bool,
    /// Sync sockets: how long after the notice the last events may come.
    sync_deadline: Option<tokio::time::Instant>,
    /// From the channel's CHANNEL_HANGUP or CHANNEL_HANGUP_COMPLETE.
    cause: Option<HangupCause>,
}

impl Ending {
    /// The latch: both the disconnect-notice and CHANNEL_HANGUP_COMPLETE, in
    /// either order, or the end of the connection. A sync socket gets no
    /// HANGUP_COMPLETE (it is produced after the socket is gone): there the
    /// call is over after the notice once CHANNEL_HANGUP has come and no
    /// application waits for its completion (FreeSWITCH may deliver the
    /// notice before either), or `hangup_grace` after the notice.
    fn latched(&self) -> bool {
        self.notice_seen && self.hangup_complete
    }

    /// Sync sockets: the notice and the own CHANNEL_HANGUP came, so the
    /// call is over once no application waits.
    fn sync_settled(&self) -> bool {
        self.sync_deadline.is_some() && self.hangup_seen
    }

    /// Reads one message of the session's own: updates the channel data and
    /// the latch.
    fn read(&mut self, session: &Session, sync: bool, hangup_grace: Duration, msg: &Message) {
        match msg {
            Message::Event(event) if event.unique_id() == Some(session.uuid()) => {
                match event.name() {
                    Some("CHANNEL_EXECUTE_COMPLETE") | Some("CHANNEL_DATA") => {
                        session.update(event)
                    }
                    Some("CHANNEL_HANGUP") => {
                        // The data then carries the hangup cause.
                        self.note_cause(event);
                        session.update(event);
                        self.hangup_seen = true;
                    }
                    Some("CHANNEL_HANGUP_COMPLETE") => {
                        self.note_cause(event);
                        session.update(event);
                        session.mark_ended();
                        self.hangup_complete = true;
                    }
                    _ => {}
                }
            }
            Message::DisconnectNotice(n) => {
                debug!(linger = n.is_linger(), "disconnect-notice");
                self.notice_seen = true;
                if sync && self.sync_deadline.is_none() {
                    // No application sent from now on can complete; the
                    // ones in flight get their completion or the grace.
                    session.mark_ended();
                    self.sync_deadline = Some(tokio::time::Instant::now() + hangup_grace);
                }
            }
            _ => {}
        }
    }

    fn note_cause(&mut self, event: &Event) {
        if let Some(cause) = event.hangup_cause() {
            self.cause = Some(cause);
        }
    }
}

/// Runs a session over an established connection (also used by tests with
/// in-memory sockets).
async fn run_session<L: OutboundListener>(
    conn: Connection,
    mut events: EventStream,
    handler: L,
    settings: &OutboundSettings,
    shutdown: Shutdown,
) -> Result<()> {
    let options = handler.options();
    let data = match setup_within(&conn, &options, settings).await {
        Ok(data) => data,
        Err(e) => {
            // No call to end: a peer that did not complete the setup (silent,
            // or its channel data refused) gets no `exit` and no wait for its
            // close, so it frees its slot at the setup deadline (13.7).
            // Counted before the close, so whoever sees the close sees the
            // count too.
            telemetry::connection_refused(if matches!(e, Error::Timeout { .. }) {
                "setup_timeout"
            } else {
                "setup"
            });
            conn.close_now("the outbound session setup failed");
            return Err(e);
        }
    };
    let started = tokio::time::Instant::now();
    // A sync ("static") socket is served by the channel's own thread:
    // CHANNEL_HANGUP_COMPLETE is produced only after the socket is gone, so
    // there the disconnect-notice (linger) alone marks the end of the call.
    let sync = data.header("Socket-Mode") == Some("static");
    let session = Session::with_shutdown(conn.clone(), data, options.event_lock, shutdown);
    let data = session.channel_data();
    let span = info_span!(
        "session",
        uuid = %session.uuid(),
        caller = data.header("Caller-Caller-ID-Number"),
        destination = data.header("Caller-Destination-Number"),
    );
    drop(data);
    async move {
        info!("outbound session started");
        let _open = telemetry::ConnectionGauge::open(telemetry::Role::Outbound);
        let handler = Arc::new(handler);
        let h = handler.clone();
        let s = session.clone();
        // `session_initiated` runs in this task, beside the event loop: an
        // application's completion then wakes one task, not two. (While the
        // loop waits for room in a channel's mailbox, 1024 events behind a
        // hook that waits, `session_initiated` waits with it.)
        let mut main = CatchUnwind(Box::pin(h.session_initiated(&s)));
        let h = handler.clone();
        let s = session.clone();
        let mut dispatcher = Dispatcher::new(
            Arc::new(move |event| {
                let h = h.clone();
                let s = s.clone();
                Box::pin(async move { h.handle_event(&s, &event).await })
            }),
            settings.mailbox_capacity,
        );
        let mut ending = Ending::default();
        let mut main_result = None;
        while !ending.latched() {
            let msg = tokio::select! {
                // `session_initiated` first, then events, then the end of a
                // sync call: a completion's event is in the stream before
                // its application returns, so it reaches the hooks first.
                biased;
                r = &mut main, if main_result.is_none() => {
                    let r = main_outcome(r);
                    log_outcome(session.uuid(), &r);
                    main_result = Some(r);
                    continue;
                }
                m = events.recv_wanted(|name| {
                    // What the session itself reads, and what hooks use.
                    matches!(
                        name,
                        "CHANNEL_EXECUTE_COMPLETE"
                            | "CHANNEL_DATA"
                            | "CHANNEL_HANGUP"
                            | "CHANNEL_HANGUP_COMPLETE"
                    ) || handler.wants_event(name)
                }) => m,
                _ = session.idle(), if ending.sync_settled() => {
                    ending.hangup_complete = true;
                    continue;
                }
                _ = sleep_until_opt(ending.sync_deadline), if ending.sync_deadline.is_some() => {
                    ending.hangup_complete = true;
                    continue;
                }
            };
            let Some(msg) = msg else { break };
            ending.read(&session, sync, conn.config().hangup_grace, &msg);
            match msg {
                Message::Event(event) => {
                    if event.name().is_none_or(|n| handler.wants_event(n)) {
                        dispatcher.dispatch(event).await;
                    }
                }
                Message::DisconnectNotice(_) => {}
                other => debug!(?other, "frame on an outbound session"),
            }
        }
        let duration = started.elapsed();
        // Hooks and `session_initiated` finish before the socket closes.
        let main_done = async {
            match main_result {
                Some(r) => Some(r),
                None => tokio::time::timeout(settings.session_grace, &mut main)
                    .await
                    .ok()
                    .map(|r| {
                        let r = main_outcome(r);
                        log_outcome(session.uuid(), &r);
                        r
                    }),
            }
        };
        let ((), result) = tokio::join!(dispatcher.finish(), main_done);
        drop(main);
        if result.is_none() {
            warn!("session_initiated still running after the call ended; cancelled it");
        }
        let end = SessionEnd {
            outcome: classify(result, ending.hangup_complete),
            hangup_cause: ending.cause.or_else(|| session.hangup_cause()),
            hung_up: ending.hangup_complete,
            duration,
        };
        telemetry::session_ended(end.hangup_cause.as_ref().map(|c| c.as_str()));
        session_ended(&*handler, &session, &end, settings.session_grace).await;
        if !conn.is_closed() {
            let _ = tokio::time::timeout(Duration::from_secs(5), conn.exit()).await;
        }
        info!("outbound session ended");
        match end.outcome {
            SessionOutcome::Failed(e) => Err(e),
            _ => Ok(()),
        }
    }
    .instrument(span)
    .await
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Runs the `session_ended` hook, within `grace`, a panic logged.
async fn session_ended<L: OutboundListener>(
    handler: &L,
    session: &Session,
    end: &SessionEnd,
    grace: Duration,
) {
    let hook = CatchUnwind(Box::pin(handler.session_ended(session, end)));
    match tokio::time::timeout(grace, hook).await {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => error!(panic = %panic_text(panic.as_ref()), "session_ended panicked"),
        Err(_) => warn!("session_ended still running after the session grace period; cancelled it"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allow_list_matches_addresses_and_networks() {
        let allow: Vec<IpNet> = ["10.0.0.5", "10.0.1.0/24", "2001:db8::/32"]
            .iter()
            .map(|n| parse_network(n).unwrap())
            .collect();
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert!(allowed(&allow, ip("10.0.0.5")));
        assert!(!allowed(&allow, ip("10.0.0.6")));
        assert!(allowed(&allow, ip("10.0.1.200")));
        assert!(!allowed(&allow, ip("10.0.2.1")));
        assert!(allowed(&allow, ip("2001:db8::1")));
        assert!(!allowed(&allow, ip("2001:db9::1")));
        // An IPv4 peer on a dual-stack socket.
        assert!(allowed(&allow, ip("::ffff:10.0.0.5")));
        assert!(!allowed(&allow, ip("::ffff:10.0.0.6")));
        // Empty: everyone.
        assert!(allowed(&[], ip("192.0.2.1")));
    }

    #[test]
    fn a_bad_network_says_what_to_write() {
        for bad in ["10.0.0/8", "10.0.0.0/33", "example.com", ""] {
            match parse_network(bad) {
                Err(Error::Config(m)) => {
                    assert!(
                        m.contains(&format!("`{bad}`")) && m.contains("10.0.0.0/24"),
                        "{m}"
                    )
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
