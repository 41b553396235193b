//! The connection core: one task owns the socket, handles are cheap clones.
//!
//! [`Connection::new`] spawns a driver task that reads the socket and
//! returns a [`Connection`] handle plus an [`EventStream`]. Every command a
//! handle sends gets a oneshot "promise" in a FIFO queue shared with the
//! driver (the outbox); FreeSWITCH answers commands strictly in order (§7 of
//! the protocol notes), so the next `command/reply` or `api/response` frame
//! resolves the oldest promise. Events, log lines and notices never touch the
//! queue: they leave through the event stream.
//!
//! ```text
//!  handle ──promise + bytes (one lock)──▶ outbox ──bytes──▶ socket
//!             (written by the caller when nothing is outstanding,
//!              else by the driver, batched)
//!  handle ◀──────reply────── driver ◀──command/reply, api/response── socket
//!  EventStream ◀──events, logs, notices── driver ◀──events── socket
//! ```
//!
//! Guarantees:
//! * **Order.** A caller pushes its promise and writes or buffers the
//!   command's bytes under one lock, so socket order is queue order. Many
//!   commands may be in flight (pipelining).
//! * **Cancellation.** A caller that stops waiting (timeout, dropped future)
//!   leaves its promise in the queue; the reply is read and discarded, so later
//!   replies stay aligned. A command whose caller left while waiting for
//!   room in the write buffer is not written at all.
//! * **Deadlines.** Every wait has one: replies ([`ConnectionConfig::reply_timeout`]),
//!   background jobs ([`ConnectionConfig::job_timeout`]), application
//!   completions ([`ConnectionConfig::app_timeout`]); [`Connection::with_timeout`]
//!   overrides them for one handle.
//! * **Close.** On EOF, an I/O error, a malformed frame or a closing
//!   disconnect-notice, every pending promise, job and application wait fails
//!   at once with [`Error::Closed`] (or the error that ended the connection).
//! * **Jobs.** `bgapi` chooses the `Job-UUID` itself and registers it before
//!   the command is written, so the BACKGROUND_JOB event cannot race it.
//! * **Applications.** An `execute` carries an `Event-UUID`; the
//!   CHANNEL_EXECUTE_COMPLETE whose `Application-UUID` matches resolves it.
//!   When the channel hangs up first, the wait fails with [`Error::Hangup`]:
//!   at CHANNEL_HANGUP_COMPLETE, or [`ConnectionConfig::hangup_grace`] after
//!   CHANNEL_HANGUP when no HANGUP_COMPLETE comes (sync sockets).
//! * **Events** leave through a bounded channel of
//!   [`ConnectionConfig::event_capacity`]. With
//!   [`OverflowPolicy::Backpressure`] (the default) nothing is ever dropped:
//!   when the channel is full, further events are parked and the driver
//!   stops reading the socket (FreeSWITCH then queues on its side). While a
//!   reply, job or application completion is awaited it reads on anyway,
//!   because the awaited frame may be behind the events (so a hook that
//!   calls `api` cannot deadlock), parking what it reads; once more than
//!   [`ConnectionConfig::max_backlog`] events are parked it closes the
//!   connection with [`Error::EventBacklog`] rather than let memory grow or
//!   drop events. With [`OverflowPolicy::DropNewest`] an event that finds
//!   the channel full is dropped and counted ([`Connection::dropped_events`]).
//! * **Writes** are bounded too: once
//!   [`ConnectionConfig::write_high_water`] bytes wait to be written (a peer
//!   that stopped reading), no further command is taken until the peer reads;
//!   callers wait within their own timeout and fail with [`Error::Timeout`].
//! * **Handshake.** The inbound greeting and authentication
//!   (`auth`/`userauth`, rude-rejection) are here too, used by
//!   [`CommandSocket`](crate::CommandSocket) and inbound listeners alike.
//!
//! Every handle speaks the same verbs; see the crate documentation,
//! "One vocabulary on every handle".

mod driver;
mod handshake;
mod outbox;
mod settings;

pub use handshake::Password;
pub(crate) use handshake::{authenticate, connect_tcp, Credentials};
pub(crate) use settings::{endpoint_from_env, EnvVars};

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot, Notify};

use crate::error::{Error, Result};
use crate::protocol::{
    AnswerState, ApiResponse, Command, CommandReply, Event, EventFormat, Limits, Message, SendMsg,
};

/// What to do with an event when the event stream is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum OverflowPolicy {
    /// Never drop: stop reading the socket until the consumer catches up
    /// (FreeSWITCH then queues on its side, up to 100 000 events per socket).
    #[default]
    Backpressure,
    /// Drop the event that does not fit and count it.
    DropNewest,
}

/// Settings of one connection.
#[derive(Debug, Clone)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct ConnectionConfig {
    /// Deadline for a `command/reply` or `api/response` (default 30 s).
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub reply_timeout: Duration,
    /// Deadline for a background job's BACKGROUND_JOB event (default 120 s).
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub job_timeout: Duration,
    /// Deadline for an application's CHANNEL_EXECUTE_COMPLETE (default 4 h:
    /// a bridged call may last that long; a hangup ends the wait sooner).
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub app_timeout: Duration,
    /// How long after CHANNEL_HANGUP an application wait may still be
    /// completed before it fails with [`Error::Hangup`] (default 2 s).
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub hangup_grace: Duration,
    /// Capacity of the event stream (default 8192).
    pub event_capacity: usize,
    /// What happens when the event stream is full.
    pub overflow: OverflowPolicy,
    /// Under [`OverflowPolicy::Backpressure`], how many events may be parked
    /// beyond a full stream while a reply is awaited before the connection is
    /// closed with [`Error::EventBacklog`] (default 100 000, FreeSWITCH's own
    /// per-socket queue size).
    pub max_backlog: usize,
    /// Bytes of commands accepted but not yet written to the socket above
    /// which the connection takes no more commands (default 1 MiB). A peer
    /// that stops reading fills the socket's buffers, then this one; past
    /// the mark, callers wait for room and their own timeout applies (a
    /// caller that gives up while waiting is never written), so memory stays
    /// bounded. One command is always taken, whatever its size.
    pub write_high_water: usize,
    /// Frame size limits.
    pub limits: Limits,
    /// Probing a silent peer (default: probe after 30 s of silence, give up
    /// 10 s later); `None` turns the probe off. See [`Liveness`].
    #[cfg_attr(feature = "serde", serde(deserialize_with = "settings::de::liveness"))]
    pub liveness: Option<Liveness>,
}

/// How a connection notices a peer that stopped answering without closing
/// (a switch that lost power, a broken NAT: a half-open TCP connection).
///
/// When nothing at all has arrived for `interval`, the connection sends a
/// cheap probe (`api version`, answered on inbound and outbound sockets
/// alike). Any frame arriving ends the silence; if nothing arrives within
/// `timeout` of the probe, the connection closes with
/// [`Error::Unresponsive`], every waiter fails
/// with it, and an inbound listener reconnects as after any other loss.
/// FreeSWITCH sends subscribers a `HEARTBEAT` every 20 s, so a subscribed
/// socket is rarely probed at all.
///
/// TCP keepalive is set as well on every socket librevox opens or accepts
/// (first kernel probe after 30 s idle, then every 10 s), as a second line
/// that also catches a dead peer while the probe is turned off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct Liveness {
    /// Silence after which a probe is sent (default 30 s).
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub interval: Duration,
    /// How long the probe may go unanswered (default 10 s).
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub timeout: Duration,
}

impl Liveness {
    /// Probe after `interval` of silence, give up `timeout` later.
    pub const fn new(interval: Duration, timeout: Duration) -> Liveness {
        Liveness { interval, timeout }
    }
}

impl Default for Liveness {
    fn default() -> Self {
        Liveness::new(Duration::from_secs(30), Duration::from_secs(10))
    }
}

/// Turns TCP keepalive on for `stream`: the kernel's first probe after 30 s
/// idle, then every 10 s (it gives up after its retry count, 9 on Linux).
pub(crate) fn set_keepalive(stream: &tokio::net::TcpStream) -> std::io::Result<()> {
    let ka = socket2::TcpKeepalive::new().with_time(Duration::from_secs(30));
    #[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows"))]
    let ka = ka.with_interval(Duration::from_secs(10));
    socket2::SockRef::from(stream).set_tcp_keepalive(&ka)
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            reply_timeout: Duration::from_secs(30),
            job_timeout: Duration::from_secs(120),
            app_timeout: Duration::from_secs(4 * 3600),
            hangup_grace: Duration::from_secs(2),
            event_capacity: 8192,
            overflow: OverflowPolicy::Backpressure,
            max_backlog: 100_000,
            write_high_water: 1024 * 1024,
            limits: Limits::default(),
            liveness: Some(Liveness::default()),
        }
    }
}

/// A reply to a command: `command/reply` or `api/response`.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A `command/reply` frame.
    Command(CommandReply),
    /// An `api/response` frame.
    Api(ApiResponse),
}

pub(crate) struct AppWait {
    pub(crate) event_uuid: String,
    pub(crate) channel: Option<String>,
    /// The application ends the call (`hangup`): the channel's hangup is
    /// its success, not its failure.
    pub(crate) ends_call: bool,
    pub(crate) tx: oneshot::Sender<Result<Event>>,
}

struct Shared {
    /// The write side and the promise queue (callers write their own
    /// commands; the driver reads and resolves).
    outbox: Arc<outbox::Outbox>,
    config: ConnectionConfig,
    dropped: Arc<AtomicU64>,
    closed: Arc<Latch<Error>>,
    format: std::sync::Mutex<EventFormat>,
    /// Ends the driver task (and so drops the socket) without `exit`.
    abort: tokio::task::AbortHandle,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The last handle is gone: the driver says `exit`.
        self.outbox.handles_gone();
    }
}

/// A handle to one ESL connection. Cheap to clone; every clone talks to the
/// same socket. The connection ends when FreeSWITCH closes it, or after the
/// last handle is dropped (the driver then sends `exit`).
#[derive(Clone)]
pub struct Connection {
    shared: Arc<Shared>,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("closed", &self.is_closed())
            .field("timeout_override", &self.timeout)
            .finish()
    }
}

/// The frames of a connection that are not replies: events, log lines,
/// disconnect-notices, the greeting, rude-rejections and unknown frames, in
/// arrival order. It ends (`recv` returns `None`) when the connection closes.
#[derive(Debug)]
pub struct EventStream {
    rx: mpsc::Receiver<Incoming>,
    batch: Vec<Incoming>,
    backlog: Arc<crate::telemetry::Backlog>,
}

/// What the driver hands the event stream: a typed message, or a plain
/// event frame the driver did not need to look into, parsed by the
/// receiving task (so parsing runs beside the socket task, not in it).
#[derive(Debug)]
pub(crate) enum Incoming {
    // Boxed so that a slot of the event channel is two words: tokio
    // allocates channel slots 32 at a time for every connection, and an
    // idle outbound call should not pay kilobytes for them.
    Message(Box<Message>),
    Plain(Box<crate::protocol::Frame>),
}

impl Incoming {
    fn into_message(self) -> Message {
        match self {
            Incoming::Message(m) => *m,
            Incoming::Plain(frame) => match Event::parse_plain(frame.body()) {
                Ok(event) => Message::Event(event),
                Err(e) => {
                    // One malformed event is not worth the connection: it is
                    // logged and handed on raw, never dropped silently.
                    tracing::warn!(error = %e, "an event that cannot be parsed; delivered as Message::Unknown");
                    Message::Unknown(*frame)
                }
            },
        }
    }
}

/// The name of a plain event, read without parsing it: FreeSWITCH writes
/// `Event-Name` first (and event names need no percent-decoding). `None`
/// for anything else (diverted events, client-built ones).
pub(crate) fn peek_event_name(body: &[u8]) -> Option<&[u8]> {
    let rest = body.strip_prefix(b"Event-Name: ")?;
    Some(&rest[..memchr::memchr(b'\n', rest).unwrap_or(rest.len())])
}

impl EventStream {
    /// The next message, or `None` once the connection is closed and every
    /// message was received.
    pub async fn recv(&mut self) -> Option<Message> {
        let incoming = self.rx.recv().await;
        self.backlog.report(self.rx.len());
        incoming.map(Incoming::into_message)
    }

    /// The next message, skipping without parsing them the plain events
    /// whose name `wanted` rejects.
    pub(crate) async fn recv_wanted(&mut self, wanted: impl Fn(&str) -> bool) -> Option<Message> {
        loop {
            let incoming = self.rx.recv().await;
            self.backlog.report(self.rx.len());
            let incoming = incoming?;
            if let Incoming::Plain(frame) = &incoming {
                let name = peek_event_name(frame.body()).and_then(|n| std::str::from_utf8(n).ok());
                if name.is_some_and(|n| !wanted(n)) {
                    continue;
                }
            }
            return Some(incoming.into_message());
        }
    }

    /// The next message if one is ready now.
    pub fn try_recv(&mut self) -> Option<Message> {
        let incoming = self.rx.try_recv().ok();
        self.backlog.report(self.rx.len());
        incoming.map(Incoming::into_message)
    }

    /// Receives up to `limit` ready messages into `buf` (waiting for at least
    /// one); returns how many arrived, 0 when the stream ended.
    ///
    /// A full batch means events arrive faster than this task handles them.
    /// Then the connection's socket task, woken on this thread by the room
    /// the batch made, waits in a slot that other tokio workers cannot take
    /// it from; so this call first moves its own task to the back of the
    /// run queue, where an idle worker steals it. Reading and handling then
    /// run on two cores instead of taking turns on one (on a multi-thread
    /// runtime; elsewhere it costs one extra poll).
    pub async fn recv_many(&mut self, buf: &mut Vec<Message>, limit: usize) -> usize {
        let n = self.rx.recv_many(&mut self.batch, limit).await;
        self.backlog.report(self.rx.len());
        if n == limit && limit > 1 {
            requeue().await;
        }
        buf.extend(self.batch.drain(..).map(Incoming::into_message));
        n
    }
}

/// A value set once, that tasks can wait for: why a connection ended (set
/// by its driver, at the latest when the driver is dropped), or that a call
/// is over. A `watch` channel would do too, at about 300 bytes more each.
#[derive(Debug)]
pub(crate) struct Latch<T> {
    value: std::sync::OnceLock<T>,
    notify: Notify,
}

impl<T> Default for Latch<T> {
    fn default() -> Self {
        Latch {
            value: std::sync::OnceLock::new(),
            notify: Notify::new(),
        }
    }
}

impl<T> Latch<T> {
    /// Sets the value (the first one stays) and wakes every waiter.
    pub(crate) fn set(&self, value: T) {
        let _ = self.value.set(value);
        self.notify.notify_waiters();
    }

    /// The value, once set.
    pub(crate) fn get(&self) -> Option<&T> {
        self.value.get()
    }

    /// Waits until the value is set.
    pub(crate) async fn wait(&self) -> &T {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before the check, so a `set` in between is seen.
            notified.as_mut().enable();
            if let Some(value) = self.value.get() {
                return value;
            }
            notified.await;
        }
    }
}

/// The `command/reply` a command expects: `-ERR` is
/// [`Error::CommandFailed`], an `api/response` a protocol error.
fn command_reply(cmd: &Command, reply: Reply) -> Result<CommandReply> {
    match reply {
        Reply::Command(r) if r.is_err() => Err(Error::CommandFailed {
            command: cmd.describe(),
            reply: r.text().to_owned(),
        }),
        Reply::Command(r) => Ok(r),
        Reply::Api(_) => Err(Error::protocol(format!(
            "`{}` was answered with api/response instead of command/reply",
            cmd.describe()
        ))),
    }
}

/// Goes to the back of the runtime's run queue once. A task that wakes
/// itself is queued where idle workers steal from, unlike a task woken by
/// another one on the same thread, and unlike `tokio::task::yield_now`,
/// which defers to the same thread.
async fn requeue() {
    let mut queued = false;
    std::future::poll_fn(|cx| {
        if std::mem::replace(&mut queued, true) {
            std::task::Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

impl Connection {
    /// Starts a connection over an established socket: spawns the driver task
    /// on the current tokio runtime and returns the handle and the stream of
    /// events. Nothing is sent; for an inbound socket the `auth/request`
    /// greeting arrives on the event stream.
    pub fn new<T>(io: T, config: ConnectionConfig) -> (Connection, EventStream)
    where
        T: AsyncRead + AsyncWrite + Send + 'static,
    {
        Connection::with_peer(io, config, "the peer".into())
    }

    /// [`Connection::new`] for a peer known by name (its address), which
    /// errors such as [`Error::Unresponsive`]
    /// then name.
    pub(crate) fn with_peer<T>(
        io: T,
        config: ConnectionConfig,
        peer: String,
    ) -> (Connection, EventStream)
    where
        T: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (events_tx, events_rx) = mpsc::channel(config.event_capacity.max(1));
        let closed = Arc::new(Latch::default());
        let dropped = Arc::new(AtomicU64::new(0));
        let (reader, writer) = tokio::io::split(io);
        let outbox = Arc::new(outbox::Outbox::new(
            Box::pin(writer),
            config.write_high_water,
        ));
        let driver = driver::Driver::new(
            reader,
            outbox.clone(),
            events_tx,
            closed.clone(),
            dropped.clone(),
            &config,
        )
        .named(peer);
        let backlog = driver.backlog();
        let abort = tokio::spawn(driver.run()).abort_handle();
        let conn = Connection {
            shared: Arc::new(Shared {
                outbox,
                config,
                dropped,
                closed,
                format: std::sync::Mutex::new(EventFormat::Plain),
                abort,
            }),
            timeout: None,
        };
        (
            conn,
            EventStream {
                rx: events_rx,
                batch: Vec::new(),
                backlog,
            },
        )
    }

    /// A handle to the same connection whose waits use `timeout` instead of
    /// the configured defaults (for replies, jobs and applications alike).
    ///
    /// ```no_run
    /// # async fn f(conn: librevox::Connection) -> librevox::Result<()> {
    /// use std::time::Duration;
    /// let slow = conn.with_timeout(Duration::from_secs(90));
    /// slow.api("originate sofia/gateway/trunk/5551234 &park()").await?;
    /// # Ok(()) }
    /// ```
    pub fn with_timeout(&self, timeout: Duration) -> Connection {
        Connection {
            shared: self.shared.clone(),
            timeout: Some(timeout),
        }
    }

    /// The configuration the connection was started with.
    pub fn config(&self) -> &ConnectionConfig {
        &self.shared.config
    }

    /// Events dropped so far under [`OverflowPolicy::DropNewest`].
    pub fn dropped_events(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// True once the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.get().is_some() || self.shared.outbox.is_closed()
    }

    /// Closes the socket at once, without `exit` and without waiting for
    /// the peer: for a peer that is not worth a goodbye (one that never
    /// completed a handshake). Every wait on the connection fails with
    /// [`Error::Closed`] giving `reason`.
    pub(crate) fn close_now(&self, reason: &str) {
        self.shared.closed.set(Error::closed(reason));
        self.shared.abort.abort();
    }

    /// Waits until the connection has ended and returns why.
    pub async fn closed(&self) -> Error {
        self.shared.closed.wait().await.clone()
    }

    fn closed_error(&self) -> Error {
        self.shared
            .closed
            .get()
            .cloned()
            .unwrap_or_else(|| Error::closed("connection task ended"))
    }

    fn reply_deadline(&self) -> Duration {
        self.timeout.unwrap_or(self.shared.config.reply_timeout)
    }

    async fn submit(
        &self,
        cmd: &Command,
        registration: Option<outbox::Registration>,
    ) -> Result<Reply> {
        let bytes = cmd.encode()?;
        let (tx, rx) = oneshot::channel();
        let pending = outbox::Pending {
            tx,
            describe: cmd.describe(),
            kind: crate::telemetry::command_kind(&bytes),
            queued: tokio::time::Instant::now(),
        };
        let deadline = self.reply_deadline();
        let send_and_wait = async {
            self.shared
                .outbox
                .send(&bytes, pending, registration)
                .await?;
            match rx.await {
                Ok(result) => result,
                Err(_) => Err(self.closed_error()),
            }
        };
        match tokio::time::timeout(deadline, send_and_wait).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout {
                what: "a command reply",
                after: deadline,
            }),
        }
    }

    /// Sends a command and returns its reply as it came, without treating
    /// `-ERR` as an error.
    pub async fn send(&self, cmd: &Command) -> Result<Reply> {
        self.submit(cmd, None).await
    }

    /// Sends a command that FreeSWITCH answers with `command/reply`; a
    /// `-ERR` reply is [`Error::CommandFailed`].
    pub async fn command(&self, cmd: &Command) -> Result<CommandReply> {
        command_reply(cmd, self.send(cmd).await?)
    }

    /// Runs `api <command>`. A body starting with `-ERR` or `-USAGE` is
    /// [`Error::CommandFailed`] carrying FreeSWITCH's text; use
    /// [`api_raw`](Self::api_raw) to get such a body as a response.
    ///
    /// ```no_run
    /// # async fn f(conn: librevox::Connection) -> librevox::Result<()> {
    /// let status = conn.api("status").await?;
    /// println!("{}", status.text());
    /// # Ok(()) }
    /// ```
    pub async fn api(&self, command: &str) -> Result<ApiResponse> {
        // The command as sent, like every CommandFailed (`bgapi ...` too).
        self.api_raw(command)
            .await?
            .into_result(&Command::api(command).describe())
    }

    /// Runs `api <command>` and returns the response whatever its body.
    pub async fn api_raw(&self, command: &str) -> Result<ApiResponse> {
        let cmd = Command::api(command);
        match self.send(&cmd).await? {
            Reply::Api(r) => Ok(r),
            Reply::Command(r) if r.is_err() => Err(Error::CommandFailed {
                command: cmd.describe(),
                reply: r.text().to_owned(),
            }),
            Reply::Command(r) => Err(Error::protocol(format!(
                "`api {command}` was answered with command/reply `{}`",
                r.text()
            ))),
        }
    }

    /// Runs `bgapi <command>` with a fresh `Job-UUID`. Returns once FreeSWITCH
    /// accepted the job; await the returned [`BackgroundJob`] for its
    /// BACKGROUND_JOB event. The socket must be subscribed to BACKGROUND_JOB
    /// (`event plain BACKGROUND_JOB` or `ALL`) for the event to arrive;
    /// [`CommandSocket::bgapi`](crate::CommandSocket::bgapi) does that for you.
    pub async fn bgapi(&self, command: &str) -> Result<BackgroundJob> {
        self.bgapi_with_uuid(command, &new_uuid()).await
    }

    /// [`bgapi`](Self::bgapi) with a `Job-UUID` chosen by the caller.
    pub async fn bgapi_with_uuid(&self, command: &str, job_uuid: &str) -> Result<BackgroundJob> {
        let cmd = Command::bgapi(command, job_uuid);
        let (tx, rx) = oneshot::channel();
        let reply = self
            .submit(
                &cmd,
                Some(outbox::Registration::Job(job_uuid.to_owned(), tx)),
            )
            .await?;
        match reply {
            Reply::Command(r) if r.is_ok() => Ok(BackgroundJob {
                uuid: job_uuid.to_owned(),
                command: command.to_owned(),
                rx,
                deadline: self.timeout.unwrap_or(self.shared.config.job_timeout),
                conn: self.clone(),
            }),
            Reply::Command(r) => Err(Error::CommandFailed {
                command: cmd.describe(),
                reply: r.text().to_owned(),
            }),
            Reply::Api(_) => Err(Error::protocol("bgapi answered with api/response")),
        }
    }

    /// Sends a `sendmsg` and returns FreeSWITCH's acknowledgement only: the
    /// message is queued (`+OK` means "queued", not "done"; see
    /// [`execute`](Self::execute) to wait for an application). An
    /// application whose `event-lock` the message leaves unset gets
    /// `event-lock: true`.
    pub async fn sendmsg(&self, msg: &SendMsg) -> Result<CommandReply> {
        self.command(&msg.clone().or_event_lock(true).to_command())
            .await
    }

    /// Runs application `app` with `arg` on channel `uuid` and waits for its
    /// CHANNEL_EXECUTE_COMPLETE (with `event-lock: true`); see
    /// [`execute`](Self::execute).
    pub async fn application(&self, uuid: &str, app: &str, arg: &str) -> Result<Event> {
        self.execute(SendMsg::execute(app, arg).uuid(uuid)).await
    }

    /// Runs an application and waits for its CHANNEL_EXECUTE_COMPLETE.
    ///
    /// `msg` gets a fresh `Event-UUID` unless it has one; the completion
    /// event whose `Application-UUID` matches resolves the call and is
    /// returned (its `variable_*` headers carry results such as digits read).
    /// The message's target (`sendmsg <uuid>`) is the channel whose hangup
    /// ends the wait with [`Error::Hangup`]. A completion that reports the
    /// channel hung up (`Answer-State: hangup`, e.g. a playback cut short) is
    /// [`Error::Hangup`] too; so is an application sent to a channel this
    /// connection saw end. An application that ends the call itself
    /// (`hangup`, `redirect`, `deflect`) succeeds when the channel hangs up:
    /// it returns its completion, or, when the hangup came first, the
    /// channel's CHANNEL_HANGUP(_COMPLETE) event. The socket must receive the
    /// channel's events (outbound `myevents`, or an inbound subscription to
    /// CHANNEL_EXECUTE_COMPLETE, CHANNEL_HANGUP and CHANNEL_HANGUP_COMPLETE,
    /// which [`CommandSocket`](crate::CommandSocket) makes for you).
    ///
    /// An `event-lock` the message leaves unset is turned on.
    pub fn execute(&self, msg: SendMsg) -> impl Future<Output = Result<Event>> + Send + '_ {
        self.execute_on(msg.or_event_lock(true), None)
    }

    /// [`execute`](Self::execute) with the channel to watch for a hangup
    /// given apart (an outbound session's own channel, which its messages do
    /// not name).
    pub(crate) fn execute_on(
        &self,
        msg: SendMsg,
        channel: Option<String>,
    ) -> impl Future<Output = Result<Event>> + Send + '_ {
        // Sending is short and needs much state; waiting can last the whole
        // call (a parked playback) and needs little. The sending part is
        // boxed and dropped once the reply came, so a waiting application
        // holds only the small part.
        let ends_call = msg.ends_call();
        let send = Box::pin(self.start_app(msg, channel));
        async move {
            let (rx, channel) = send.await?;
            let deadline = self.timeout.unwrap_or(self.shared.config.app_timeout);
            match tokio::time::timeout(deadline, rx).await {
                // Interrupted by the hangup, or run on a channel that had
                // hung up: whatever the application reported, the call is
                // gone.
                Ok(Ok(Ok(done)))
                    if !ends_call && done.answer_state() == Some(AnswerState::Hangup) =>
                {
                    Err(Error::Hangup {
                        uuid: done
                            .unique_id()
                            .map(str::to_owned)
                            .or(channel)
                            .unwrap_or_default(),
                        cause: done.hangup_cause(),
                    })
                }
                Ok(Ok(result)) => result,
                Ok(Err(_)) => Err(self.closed_error()),
                Err(_) => Err(Error::Timeout {
                    what: "CHANNEL_EXECUTE_COMPLETE",
                    after: deadline,
                }),
            }
        }
    }

    /// Sends an application's `sendmsg`, registering its completion first;
    /// returns what waiting for the completion needs.
    async fn start_app(
        &self,
        msg: SendMsg,
        channel: Option<String>,
    ) -> Result<(oneshot::Receiver<Result<Event>>, Option<String>)> {
        let msg = match msg.event_uuid_value() {
            Some(_) => msg,
            None => msg.event_uuid(new_uuid()),
        };
        let event_uuid = msg.event_uuid_value().unwrap_or_default().to_owned();
        let channel = channel.or_else(|| msg.target().map(str::to_owned));
        let (tx, rx) = oneshot::channel();
        let wait = AppWait {
            event_uuid,
            channel: channel.clone(),
            ends_call: msg.ends_call(),
            tx,
        };
        let cmd = msg.to_command();
        command_reply(
            &cmd,
            self.submit(&cmd, Some(outbox::Registration::App(Box::new(wait))))
                .await?,
        )?;
        Ok((rx, channel))
    }

    /// Subscribes to events (`event <format> <names>`), remembering the
    /// format for later subscriptions made by librevox itself.
    pub async fn subscribe<S: AsRef<str>>(
        &self,
        format: EventFormat,
        names: &[S],
    ) -> Result<CommandReply> {
        let reply = self.command(&Command::event(format, names)).await?;
        self.set_format(format);
        Ok(reply)
    }

    /// The event format last chosen through this connection.
    pub fn format(&self) -> EventFormat {
        *self
            .shared
            .format
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    pub(crate) fn set_format(&self, format: EventFormat) {
        *self
            .shared
            .format
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = format;
    }

    /// Sends `exit` and waits until FreeSWITCH closed the connection.
    pub async fn exit(&self) -> Result<()> {
        match self.command(&Command::exit()).await {
            Ok(_) => {}
            Err(e) if e.is_closed() => return Ok(()),
            Err(e) => return Err(e),
        }
        let deadline = self.reply_deadline();
        match tokio::time::timeout(deadline, self.closed()).await {
            Ok(_) => Ok(()),
            Err(_) => Err(Error::Timeout {
                what: "the connection to close after exit",
                after: deadline,
            }),
        }
    }
}

/// A background job started with `bgapi`. Await it for the BACKGROUND_JOB
/// event (its body is the command's output), or call
/// [`output`](BackgroundJob::output) for the text with `-ERR` treated as an
/// error. The wait has a deadline ([`ConnectionConfig::job_timeout`]) and
/// fails at once if the connection closes.
#[derive(Debug)]
pub struct BackgroundJob {
    uuid: String,
    command: String,
    rx: oneshot::Receiver<Result<Event>>,
    deadline: Duration,
    conn: Connection,
}

impl BackgroundJob {
    /// The job's `Job-UUID`.
    pub fn uuid(&self) -> &str {
        &self.uuid
    }

    /// Waits for the BACKGROUND_JOB event.
    pub async fn wait(self) -> Result<Event> {
        match tokio::time::timeout(self.deadline, self.rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(self.conn.closed_error()),
            Err(_) => Err(Error::Timeout {
                what: "a BACKGROUND_JOB event",
                after: self.deadline,
            }),
        }
    }

    /// Waits for the job and returns its output; output starting with `-ERR`
    /// or `-USAGE` is [`Error::CommandFailed`].
    pub async fn output(self) -> Result<String> {
        let command = self.command.clone();
        let event = self.wait().await?;
        let text = event.body_str().map(|b| b.into_owned()).unwrap_or_default();
        if text.starts_with("-ERR") || text.starts_with("-USAGE") {
            return Err(Error::CommandFailed {
                command: format!("bgapi {command}"),
                reply: text.trim_end().to_owned(),
            });
        }
        Ok(text)
    }
}

impl IntoFuture for BackgroundJob {
    type Output = Result<Event>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Event>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.wait())
    }
}

/// A fresh random UUID (version 4), as used for `Job-UUID` and `Event-UUID`.
pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

crate::target::api_target_by_methods!(Connection);

#[cfg(test)]
mod tests {
    use super::*;

    /// `close_now` aborts the driver task: replies it was to read live in
    /// the shared queue, so the driver's drop must fail them (at once, not
    /// at the reply timeout) and release the socket.
    #[tokio::test]
    async fn aborting_the_driver_fails_awaited_replies_at_once() {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let config = ConnectionConfig {
            reply_timeout: Duration::from_secs(600),
            ..ConnectionConfig::default()
        };
        let (conn, _events) = Connection::new(client, config);
        let c = conn.clone();
        let call = tokio::spawn(async move { c.api("status").await });
        // The command reached the socket, so its promise is queued.
        let mut buf = [0u8; 64];
        let n = tokio::io::AsyncReadExt::read(&mut server, &mut buf)
            .await
            .unwrap();
        assert_eq!(&buf[..n], b"api status\n\n");
        conn.close_now("a test aborted the connection");
        let err = tokio::time::timeout(Duration::from_secs(5), call)
            .await
            .expect("the awaited reply failed at once")
            .unwrap()
            .unwrap_err();
        assert!(
            err.to_string().contains("a test aborted the connection"),
            "{err}"
        );
        // The socket was dropped with the task: the peer sees EOF.
        let n = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::io::AsyncReadExt::read(&mut server, &mut buf),
        )
        .await
        .expect("the socket closes")
        .unwrap();
        assert_eq!(n, 0);
        let late = conn.api("status").await.unwrap_err();
        assert!(late.is_closed(), "{late}");
    }
}
