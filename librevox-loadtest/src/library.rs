//! The library side of every workload, written the way a user writes it:
//! an `#[inbound]` listener with a hook and `on_event`, a `CommandSocket`
//! for `api`, an `#[outbound]` listener whose session runs applications.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use librevox::listener::{run_inbound, serve_outbound};
use librevox::{
    event, inbound, outbound, CommandSocket, Event, Inbound, InboundSettings, OutboundSettings,
    Session,
};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

// ----- inbound -----

/// What the inbound listener counts.
pub struct InboundState {
    /// Stop the clock at this many events.
    pub target: u64,
    /// Events handled (`on_event`).
    pub count: AtomicU64,
    /// CHANNEL_ANSWER hooks that read the caller's SIP user.
    pub answered: AtomicU64,
    /// Events that were not fully usable (a header missing).
    pub unusable: AtomicU64,
    /// When `count` reached `target`.
    pub end: OnceLock<Instant>,
    pub done: Notify,
    /// The connection (for the drop counter).
    pub ctx: OnceLock<Inbound>,
    /// Per-event work in the hook, to make a consumer slower than the
    /// socket (the slow-consumer checks).
    pub slow: Option<Duration>,
}

impl InboundState {
    pub fn new(target: u64, slow: Option<Duration>) -> Arc<InboundState> {
        Arc::new(InboundState {
            target,
            count: AtomicU64::new(0),
            answered: AtomicU64::new(0),
            unusable: AtomicU64::new(0),
            end: OnceLock::new(),
            done: Notify::new(),
            ctx: OnceLock::new(),
            slow,
        })
    }

    pub fn dropped(&self) -> u64 {
        self.ctx.get().map(|c| c.dropped_events()).unwrap_or(0)
    }
}

/// The inbound listener of the workload.
pub struct Counter {
    state: Arc<InboundState>,
}

#[inbound(events = [
    "CHANNEL_CREATE",
    "CHANNEL_ANSWER",
    "CHANNEL_EXECUTE",
    "CHANNEL_EXECUTE_COMPLETE",
    "CHANNEL_HANGUP",
    "HEARTBEAT"
])]
impl Counter {
    async fn connection_completed(&self, ctx: &Inbound) {
        let _ = self.state.ctx.set(ctx.clone());
    }

    async fn on_event(&self, event: &Event) {
        // Every event is whole: its name, its channel, its sequence number.
        let usable = event.name().is_some()
            && event.sequence().is_some()
            && (event.unique_id().is_some() || event.is("HEARTBEAT"));
        if !usable {
            self.state.unusable.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(pause) = self.state.slow {
            // A busy consumer (timer sleeps are too coarse for this).
            let t = Instant::now();
            while t.elapsed() < pause {
                std::hint::spin_loop();
            }
        }
        let n = self.state.count.fetch_add(1, Ordering::AcqRel) + 1;
        if n == self.state.target {
            let _ = self.state.end.set(Instant::now());
            self.state.done.notify_one();
        }
    }

    #[event(channel_answer)]
    async fn answered(&self, event: &Event) {
        // A variable near the end of the event, percent-decoded.
        if event.variable("sip_from_user") == Some("1000")
            && event.header("Caller-Callee-ID-Name") == Some("Outbound Call")
        {
            self.state.answered.fetch_add(1, Ordering::Relaxed);
        } else {
            self.state.unusable.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Runs the inbound listener against `addr` until `state.target` events were
/// handled (or `deadline` passes); returns whether the target was reached.
pub async fn inbound(
    addr: std::net::SocketAddr,
    state: Arc<InboundState>,
    configure: impl FnOnce(&mut InboundSettings),
    deadline: Duration,
) -> bool {
    let mut settings = InboundSettings::new(addr.to_string());
    settings.give_up_on_refusal = true;
    configure(&mut settings);
    let shutdown = CancellationToken::new();
    let listener = Arc::new(Counter {
        state: state.clone(),
    });
    let run = tokio::spawn(run_inbound(listener, settings, shutdown.clone()));
    let reached = tokio::time::timeout(deadline, async {
        loop {
            let notified = state.done.notified();
            let handled = state.count.load(Ordering::Acquire);
            if handled >= state.target || handled + state.dropped() >= state.target {
                return;
            }
            // Under the lossy policy the last events may be dropped: poll.
            let _ = tokio::time::timeout(Duration::from_millis(20), notified).await;
        }
    })
    .await
    .is_ok();
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), run).await;
    reached
}

// ----- api -----

/// Sequential `api status` over one `CommandSocket`: latencies.
pub async fn api_sequential(
    addr: std::net::SocketAddr,
    n: usize,
) -> librevox::Result<Vec<Duration>> {
    let socket = CommandSocket::connect(&addr.to_string(), "ClueCon").await?;
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = socket.api("status").await?;
        std::hint::black_box(r.body());
        lat.push(t.elapsed());
    }
    socket.close().await?;
    Ok(lat)
}

/// Pipelined `api status`: `window` tasks share one connection, each
/// sending its next command as soon as its reply came; returns the elapsed
/// time.
pub async fn api_pipelined(
    addr: std::net::SocketAddr,
    n: usize,
    window: usize,
) -> librevox::Result<Duration> {
    let socket = CommandSocket::connect(&addr.to_string(), "ClueCon").await?;
    let conn = socket.connection().clone();
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..window {
        let conn = conn.clone();
        let next = next.clone();
        tasks.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let r = conn.api("status").await?;
                std::hint::black_box(r.body());
            }
            Ok::<_, librevox::Error>(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.map_err(|e| librevox::Error::Protocol(e.to_string()))??;
    }
    let elapsed = start.elapsed();
    drop(conn);
    socket.close().await?;
    Ok(elapsed)
}

// ----- outbound -----

/// The applications every call runs, each awaiting its completion.
pub const APPS: &[(&str, &str)] = &[
    ("answer", ""),
    ("playback", "ivr/ivr-welcome_to_freeswitch.wav"),
    ("hangup", ""),
];

/// What the outbound listener counts.
#[derive(Default)]
pub struct OutboundStats {
    /// Sessions whose applications all completed.
    pub completed: AtomicUsize,
    /// Sessions that failed (an application or the setup).
    pub errors: AtomicUsize,
    /// Events handled by `on_event`.
    pub events: AtomicU64,
    /// CHANNEL_HANGUP hooks that saw a cause.
    pub hangups: AtomicU64,
    /// Round trip of each application: sendmsg to CHANNEL_EXECUTE_COMPLETE.
    pub app_latency: Mutex<Vec<Duration>>,
    /// Keep no latencies (the memory runs: 48 bytes per call would show as
    /// growth).
    pub no_latency: bool,
    /// The first error, for the report.
    pub first_error: OnceLock<String>,
}

/// The outbound listener of the workload: one value per call.
pub struct Call {
    stats: Arc<OutboundStats>,
}

impl Call {
    pub fn new(stats: Arc<OutboundStats>) -> Call {
        Call { stats }
    }

    async fn run(&self, session: &Session) -> librevox::Result<()> {
        let mut lat = [Duration::ZERO; 3];
        for (i, (app, arg)) in APPS.iter().enumerate() {
            let t = Instant::now();
            let done = session.application(app, arg).await?;
            lat[i] = t.elapsed();
            if done.application() != Some(*app) {
                return Err(librevox::Error::Protocol(format!(
                    "{app} completed as {:?}",
                    done.application()
                )));
            }
        }
        if !self.stats.no_latency {
            self.stats.app_latency.lock().unwrap().extend(lat);
        }
        Ok(())
    }

    /// `session_initiated` of both listeners: the applications, counted.
    async fn initiated(&self, session: &Session) -> librevox::Result<()> {
        let r = self.run(session).await;
        match &r {
            Ok(()) => {
                self.stats.completed.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                let _ = self.stats.first_error.set(e.to_string());
            }
        }
        r
    }
}

#[outbound]
impl Call {
    async fn session_initiated(&self, session: &Session) -> librevox::Result<()> {
        self.initiated(session).await
    }

    async fn on_event(&self, event: &Event) {
        if event.unique_id().is_some() {
            self.stats.events.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[event(channel_hangup)]
    async fn hangup(&self, event: &Event) {
        if event.hangup_cause().is_some() {
            self.stats.hangups.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The same calls with only the CHANNEL_HANGUP hook (no `on_event`): the
/// events no hook wants are not parsed.
pub struct HangupOnly(Call);

#[outbound]
impl HangupOnly {
    async fn session_initiated(&self, session: &Session) -> librevox::Result<()> {
        self.0.initiated(session).await
    }

    #[event(channel_hangup)]
    async fn hangup(&self, event: &Event) {
        if event.hangup_cause().is_some() {
            self.0.stats.hangups.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Serves the outbound listener on `listener` until `shutdown`
/// ([`HangupOnly`] instead of [`Call`] with `hangup_only`).
pub async fn outbound_server(
    listener: TcpListener,
    stats: Arc<OutboundStats>,
    shutdown: CancellationToken,
    hangup_only: bool,
) -> librevox::Result<()> {
    let addr = listener.local_addr()?;
    let mut settings = OutboundSettings::new(addr.to_string());
    settings.shutdown_grace = Duration::from_secs(5);
    if hangup_only {
        serve_outbound(
            listener,
            move || HangupOnly(Call::new(stats.clone())),
            settings,
            shutdown,
        )
        .await
    } else {
        serve_outbound(
            listener,
            move || Call::new(stats.clone()),
            settings,
            shutdown,
        )
        .await
    }
}
