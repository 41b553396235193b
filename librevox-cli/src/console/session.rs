//! The console's connection: kept up across switch restarts, with the log
//! level, event subscriptions and filters the user chose restored after
//! each reconnect; and the execution of one console line.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use librevox::listener::{Backoff, Reconnect};
use librevox::protocol::{Command, Event, LogData, Message};
use librevox::{Connection, Error, EventFormat};
use tokio_util::sync::CancellationToken;

use super::line::{Line, HELP};
use super::output::Output;
use crate::conn::Target;
use crate::style::{self, paint};

/// Where the connection stands, for the prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum State {
    Connected,
    Reconnecting { attempt: u32, reason: String },
}

/// What the user asked the switch to stream; re-sent after a reconnect.
#[derive(Debug, Default, Clone)]
struct Wanted {
    log: Option<String>,
    /// Event names as typed (`ALL`, `CHANNEL_CREATE`, `CUSTOM`, `a::b`).
    events: Vec<String>,
    filters: Vec<(String, String)>,
    /// Only log lines of this channel.
    uuid: Option<String>,
}

impl Wanted {
    fn shows(&self, e: &Event) -> bool {
        let all = self.events.iter().any(|n| n.eq_ignore_ascii_case("ALL"));
        let name = e.name().unwrap_or("");
        all || self.events.iter().any(|n| n.eq_ignore_ascii_case(name))
            || (name == "CUSTOM"
                && e.subclass()
                    .is_some_and(|s| self.events.iter().any(|n| n == s)))
    }
}

/// How a line went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    Failed,
    Exit,
    Interrupted,
}

/// One console's connection and choices.
pub(crate) struct Session {
    pub(crate) target: Target,
    pub(crate) out: Output,
    pub(crate) colors: bool,
    conn: Mutex<Option<Connection>>,
    state: Mutex<State>,
    wanted: Mutex<Wanted>,
    /// In `-x` mode a `/bgapi` waits for its job before the next line.
    wait_jobs: bool,
    stop: CancellationToken,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Reconnect delays: quick at first, at most 5 s, so the console is back
/// soon after the switch is. As for the listeners, a connection lost before
/// it stayed up `healthy_after` (30 s) is one more failed attempt, so a
/// switch that drops every session right after the login is re-dialled ever
/// more slowly, not five times a second.
const BACKOFF: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));

impl Session {
    pub(crate) fn new(target: Target, out: Output, colors: bool, wait_jobs: bool) -> Arc<Session> {
        Arc::new(Session {
            target,
            out,
            colors,
            conn: Mutex::new(None),
            state: Mutex::new(State::Connected),
            wanted: Mutex::new(Wanted::default()),
            wait_jobs,
            stop: CancellationToken::new(),
        })
    }

    pub(crate) fn state(&self) -> State {
        lock(&self.state).clone()
    }

    pub(crate) fn connection(&self) -> Option<Connection> {
        lock(&self.conn).clone()
    }

    /// Connects once; `Err` names the address. On success the connection
    /// is kept, its events are printed, and it is re-established whenever
    /// it drops, until [`shutdown`](Session::shutdown).
    pub(crate) async fn start(self: &Arc<Session>) -> Result<(), String> {
        let (conn, events) = self
            .open()
            .await
            .map_err(|e| self.target.connect_error(&e))?;
        self.install(conn);
        let me = self.clone();
        tokio::spawn(async move { me.keep_up(events).await });
        Ok(())
    }

    /// Stops reconnecting and closes the connection (briefly waiting for
    /// FreeSWITCH to acknowledge `exit`).
    pub(crate) async fn shutdown(&self) {
        self.stop.cancel();
        let conn = lock(&self.conn).take();
        if let Some(c) = conn {
            let _ = tokio::time::timeout(Duration::from_secs(2), c.exit()).await;
        }
    }

    async fn open(&self) -> librevox::Result<(Connection, librevox::connection::EventStream)> {
        let mut socket = self.target.options().keep_events(true).connect().await?;
        let events = socket
            .take_events()
            .ok_or_else(|| Error::Protocol("the event stream was not kept".into()))?;
        let conn = socket.connection().clone();
        // Jobs resolve from BACKGROUND_JOB; the user's choices come back.
        let wanted = lock(&self.wanted).clone();
        let mut names = vec!["BACKGROUND_JOB".to_owned()];
        names.extend(wanted.events.iter().cloned());
        conn.command(&Command::event(
            EventFormat::Plain,
            &crate::events::subscription_names(&names),
        ))
        .await?;
        for (h, v) in &wanted.filters {
            conn.command(&Command::filter(h, v)).await?;
        }
        if let Some(level) = &wanted.log {
            conn.command(&Command::raw(format!("log {level}"))).await?;
        }
        // Dropping the socket drops one handle; the clone keeps the
        // connection open.
        drop(socket);
        Ok((conn, events))
    }

    fn install(&self, conn: Connection) {
        *lock(&self.conn) = Some(conn);
        *lock(&self.state) = State::Connected;
    }

    async fn keep_up(self: Arc<Session>, mut events: librevox::connection::EventStream) {
        let mut retry = Reconnect::new(BACKOFF);
        retry.connected();
        loop {
            let reason = tokio::select! {
                _ = self.stop.cancelled() => return,
                reason = self.pump(&mut events) => reason,
            };
            *lock(&self.conn) = None;
            // The prompt counts the attempts of this outage; the delays
            // count every failure since the last healthy connection.
            let mut attempt = 0u32;
            self.set_reconnecting(attempt, &reason);
            self.out.line(paint(
                self.colors,
                style::error(),
                &format!(
                    "librevox: lost {}: {reason}; reconnecting",
                    self.target.label()
                ),
            ));
            events = loop {
                tokio::select! {
                    _ = self.stop.cancelled() => return,
                    _ = tokio::time::sleep(retry.next_delay()) => {}
                }
                match self.open().await {
                    Ok((conn, ev)) => {
                        self.install(conn);
                        retry.connected();
                        self.out.line(paint(
                            self.colors,
                            style::notice(),
                            &format!(
                                "librevox: reconnected to {}; what it logged or fired meanwhile was not seen",
                                self.target.label()
                            ),
                        ));
                        break ev;
                    }
                    Err(e) => {
                        attempt = attempt.saturating_add(1);
                        self.set_reconnecting(attempt, &self.target.connect_error(&e));
                    }
                }
            };
        }
    }

    fn set_reconnecting(&self, attempt: u32, reason: &str) {
        *lock(&self.state) = State::Reconnecting {
            attempt,
            reason: reason.to_owned(),
        };
    }

    /// Prints what the switch streams until the connection ends; returns why.
    async fn pump(&self, events: &mut librevox::connection::EventStream) -> String {
        while let Some(msg) = events.recv().await {
            match msg {
                Message::Log(l) => self.print_log(&l),
                Message::Event(e) if lock(&self.wanted).shows(&e) => {
                    self.out.line(crate::events::text_line(&e, self.colors));
                }
                _ => {}
            }
        }
        match self.connection() {
            Some(c) if c.is_closed() => c.closed().await.to_string(),
            _ => "connection closed".to_owned(),
        }
    }

    fn print_log(&self, l: &LogData) {
        let wanted = lock(&self.wanted);
        if wanted.log.is_none() {
            return;
        }
        if let Some(u) = &wanted.uuid {
            if l.user_data.as_deref() != Some(u.as_str()) {
                return;
            }
        }
        drop(wanted);
        let text = l.text.trim_end_matches('\n');
        self.out
            .line(paint(self.colors, style::log_level(l.level), text));
    }

    /// Runs one console line. `print` writes data lines, `eprint` errors.
    pub(crate) async fn run_line(self: &Arc<Session>, line: &str) -> Outcome {
        let parsed = match Line::parse(line) {
            Ok(l) => l,
            Err(msg) => {
                self.error(&msg);
                return Outcome::Failed;
            }
        };
        let work = self.execute(parsed);
        tokio::select! {
            outcome = work => outcome,
            _ = tokio::signal::ctrl_c() => {
                self.error("interrupted (the command may still run on the switch)");
                Outcome::Interrupted
            }
        }
    }

    fn data(&self, text: &str) {
        crate::print_body(text);
    }

    fn error(&self, text: &str) {
        eprintln!("{}", paint(self.colors, style::error(), text));
    }

    fn reply(&self, text: &str) {
        println!("{}", paint(self.colors, style::notice(), text));
    }

    fn live(&self) -> Result<Connection, String> {
        match (self.connection(), self.state()) {
            (Some(c), _) => Ok(c),
            (None, State::Reconnecting { attempt, reason }) => Err(format!(
                "not connected: reconnecting to {} (attempt {}; {reason})",
                self.target.label(),
                attempt + 1
            )),
            (None, State::Connected) => Err(format!("not connected to {}", self.target.label())),
        }
    }

    /// Sends a `command/reply` command and prints FreeSWITCH's reply.
    async fn simple(&self, conn: &Connection, cmd: Command) -> Outcome {
        match conn.command(&cmd).await {
            Ok(r) => {
                self.reply(r.text());
                Outcome::Ok
            }
            Err(e) => {
                self.error(&failure(&e));
                Outcome::Failed
            }
        }
    }

    async fn execute(self: &Arc<Session>, line: Line) -> Outcome {
        let conn = match &line {
            Line::Empty => return Outcome::Ok,
            Line::Exit => return Outcome::Exit,
            Line::Help => {
                println!("{HELP}");
                return Outcome::Ok;
            }
            Line::ShowFilters => {
                let filters = lock(&self.wanted).filters.clone();
                if filters.is_empty() {
                    println!("no filters");
                }
                for (h, v) in filters {
                    println!("{h} {v}");
                }
                return Outcome::Ok;
            }
            Line::Uuid(u) => {
                let mut w = lock(&self.wanted);
                w.uuid = u.clone();
                match u {
                    Some(u) => self.reply(&format!("log lines of {u} only")),
                    None => self.reply("log lines of every channel"),
                }
                return Outcome::Ok;
            }
            _ => match self.live() {
                Ok(c) => c,
                Err(msg) => {
                    self.error(&msg);
                    return Outcome::Failed;
                }
            },
        };
        match line {
            Line::Api(cmd) => match conn.api(&cmd).await {
                Ok(r) => {
                    self.data(&r.text());
                    Outcome::Ok
                }
                Err(e) => {
                    self.error(&failure(&e));
                    Outcome::Failed
                }
            },
            Line::Bgapi(cmd) => self.bgapi(&conn, &cmd).await,
            Line::Log(level) => {
                let outcome = self
                    .simple(&conn, Command::raw(format!("log {level}")))
                    .await;
                if outcome == Outcome::Ok {
                    lock(&self.wanted).log = Some(level);
                }
                outcome
            }
            Line::NoLog => {
                lock(&self.wanted).log = None;
                self.simple(&conn, Command::nolog()).await
            }
            Line::Event(names) => {
                let outcome = self
                    .simple(
                        &conn,
                        Command::event(
                            EventFormat::Plain,
                            &crate::events::subscription_names(&names),
                        ),
                    )
                    .await;
                if outcome == Outcome::Ok {
                    let mut w = lock(&self.wanted);
                    for n in names {
                        if !w.events.contains(&n) {
                            w.events.push(n);
                        }
                    }
                }
                outcome
            }
            Line::NixEvent(names) => {
                let outcome = self
                    .simple(
                        &conn,
                        Command::nixevent(&crate::events::subscription_names(&names)),
                    )
                    .await;
                lock(&self.wanted)
                    .events
                    .retain(|n| !names.iter().any(|x| x.eq_ignore_ascii_case(n)));
                self.keep_jobs(&conn).await;
                outcome
            }
            Line::NoEvents => {
                lock(&self.wanted).events.clear();
                let outcome = self.simple(&conn, Command::noevents()).await;
                self.keep_jobs(&conn).await;
                outcome
            }
            Line::Filter(h, v) => {
                let outcome = self.simple(&conn, Command::filter(&h, &v)).await;
                if outcome == Outcome::Ok {
                    lock(&self.wanted).filters.push((h, v));
                }
                outcome
            }
            Line::FilterDelete(h, v) => {
                let outcome = self
                    .simple(&conn, Command::filter_delete(&h, v.as_deref()))
                    .await;
                lock(&self.wanted)
                    .filters
                    .retain(|(fh, fv)| !(fh == &h && v.as_ref().is_none_or(|v| v == fv)));
                outcome
            }
            Line::Empty | Line::Exit | Line::Help | Line::ShowFilters | Line::Uuid(_) => {
                Outcome::Ok
            }
        }
    }

    /// `noevents` and `nixevent` also drop BACKGROUND_JOB, which jobs need.
    async fn keep_jobs(&self, conn: &Connection) {
        if let Err(e) = conn
            .command(&Command::raw("event plain BACKGROUND_JOB"))
            .await
        {
            self.error(&format!(
                "cannot keep following background jobs: {}",
                failure(&e)
            ));
        }
    }

    async fn bgapi(self: &Arc<Session>, conn: &Connection, cmd: &str) -> Outcome {
        let job = match conn.bgapi(cmd).await {
            Ok(j) => j,
            Err(e) => {
                self.error(&failure(&e));
                return Outcome::Failed;
            }
        };
        let uuid = job.uuid().to_owned();
        if self.wait_jobs {
            eprintln!("job {uuid}");
            return match job.output().await {
                Ok(text) => {
                    self.data(&text);
                    Outcome::Ok
                }
                Err(e) => {
                    self.error(&failure(&e));
                    Outcome::Failed
                }
            };
        }
        self.reply(&format!("Job-UUID: {uuid}"));
        let me = self.clone();
        tokio::spawn(async move {
            let text = match job.output().await {
                Ok(text) => format!(
                    "{}\n{}",
                    paint(me.colors, style::notice(), &format!("job {uuid} done:")),
                    text.trim_end_matches('\n')
                ),
                Err(e) => paint(
                    me.colors,
                    style::error(),
                    &format!("job {uuid} failed: {}", failure(&e)),
                ),
            };
            me.out.line(text);
        });
        Outcome::Ok
    }
}

/// An error as the console shows it: FreeSWITCH's own text for a refusal.
pub(crate) fn failure(e: &Error) -> String {
    match e {
        Error::CommandFailed { reply, .. } => reply.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use librevox::simulator::{Direction, Fault, FaultProxy, Rule, Simulator, SimulatorConfig};
    use tokio::time::Instant;

    /// Every wait in these tests gives up after this (virtual) time.
    const WAIT: Duration = Duration::from_secs(120);

    fn target(addr: std::net::SocketAddr) -> Target {
        Target {
            host: addr.ip().to_string(),
            port: addr.port(),
            password: "ClueCon".into(),
            user: None,
            timeout: Duration::from_secs(10),
            job_timeout: Duration::from_secs(120),
            profile: None,
        }
    }

    /// When the proxy accepted its `n`th connection (counting from 1). On
    /// the paused clock no time passes between the accept and the wake-up.
    async fn accepted(proxy: &FaultProxy, n: u64) -> Instant {
        proxy
            .wait_for(WAIT, |s| s.accepted >= n)
            .await
            .unwrap_or_else(|e| panic!("connection {n} was not made: {e}"));
        Instant::now()
    }

    #[tokio::test(start_paused = true)]
    async fn sessions_dropped_right_after_the_login_are_redialled_ever_more_slowly() {
        const CUTS: u64 = 6;
        let sim = Simulator::start(SimulatorConfig::deterministic(31))
            .await
            .unwrap();
        let proxy = FaultProxy::start(sim.local_addr().unwrap()).await.unwrap();
        // Every session dies right after the reply to its subscription:
        // login and `event` succeed, then the switch is gone.
        let cut = proxy.add(
            Rule::new(Fault::Close)
                .direction(Direction::ServerToClient)
                .after_pattern("+OK event listener enabled plain\n\n", 0),
        );
        let session = Session::new(target(proxy.addr()), Output::new(), false, false);
        session.start().await.unwrap();
        let mut up = vec![accepted(&proxy, 1).await];
        for n in 2..=CUTS {
            up.push(accepted(&proxy, n).await);
        }
        proxy.wait_fired(cut, CUTS, WAIT).await.unwrap();
        // The next session stays up.
        proxy.remove(cut);
        up.push(accepted(&proxy, CUTS + 1).await);
        let slack = Duration::from_millis(2);
        // Each loss of a session younger than `healthy_after` is one more
        // failed attempt: the delays double up to the cap, each jittered
        // into [base/2, base]. (Resetting on every login kept them all in
        // [100, 200] ms.)
        for (k, pair) in up.windows(2).enumerate() {
            let gap = pair[1] - pair[0];
            let base = (BACKOFF.initial * 2u32.pow(k as u32)).min(BACKOFF.max);
            assert!(
                gap + slack >= base / 2 && gap <= base + slack,
                "delay {k}: {gap:?} not in [{:?}, {base:?}]",
                base / 2
            );
        }
        // A session that stayed up `healthy_after` resets the delays: its
        // loss is retried after the initial delay again. (The handshake
        // takes no virtual time; the second more is a margin.)
        tokio::time::sleep(BACKOFF.healthy_after + Duration::from_secs(1)).await;
        assert_eq!(proxy.stats().accepted, CUTS + 1, "no reconnection while up");
        let lost_at = Instant::now();
        proxy.close_all();
        let gap = accepted(&proxy, CUTS + 2).await - lost_at;
        assert!(
            gap + slack >= BACKOFF.initial / 2 && gap <= BACKOFF.initial + slack,
            "after a healthy session: {gap:?} not in [{:?}, {:?}]",
            BACKOFF.initial / 2,
            BACKOFF.initial
        );
        session.shutdown().await;
    }
}
