//! The task that reads a socket.
//!
//! One loop polls, together: wake-ups from handles (bytes they left to
//! write, registrations, the last handle gone), writing buffered bytes,
//! reading the socket, room in the event channel, and hangup deadlines.
//! Reads and writes are polled side by side so that a large write can never
//! deadlock against a peer that is itself blocked writing to us. Callers
//! queue their promises and write their commands themselves
//! (`Outbox`, in `outbox.rs`); the driver reads and resolves.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::codec::Decoder;
use tracing::{debug, info, trace, warn};

use super::outbox::{Outbox, Pending, Registration};
use super::{AppWait, ConnectionConfig, Incoming, Latch, Liveness, OverflowPolicy, Reply};
use crate::error::{Error, Result};
use crate::protocol::{EslCodec, Event, Frame, HangupCause, Message};

/// Read buffer sizes: a connection starts small (an idle outbound call
/// holds little) and doubles its reads while they come back full (an
/// inbound socket under load reads in large chunks).
const MIN_READ_CHUNK: usize = 4 * 1024;
/// The buffer a connection keeps once it has been idle for
/// [`IDLE_SHRINK_AFTER`] with everything read consumed: a parked call holds
/// only this much, not the allocation its last burst grew.
const IDLE_READ_BUF: usize = 1024;
/// How long a connection waits, idle, before it trades its read buffer for
/// [`IDLE_READ_BUF`]. Busy sockets never wait that long and keep theirs.
const IDLE_SHRINK_AFTER: Duration = Duration::from_millis(25);
const MAX_READ_CHUNK: usize = 256 * 1024;

enum Step {
    Notified,
    Wrote(std::io::Result<()>),
    Read(std::io::Result<usize>),
    EventsGone,
    HangupGrace,
    ExitDeadline,
    ShrinkIdle,
    Liveness,
    Nothing,
}

/// How many ended channels a connection remembers.
const ENDED_MEMORY: usize = 4096;

/// A channel that hung up and whose CHANNEL_HANGUP_COMPLETE has not come.
///
/// An inbound socket sees every hangup of the switch, and a subscription
/// without CHANNEL_HANGUP_COMPLETE (or a sync socket) keeps each entry for
/// the whole grace: so the event itself is kept only when a wait needs it,
/// and the memory an entry holds does not depend on the event's size
/// (keeping every CHANNEL_HANGUP, 3-4 KB each, for the 2 s grace held
/// 300-600 MB at 36k hangups a second in the inbound soak).
struct Hangup {
    /// When the grace ends.
    at: Instant,
    /// From its CHANNEL_HANGUP (none when only a linger notice said so yet).
    cause: Option<HangupCause>,
    /// Its CHANNEL_HANGUP, kept only when an application that ends the call
    /// (`hangup`) was waiting on the channel when it came: the grace's end
    /// resolves that wait with it.
    event: Option<Event>,
}

struct AppEntry {
    channel: Option<String>,
    /// The application ends the call (`hangup`): the hangup completes it.
    ends_call: bool,
    tx: oneshot::Sender<Result<Event>>,
}

pub(crate) struct Driver<T> {
    reader: ReadHalf<T>,
    /// The write side and the promise queue, shared with the handles.
    outbox: Arc<Outbox>,
    /// Replies awaited when the driver last looked at `outbox` (it looks
    /// before every wait and after every reply).
    awaited: usize,
    codec: EslCodec,
    rbuf: BytesMut,
    /// The next read's size (adaptive, see `MIN_READ_CHUNK`).
    read_chunk: usize,
    /// True when `rbuf` may hold an allocation larger than the idle one.
    rbuf_grown: bool,
    handles_alive: bool,
    jobs: HashMap<String, oneshot::Sender<Result<Event>>>,
    apps: HashMap<String, AppEntry>,
    /// Channels seen hanging up: when their grace ends, their cause, and
    /// their CHANNEL_HANGUP while an application that ends the call waits
    /// on the channel (the only wait that resolves with it).
    hangups: HashMap<String, Hangup>,
    /// The grace deadlines of `hangups` in the order they end (each is "now
    /// plus the grace", so pushing keeps the order). An entry whose channel
    /// is gone or has a later deadline is stale and skipped. This keeps the
    /// loop's "next deadline" O(1): an inbound socket sees every hangup.
    hangup_order: VecDeque<(Instant, String)>,
    /// Channels known to be gone (CHANNEL_HANGUP_COMPLETE seen, or their
    /// hangup grace over), newest last, at most `ENDED_MEMORY`: an
    /// application sent to one of them fails at once instead of waiting for
    /// a completion that FreeSWITCH will never send.
    ended: HashMap<String, Option<HangupCause>>,
    ended_order: VecDeque<String>,
    events: mpsc::Sender<Incoming>,
    /// Events waiting for room in `events` (backpressure policy only).
    parked: VecDeque<Incoming>,
    park_limit: usize,
    overflow: OverflowPolicy,
    hangup_grace: Duration,
    dropped: Arc<AtomicU64>,
    /// `librevox_events_dropped_total` for this policy, from the first drop.
    dropped_metric: Option<metrics::Counter>,
    /// This connection's share of `librevox_event_backlog`.
    backlog: Arc<crate::telemetry::Backlog>,
    closed: Arc<Latch<Error>>,
    exit_deadline: Option<Instant>,
    /// Who is at the other end, for errors.
    peer: String,
    liveness: Option<Liveness>,
    /// When the last bytes arrived.
    last_read: Instant,
    /// When the outstanding liveness probe was sent, if one is.
    probe_sent: Option<Instant>,
    /// The liveness check's next deadline. Reads only note the time; the
    /// timer is moved when it fires, so a busy socket pays no timer work.
    liveness_timer: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl<T> Drop for Driver<T> {
    fn drop(&mut self) {
        // However the task ended (even aborted or panicking), handles
        // waiting for the end learn of it. A reason set before stays.
        self.closed.set(Error::closed("connection task ended"));
        if let Some(reason) = self.closed.get() {
            // Aborted (or panicked) before `run` closed it: awaited replies
            // fail now, not at their timeout, and the socket is dropped.
            drop(self.outbox.close(reason));
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Send + 'static> Driver<T> {
    pub(crate) fn new(
        reader: ReadHalf<T>,
        outbox: Arc<Outbox>,
        events: mpsc::Sender<Incoming>,
        closed: Arc<Latch<Error>>,
        dropped: Arc<AtomicU64>,
        config: &ConnectionConfig,
    ) -> Self {
        let now = Instant::now();
        let first_check = now + config.liveness.map_or(Duration::ZERO, |l| l.interval);
        Driver {
            reader,
            outbox,
            awaited: 0,
            codec: EslCodec::new(config.limits),
            rbuf: BytesMut::new(),
            read_chunk: MIN_READ_CHUNK,
            rbuf_grown: true,
            handles_alive: true,
            jobs: HashMap::new(),
            apps: HashMap::new(),
            hangups: HashMap::new(),
            hangup_order: VecDeque::new(),
            ended: HashMap::new(),
            ended_order: VecDeque::new(),
            events,
            parked: VecDeque::new(),
            park_limit: config.max_backlog.max(1),
            overflow: config.overflow,
            hangup_grace: config.hangup_grace,
            dropped,
            dropped_metric: None,
            backlog: Arc::new(crate::telemetry::Backlog::new()),
            closed,
            exit_deadline: None,
            peer: String::from("the peer"),
            liveness: config.liveness,
            last_read: now,
            probe_sent: None,
            liveness_timer: Box::pin(tokio::time::sleep_until(first_check)),
        }
    }

    /// This connection's share of `librevox_event_backlog`, for its event
    /// stream to report what it takes.
    pub(crate) fn backlog(&self) -> Arc<crate::telemetry::Backlog> {
        self.backlog.clone()
    }

    /// Names the peer (its address) in errors.
    pub(crate) fn named(mut self, peer: String) -> Self {
        self.peer = peer;
        self
    }

    pub(crate) async fn run(mut self) {
        let reason = match self.run_loop().await {
            Ok(reason) => reason,
            Err(err) => {
                warn!(error = %err, "ESL connection failed");
                err
            }
        };
        info!(reason = %reason, "ESL connection closed");
        // Publish the reason first, so that a caller woken by a dropped
        // promise reads it rather than a generic message.
        self.closed.set(reason.clone());
        let writer = self.outbox.close(&reason);
        self.fail_all(&reason);
        let lost = self.parked.len();
        if lost > 0 {
            warn!(
                lost,
                "events read but never delivered: the event stream was full when the connection closed"
            );
            crate::telemetry::events_dropped(self.overflow, lost as u64);
        }
        if let Some(mut writer) = writer {
            let _ = writer.shutdown().await;
        }
    }

    /// True while someone waits for something only the socket can bring.
    /// A caller may have queued a command since the driver last looked (it
    /// wakes the driver only when the driver does not read): so before
    /// answering "nothing", look again.
    fn awaiting_socket(&mut self) -> bool {
        if self.awaited == 0 && self.jobs.is_empty() && self.apps.is_empty() {
            self.awaited = self.outbox.lock().pending.len();
        }
        self.awaited > 0 || !self.jobs.is_empty() || !self.apps.is_empty()
    }

    /// Read while nothing is parked, or while a reply, job or completion is
    /// awaited: the awaited frame may be behind the parked events.
    fn may_read(&mut self) -> bool {
        self.parked.is_empty() || self.awaiting_socket()
    }

    async fn run_loop(&mut self) -> Result<Error> {
        loop {
            // Registered before their commands were written: taken before
            // anything read after those writes is routed.
            self.take_registrations();
            // Route every complete frame already buffered.
            while self.may_read() {
                match self.codec.decode(&mut self.rbuf)? {
                    Some(frame) => {
                        trace!(
                            content_type = frame.content_type().unwrap_or(""),
                            body_len = frame.body().len(),
                            "received frame"
                        );
                        if let Some(frame) = self.pass_through(frame) {
                            let msg = Message::from_frame(frame)?;
                            if let Some(reason) = self.route(msg) {
                                return Ok(reason);
                            }
                        }
                    }
                    None => break,
                }
            }
            self.flush_parked();
            self.backlog
                .report(self.events.max_capacity() - self.events.capacity() + self.parked.len());
            if self.parked.len() > self.park_limit {
                return Err(Error::EventBacklog {
                    limit: self.park_limit,
                });
            }
            let write_due = {
                let mut st = self.outbox.lock();
                self.awaited = st.pending.len();
                if st.handles_gone && self.handles_alive {
                    // Every handle is gone: say goodbye, then wait for the close.
                    debug!("last connection handle dropped; sending exit");
                    self.handles_alive = false;
                    // Expect the `+OK bye` like any reply, so it is not taken
                    // for a stray one.
                    let (tx, _) = oneshot::channel();
                    st.push_internal(b"exit\n\n", pending(tx, "exit".into(), "exit"));
                    self.awaited = st.pending.len();
                    self.exit_deadline = Some(Instant::now() + Duration::from_secs(5));
                }
                // A caller that queues a command while we do not read wakes us.
                // (`awaited` is fresh here: computed under this lock.)
                st.driver_reading = self.parked.is_empty()
                    || self.awaited > 0
                    || !self.jobs.is_empty()
                    || !self.apps.is_empty();
                st.write_due()
            };
            let next_hangup = self.next_hangup();
            let exit_deadline = self.exit_deadline;
            let may_read = self.may_read();
            // Everything read was consumed and no reply is due: the
            // connection may idle for long (a parked call). If it does, it
            // gives up the allocation its last burst grew (frames split off
            // the buffer share it) for a small one; a socket that stays busy
            // keeps its buffer and reads as before.
            let idle = self.rbuf.is_empty() && self.awaited == 0;
            let shrink_at = (idle && self.rbuf_grown).then(|| Instant::now() + IDLE_SHRINK_AFTER);
            let room = self.rbuf.capacity() - self.rbuf.len();
            if idle && !self.rbuf_grown {
                if room < IDLE_READ_BUF / 4 {
                    // Reclaims the small buffer in place once no frame holds it.
                    self.rbuf.reserve(IDLE_READ_BUF);
                }
            } else if may_read && room < self.read_chunk / 4 {
                // Only when a read is polled: while events are parked the
                // buffer holds unconsumed frames, which making room would
                // move to a fresh allocation on every pass (callgrind: 1.6k
                // instructions per event under backpressure).
                self.make_read_room();
                self.rbuf_grown = true;
            }
            let spare = self.rbuf.capacity() - self.rbuf.len();
            let probing = self.liveness.is_some() && self.handles_alive;
            let outbox = self.outbox.clone();
            let step = tokio::select! {
                _ = outbox.driver.notified() => Step::Notified,
                res = std::future::poll_fn(|cx| outbox.poll_write_out(cx)), if write_due => Step::Wrote(res),
                res = self.reader.read_buf(&mut self.rbuf), if may_read => Step::Read(res),
                permit = self.events.reserve(), if !self.parked.is_empty() => match permit {
                    Ok(permit) => {
                        if let Some(msg) = self.parked.pop_front() {
                            permit.send(msg);
                        }
                        Step::Nothing
                    }
                    Err(_) => Step::EventsGone,
                },
                _ = sleep_until_opt(next_hangup), if next_hangup.is_some() => Step::HangupGrace,
                _ = sleep_until_opt(exit_deadline), if exit_deadline.is_some() => Step::ExitDeadline,
                _ = sleep_until_opt(shrink_at), if shrink_at.is_some() => Step::ShrinkIdle,
                _ = self.liveness_timer.as_mut(), if probing => Step::Liveness,
            };
            match step {
                Step::Notified => {}
                Step::Wrote(res) => {
                    if let Err(e) = res {
                        if e.kind() == std::io::ErrorKind::WriteZero {
                            return Ok(Error::closed("the socket refused further writes"));
                        }
                        return Err(e.into());
                    }
                }
                Step::Read(res) => {
                    let n = res?;
                    if n > 0 && self.liveness.is_some() {
                        self.last_read = Instant::now();
                        self.probe_sent = None;
                    }
                    // Only a read that filled a buffer of about the current
                    // size says reads should grow: the small buffer an idle
                    // connection waits with fills on every burst.
                    if n == spare && spare >= self.read_chunk / 2 {
                        self.read_chunk = (self.read_chunk * 2).min(MAX_READ_CHUNK);
                    } else if n < self.read_chunk / 8 {
                        self.read_chunk = (self.read_chunk / 2).max(MIN_READ_CHUNK);
                    }
                    if n == 0 {
                        let eof = Error::closed("FreeSWITCH closed the connection");
                        return match self.codec.decode_eof(&mut self.rbuf)? {
                            Some(frame) => {
                                let msg = Message::from_frame(frame)?;
                                Ok(self.route(msg).unwrap_or(eof))
                            }
                            None => Ok(eof),
                        };
                    }
                }
                Step::EventsGone => self.parked.clear(),
                Step::HangupGrace => self.expire_hangups(),
                Step::ExitDeadline => {
                    return Ok(Error::closed("closed after the last handle was dropped"));
                }
                Step::ShrinkIdle => {
                    self.rbuf = BytesMut::with_capacity(IDLE_READ_BUF);
                    self.rbuf_grown = false;
                }
                Step::Liveness => {
                    if let Some(reason) = self.check_liveness() {
                        return Err(reason);
                    }
                }
                Step::Nothing => {}
            }
        }
    }

    /// Makes room for the next read: the current read size, or the rest of
    /// the frame being received if that is larger (capped at
    /// `MAX_READ_CHUNK`: nothing is reserved in proportion to a length the
    /// peer claims). The buffer is reused in place when no frame split off
    /// it is alive any more; otherwise the unconsumed tail (part of one
    /// frame) moves to a fresh allocation. `BytesMut::reserve` would instead
    /// grow the old allocation, copying everything already consumed in front
    /// of the tail too (a whole read's worth, per read: issue 18).
    fn make_read_room(&mut self) {
        let missing = self.codec.body_missing(self.rbuf.len()).min(MAX_READ_CHUNK);
        let want = self.read_chunk.max(missing);
        if !self.rbuf.try_reclaim(want) {
            let mut fresh = BytesMut::with_capacity(self.rbuf.len() + want);
            fresh.extend_from_slice(&self.rbuf);
            self.rbuf = fresh;
        }
    }

    /// The liveness timer fired: send a probe after `interval` of silence,
    /// give up `timeout` after an unanswered one, or re-arm the timer.
    fn check_liveness(&mut self) -> Option<Error> {
        let live = self.liveness?;
        let now = Instant::now();
        if let Some(sent) = self.probe_sent {
            if now >= sent + live.timeout {
                let silent_for = now - self.last_read;
                warn!(
                    peer = %self.peer,
                    silent_ms = silent_for.as_millis() as u64,
                    "no answer to the liveness probe; closing the connection"
                );
                crate::telemetry::liveness_failure();
                return Some(Error::Unresponsive {
                    peer: self.peer.clone(),
                    silent_for,
                });
            }
            self.liveness_timer.as_mut().reset(sent + live.timeout);
        } else if now >= self.last_read + live.interval {
            debug!(
                peer = %self.peer,
                silent_ms = (now - self.last_read).as_millis() as u64,
                "connection silent; sending a liveness probe"
            );
            // Its reply is taken in order like any other, then dropped.
            let (tx, _) = oneshot::channel();
            self.outbox.lock().push_internal(
                b"api version\n\n",
                pending(tx, "api version (liveness probe)".into(), "api"),
            );
            self.awaited += 1;
            crate::telemetry::liveness_probe();
            self.probe_sent = Some(now);
            self.liveness_timer.as_mut().reset(now + live.timeout);
        } else {
            self.liveness_timer
                .as_mut()
                .reset(self.last_read + live.interval);
        }
        None
    }

    /// Takes the jobs and applications callers registered (in socket
    /// order) into the driver's maps.
    fn take_registrations(&mut self) {
        let taken = {
            let mut st = self.outbox.lock();
            if st.registrations.is_empty() {
                return;
            }
            std::mem::take(&mut st.registrations)
        };
        for reg in taken {
            match reg {
                Registration::Job(uuid, tx) => {
                    prune(&mut self.jobs, |tx| tx.is_closed());
                    self.jobs.insert(uuid, tx);
                }
                Registration::App(app) => self.register_app(*app),
            }
        }
    }

    fn register_app(&mut self, app: AppWait) {
        prune(&mut self.apps, |e| e.tx.is_closed());
        let gone = app
            .channel
            .as_deref()
            .and_then(|ch| self.ended.get_key_value(ch))
            .map(|(ch, cause)| (ch.clone(), cause.clone()));
        if let Some((uuid, cause)) = gone {
            // The channel is gone: no completion will come.
            let _ = app.tx.send(Err(Error::Hangup { uuid, cause }));
            return;
        }
        if let Some(ch) = &app.channel {
            // A channel already hung up: give this wait the grace too.
            if let Some(Hangup { at, .. }) = self.hangups.get_mut(ch) {
                let later = Instant::now() + self.hangup_grace;
                if later > *at {
                    *at = later;
                    self.hangup_order.push_back((later, ch.clone()));
                }
            }
        }
        self.apps.insert(
            app.event_uuid,
            AppEntry {
                channel: app.channel,
                ends_call: app.ends_call,
                tx: app.tx,
            },
        );
    }

    /// Routes one message; returns the close reason if it ends the connection.
    fn route(&mut self, msg: Message) -> Option<Error> {
        match msg {
            Message::CommandReply(r) => self.resolve_reply(Reply::Command(r)),
            Message::ApiResponse(r) => self.resolve_reply(Reply::Api(r)),
            Message::Event(event) => {
                self.observe_event(&event);
                self.deliver_message(Message::Event(event));
            }
            Message::DisconnectNotice(notice) => {
                let closing = notice.is_closing();
                if !closing {
                    if let Some(uuid) = notice.controlled_session_uuid.clone() {
                        self.mark_hangup(&uuid, None);
                    }
                }
                let reason = closing.then(|| {
                    Error::closed(format!(
                        "FreeSWITCH sent a disconnect-notice: {}",
                        notice.body.trim()
                    ))
                });
                self.deliver_message(Message::DisconnectNotice(notice));
                if let Some(reason) = reason {
                    return Some(reason);
                }
            }
            other => self.deliver_message(other),
        }
        None
    }

    fn resolve_reply(&mut self, reply: Reply) {
        let popped = {
            let mut st = self.outbox.lock();
            let p = st.pending.pop_front();
            self.awaited = st.pending.len();
            p
        };
        match popped {
            Some(p) => {
                crate::telemetry::reply_received(p.kind, p.queued.elapsed());
                if p.tx.send(Ok(reply)).is_err() {
                    trace!(command = %p.describe, "reply for a caller that stopped waiting discarded");
                }
            }
            None => warn!("reply with no command waiting for it; ignored"),
        }
    }

    fn observe_event(&mut self, event: &Event) {
        match event.name() {
            Some("BACKGROUND_JOB") => {
                if let Some(tx) = event.job_uuid().and_then(|u| self.jobs.remove(u)) {
                    let _ = tx.send(Ok(event.clone()));
                }
            }
            Some("CHANNEL_EXECUTE_COMPLETE") => {
                if let Some(entry) = event.application_uuid().and_then(|u| self.apps.remove(u)) {
                    let _ = entry.tx.send(Ok(event.clone()));
                }
            }
            Some("CHANNEL_HANGUP") => {
                if let Some(uuid) = event.unique_id() {
                    self.mark_hangup(uuid, Some(event));
                }
            }
            Some("CHANNEL_HANGUP_COMPLETE") => {
                if let Some(uuid) = event.unique_id() {
                    self.hangups.remove(uuid);
                    self.end_apps_of(uuid, event.hangup_cause(), Some(event));
                    self.mark_ended(uuid, event.hangup_cause());
                }
            }
            _ => {}
        }
    }

    /// A channel hung up (its CHANNEL_HANGUP, or a linger notice, which on a
    /// sync socket may come first): its application waits get the grace.
    fn mark_hangup(&mut self, uuid: &str, hangup: Option<&Event>) {
        let at = Instant::now() + self.hangup_grace;
        // Only a waiting `hangup` (or `redirect`, `deflect`) resolves with
        // the event; every other wait needs only its cause.
        let keep = hangup.is_some()
            && self
                .apps
                .values()
                .any(|e| e.ends_call && e.channel.as_deref() == Some(uuid));
        let entry = match self.hangups.get_mut(uuid) {
            Some(entry) => entry,
            None => {
                self.hangup_order.push_back((at, uuid.to_owned()));
                self.hangups.entry(uuid.to_owned()).or_insert(Hangup {
                    at,
                    cause: None,
                    event: None,
                })
            }
        };
        if let Some(event) = hangup {
            entry.cause = event.hangup_cause();
            entry.event = keep.then(|| event.clone());
        }
    }

    /// The grace deadline of `uuid` if `at` is still its current one.
    fn is_current(&self, at: Instant, uuid: &str) -> bool {
        self.hangups.get(uuid).is_some_and(|h| h.at == at)
    }

    /// The earliest pending grace deadline (dropping stale queue entries).
    fn next_hangup(&mut self) -> Option<Instant> {
        while let Some((at, uuid)) = self.hangup_order.front() {
            if self.is_current(*at, uuid) {
                return Some(*at);
            }
            self.hangup_order.pop_front();
        }
        None
    }

    fn expire_hangups(&mut self) {
        let now = Instant::now();
        while let Some((at, _)) = self.hangup_order.front() {
            if *at > now {
                break;
            }
            let Some((at, uuid)) = self.hangup_order.pop_front() else {
                break;
            };
            if self.is_current(at, &uuid) {
                if let Some(hangup) = self.hangups.remove(&uuid) {
                    self.end_apps_of(&uuid, hangup.cause.clone(), hangup.event.as_ref());
                    self.mark_ended(&uuid, hangup.cause);
                }
            }
        }
    }

    fn mark_ended(&mut self, uuid: &str, cause: Option<HangupCause>) {
        if self.ended.insert(uuid.to_owned(), cause).is_none() {
            self.ended_order.push_back(uuid.to_owned());
            if self.ended_order.len() > ENDED_MEMORY {
                if let Some(old) = self.ended_order.pop_front() {
                    self.ended.remove(&old);
                }
            }
        }
    }

    /// The channel is gone and no completion will come: its application
    /// waits end, with [`Error::Hangup`] (carrying the cause when the
    /// channel's hangup event was seen), except that an application that
    /// ends the call succeeds with that event (when it was kept: an
    /// application that ends the call, sent after the channel's
    /// CHANNEL_HANGUP was read, gets [`Error::Hangup`], which a `Session`
    /// takes as that application's success).
    fn end_apps_of(&mut self, uuid: &str, cause: Option<HangupCause>, hangup: Option<&Event>) {
        let ids: Vec<String> = self
            .apps
            .iter()
            .filter(|(_, e)| e.channel.as_deref() == Some(uuid))
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            if let Some(entry) = self.apps.remove(&id) {
                let outcome = match hangup {
                    Some(event) if entry.ends_call => Ok(event.clone()),
                    _ => Err(Error::Hangup {
                        uuid: uuid.to_owned(),
                        cause: cause.clone(),
                    }),
                };
                let _ = entry.tx.send(outcome);
            }
        }
    }

    /// Plain events the driver has no use for go to the consumer unparsed:
    /// the consumer's task parses them, so reading and parsing run on two
    /// cores. The driver parses what it routes on: replies, notices, and the
    /// events that resolve jobs and applications or end channels. Returns
    /// the frame back when the driver must parse it itself.
    fn pass_through(&mut self, frame: Frame) -> Option<Frame> {
        if frame.content_type() != Some("text/event-plain") {
            return Some(frame);
        }
        // FreeSWITCH writes `Event-Name` first; anything else (diverted
        // events, client-built ones) is parsed here to be safe.
        let Some(name) = super::peek_event_name(frame.body()) else {
            return Some(frame);
        };
        let needed = match name {
            b"CHANNEL_HANGUP" | b"CHANNEL_HANGUP_COMPLETE" => true,
            b"BACKGROUND_JOB" => !self.jobs.is_empty(),
            b"CHANNEL_EXECUTE_COMPLETE" => !self.apps.is_empty(),
            _ => false,
        };
        if needed {
            return Some(frame);
        }
        self.deliver(Incoming::Plain(Box::new(frame)));
        None
    }

    fn deliver_message(&mut self, msg: Message) {
        self.deliver(Incoming::Message(Box::new(msg)));
    }

    fn deliver(&mut self, msg: Incoming) {
        if !self.parked.is_empty() {
            self.park(msg);
            return;
        }
        match self.events.try_send(msg) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(msg)) => self.park(msg),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                // Nobody listens for events any more; replies still flow.
            }
        }
    }

    fn park(&mut self, msg: Incoming) {
        match self.overflow {
            OverflowPolicy::Backpressure => self.parked.push_back(msg),
            OverflowPolicy::DropNewest => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                self.dropped_metric
                    .get_or_insert_with(|| {
                        metrics::counter!("librevox_events_dropped_total", "policy" => "drop_newest")
                    })
                    .increment(1);
                if n.is_power_of_two() {
                    warn!(
                        dropped = n,
                        "event stream full; dropping events (DropNewest policy)"
                    );
                }
            }
        }
    }

    fn flush_parked(&mut self) {
        while let Some(msg) = self.parked.pop_front() {
            match self.events.try_send(msg) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(msg)) => {
                    self.parked.push_front(msg);
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.parked.clear();
                    return;
                }
            }
        }
    }

    /// Fails the job and application waits (the outbox failed the replies).
    fn fail_all(&mut self, reason: &Error) {
        for (_, tx) in self.jobs.drain() {
            let _ = tx.send(Err(reason.clone()));
        }
        for (_, entry) in self.apps.drain() {
            let _ = entry.tx.send(Err(reason.clone()));
        }
        // Undelivered events still reach the consumer, best effort.
        self.flush_parked();
    }
}

/// A promise for one of the driver's own commands.
fn pending(tx: oneshot::Sender<Result<Reply>>, describe: String, kind: &'static str) -> Pending {
    Pending {
        tx,
        describe,
        kind,
        queued: Instant::now(),
    }
}

fn prune<V>(map: &mut HashMap<String, V>, dead: impl Fn(&V) -> bool) {
    if map.len() >= 64 && map.len().is_power_of_two() {
        map.retain(|_, v| !dead(v));
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
