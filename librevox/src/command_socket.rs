//! [`CommandSocket`]: an authenticated inbound connection for one-off
//! commands (`api`, `bgapi`, applications on a channel, raw commands).

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::OnceCell;
use tracing::info;

use crate::connection::{
    authenticate, connect_tcp, BackgroundJob, Connection, ConnectionConfig, Credentials,
    EventStream, Password, Reply,
};
use crate::error::{Error, Result};
use crate::protocol::{ApiResponse, Command, CommandReply, Event, SendMsg};
use crate::target::AppTarget;

/// How to reach and authenticate to FreeSWITCH's event socket.
#[derive(Debug, Clone)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct ConnectOptions {
    /// `host:port` (default `127.0.0.1:8021`).
    pub addr: String,
    /// The event socket password (default `ClueCon`).
    pub password: Password,
    /// `user@domain` for `userauth` instead of `auth`.
    pub user: Option<String>,
    /// Deadline for the TCP connect plus the `auth/request` greeting and the
    /// authentication reply (default 10 s).
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub connect_timeout: Duration,
    /// Keep the event stream for [`CommandSocket::take_events`] instead of
    /// discarding events in the background (default false).
    pub keep_events: bool,
    /// Connection settings (timeouts, limits, overflow policy).
    pub config: ConnectionConfig,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            addr: "127.0.0.1:8021".into(),
            password: Password::new("ClueCon"),
            user: None,
            connect_timeout: Duration::from_secs(10),
            keep_events: false,
            config: ConnectionConfig::default(),
        }
    }
}

crate::connection::endpoint_from_env!(ConnectOptions);

impl ConnectOptions {
    /// Options for `addr` with the defaults otherwise.
    pub fn new(addr: impl Into<String>) -> ConnectOptions {
        ConnectOptions {
            addr: addr.into(),
            ..ConnectOptions::default()
        }
    }

    /// Sets the password.
    pub fn password(mut self, password: impl Into<Password>) -> Self {
        self.password = password.into();
        self
    }

    /// Authenticates with `userauth <user@domain>:<password>`.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Sets the connect deadline.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Keeps events for [`CommandSocket::take_events`].
    pub fn keep_events(mut self, keep: bool) -> Self {
        self.keep_events = keep;
        self
    }

    /// Sets the connection settings.
    pub fn config(mut self, config: ConnectionConfig) -> Self {
        self.config = config;
        self
    }

    /// Connects and authenticates.
    pub async fn connect(self) -> Result<CommandSocket> {
        CommandSocket::connect_with(self).await
    }

    pub(crate) fn credentials(&self) -> Credentials<'_> {
        Credentials {
            password: &self.password,
            user: self.user.as_deref(),
        }
    }
}

/// An authenticated inbound event-socket connection for one-off commands.
///
/// ```no_run
/// # async fn f() -> librevox::Result<()> {
/// use librevox::CommandSocket;
/// let socket = CommandSocket::connect("127.0.0.1:8021", "ClueCon").await?;
/// let status = socket.api("status").await?;
/// println!("{}", status.text());
/// let job = socket.bgapi("originate loopback/9664 &park()").await?;
/// println!("originate said: {}", job.output().await?);
/// socket.close().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct CommandSocket {
    conn: Connection,
    events: Option<EventStream>,
    /// Set once FreeSWITCH acknowledged the subscription `bgapi` needs.
    /// Concurrent first calls all wait on the one `event` command (a
    /// `bgapi` written before the acknowledgement could lose its job).
    jobs_subscribed: OnceCell<()>,
    /// The same for the completions and hangups `execute` needs.
    completions_subscribed: OnceCell<()>,
}

impl CommandSocket {
    /// Connects to `addr` (`host:port`) and authenticates with `auth
    /// <password>`. Fails with [`Error::Auth`] on a wrong password,
    /// [`Error::Rejected`] on an ACL rejection and [`Error::Timeout`] when
    /// FreeSWITCH stays silent.
    pub async fn connect(addr: &str, password: impl Into<Password>) -> Result<CommandSocket> {
        ConnectOptions::new(addr).password(password).connect().await
    }

    /// Connects with full options.
    pub async fn connect_with(options: ConnectOptions) -> Result<CommandSocket> {
        let deadline = options.connect_timeout;
        let addr = options.addr.clone();
        let work = async {
            let (conn, events) = connect_tcp(&addr, &options.config).await?;
            Self::handshake(conn, events, &options).await
        };
        match tokio::time::timeout(deadline, work).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout {
                what: "connecting and authenticating to FreeSWITCH",
                after: deadline,
            }),
        }
    }

    /// Authenticates over an already-open stream (a TCP socket, or an
    /// in-memory duplex to the simulator).
    pub async fn connect_io<T>(io: T, options: ConnectOptions) -> Result<CommandSocket>
    where
        T: AsyncRead + AsyncWrite + Send + 'static,
    {
        let deadline = options.connect_timeout;
        let (conn, events) = Connection::new(io, options.config.clone());
        match tokio::time::timeout(deadline, Self::handshake(conn, events, &options)).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout {
                what: "the auth/request greeting and authentication",
                after: deadline,
            }),
        }
    }

    async fn handshake(
        conn: Connection,
        mut events: EventStream,
        options: &ConnectOptions,
    ) -> Result<CommandSocket> {
        authenticate(&conn, &mut events, options.credentials()).await?;
        info!(addr = %options.addr, "authenticated to FreeSWITCH");
        let events = if options.keep_events {
            Some(events)
        } else {
            tokio::spawn(drain(events));
            None
        };
        Ok(CommandSocket {
            conn,
            events,
            jobs_subscribed: OnceCell::new(),
            completions_subscribed: OnceCell::new(),
        })
    }

    /// The underlying connection handle (clone it to share the socket).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The event stream, when the socket was opened with
    /// [`ConnectOptions::keep_events`]; `None` otherwise or if already taken.
    pub fn take_events(&mut self) -> Option<EventStream> {
        self.events.take()
    }

    /// Runs `api <command>`; `-ERR`/`-USAGE` bodies are
    /// [`Error::CommandFailed`].
    pub async fn api(&self, command: &str) -> Result<ApiResponse> {
        self.conn.api(command).await
    }

    /// Runs `bgapi <command>` and returns the job to await. Subscribes the
    /// socket to BACKGROUND_JOB (in its current format) the first time.
    pub async fn bgapi(&self, command: &str) -> Result<BackgroundJob> {
        self.subscribe_once(&self.jobs_subscribed, &["BACKGROUND_JOB"])
            .await?;
        self.conn.bgapi(command).await
    }

    /// Subscribes to `names` the first time `done` is consulted; every
    /// concurrent caller waits for that one acknowledgement. A failed
    /// subscription is not remembered: the next call tries again.
    async fn subscribe_once(&self, done: &OnceCell<()>, names: &[&str]) -> Result<()> {
        done.get_or_try_init(|| async {
            self.conn.subscribe(self.conn.format(), names).await?;
            Ok::<(), Error>(())
        })
        .await?;
        Ok(())
    }

    /// Sends any command and returns the reply as it came (`-ERR` too).
    pub async fn send(&self, command: &Command) -> Result<Reply> {
        self.conn.send(command).await
    }

    /// Sends a command answered by `command/reply`; `-ERR` is
    /// [`Error::CommandFailed`].
    pub async fn command(&self, command: &Command) -> Result<CommandReply> {
        self.conn.command(command).await
    }

    /// Runs application `app` with `arg` on channel `uuid` and waits for its
    /// CHANNEL_EXECUTE_COMPLETE, which it returns (sent with
    /// `event-lock: true`). To queue an application without waiting, use
    /// [`sendmsg`](Self::sendmsg).
    pub async fn application(&self, uuid: &str, app: &str, arg: &str) -> Result<Event> {
        self.execute(SendMsg::execute(app, arg).uuid(uuid)).await
    }

    /// Runs a `sendmsg` (which must name its channel with
    /// [`SendMsg::uuid`]) and waits for its completion; an `event-lock` the
    /// message leaves unset is turned on. Subscribes the socket to
    /// CHANNEL_EXECUTE_COMPLETE, CHANNEL_HANGUP and CHANNEL_HANGUP_COMPLETE
    /// (in its current format) the first time.
    pub async fn execute(&self, msg: SendMsg) -> Result<Event> {
        if msg.target().is_none() {
            return Err(Error::InvalidCommand(
                "a sendmsg on a command socket needs its channel: add `.uuid(<channel uuid>)`"
                    .into(),
            ));
        }
        let names = [
            "CHANNEL_EXECUTE_COMPLETE",
            "CHANNEL_HANGUP",
            "CHANNEL_HANGUP_COMPLETE",
        ];
        self.subscribe_once(&self.completions_subscribed, &names)
            .await?;
        self.conn.execute(msg).await
    }

    /// Sends a `sendmsg` and returns FreeSWITCH's `+OK` acknowledgement
    /// only: the message is queued on its channel (what the original's
    /// `CommandSocket#application` did). An `event-lock` the message leaves
    /// unset is turned on.
    pub async fn sendmsg(&self, msg: &SendMsg) -> Result<CommandReply> {
        self.conn.sendmsg(msg).await
    }

    /// A channel reached through this socket, for the `#[app]` helpers:
    /// `socket.channel(uuid).playback("welcome.wav").await?`.
    pub fn channel<'a>(&'a self, uuid: &'a str) -> Channel<'a> {
        Channel { socket: self, uuid }
    }

    /// Sends `exit` and waits for FreeSWITCH to close the connection.
    pub async fn close(self) -> Result<()> {
        self.conn.exit().await
    }
}

/// A channel driven through a [`CommandSocket`]: the target of application
/// helpers (it implements [`AppTarget`](crate::AppTarget)).
#[derive(Debug, Clone, Copy)]
pub struct Channel<'a> {
    socket: &'a CommandSocket,
    uuid: &'a str,
}

impl Channel<'_> {
    /// The channel's UUID.
    pub fn uuid(&self) -> &str {
        self.uuid
    }
}

impl AppTarget for Channel<'_> {
    fn run_app(
        &self,
        app: &str,
        arg: String,
    ) -> impl std::future::Future<Output = Result<Event>> + Send {
        let socket = self.socket;
        let uuid = self.uuid;
        let app = app.to_owned();
        async move { socket.application(uuid, &app, &arg).await }
    }
}

crate::target::api_target_by_methods!(CommandSocket);

async fn drain(mut events: EventStream) {
    let mut buf = Vec::with_capacity(64);
    while events.recv_many(&mut buf, 64).await > 0 {
        buf.clear();
    }
}
