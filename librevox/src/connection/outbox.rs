//! The write side of a connection and its promise queue, shared by the
//! handles and the driver (issue 18).
//!
//! A caller sends its own command: in one short critical section it checks
//! for room, pushes its promise on `pending` (and its job or application
//! registration), and either writes the bytes to the socket itself or
//! appends them to the write buffer. It writes itself only when no reply
//! is outstanding and nothing waits to be written, so a sequential caller
//! costs no task hand-over on the way out (the driver still reads the reply
//! and wakes it: one wake-up per round trip, not two). While replies are
//! outstanding (pipelining) it appends, and the caller that makes the
//! buffer non-empty wakes the driver, which writes all that piled up in one
//! `write`: callers woken together by one read are written together.
//!
//! Socket order is queue order because both happen under the same lock.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::{Buf, BytesMut};
use tokio::io::AsyncWrite;
use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;

use super::{AppWait, Reply};
use crate::error::{Error, Result};
use crate::protocol::Event;

/// A reply awaited, in socket order.
pub(crate) struct Pending {
    pub(crate) tx: oneshot::Sender<Result<Reply>>,
    pub(crate) describe: String,
    /// The command's verb and when it was queued (`librevox_reply_seconds`).
    pub(crate) kind: &'static str,
    pub(crate) queued: Instant,
}

/// What the driver resolves from events: a background job or an
/// application, registered before its command's bytes are written.
pub(crate) enum Registration {
    Job(String, oneshot::Sender<Result<Event>>),
    App(Box<AppWait>),
}

pub(crate) type Writer = Pin<Box<dyn AsyncWrite + Send>>;

pub(crate) struct State {
    /// `None` once the connection ended.
    writer: Option<Writer>,
    /// Bytes accepted and not yet written, in queue order.
    wbuf: BytesMut,
    /// The writer needs a flush the driver has to finish.
    flush_due: bool,
    /// Replies awaited, oldest first.
    pub(crate) pending: VecDeque<Pending>,
    /// Registrations the driver has not taken yet, in socket order.
    pub(crate) registrations: Vec<Registration>,
    /// The driver reads the socket now (it stops while its parked events
    /// wait for room and nothing is awaited), so a reply will reach it
    /// without a wake-up.
    pub(crate) driver_reading: bool,
    /// Every handle is gone (the driver then says `exit`).
    pub(crate) handles_gone: bool,
    /// Callers wait for the write buffer to drain below the mark.
    waiting_for_room: bool,
    /// Why the connection ended: nothing more is accepted.
    closed: Option<Error>,
    /// True while the write buffer is at the high-water mark (for the log).
    held: bool,
}

/// Why a command was not accepted now.
pub(crate) enum Refused {
    /// The connection ended, for this reason.
    Closed(Error),
    /// The write buffer is at its high-water mark: wait for `room`.
    Full,
}

pub(crate) struct Outbox {
    state: Mutex<State>,
    /// Wakes the driver: bytes to write, a registration, a request while
    /// it does not read, the last handle gone.
    pub(crate) driver: Notify,
    /// Wakes callers waiting for room below `high_water`.
    room: Notify,
    high_water: usize,
}

impl Outbox {
    pub(crate) fn new(writer: Writer, high_water: usize) -> Outbox {
        Outbox {
            state: Mutex::new(State {
                writer: Some(writer),
                wbuf: BytesMut::new(),
                flush_due: false,
                pending: VecDeque::new(),
                registrations: Vec::new(),
                driver_reading: true,
                handles_gone: false,
                waiting_for_room: false,
                closed: None,
                held: false,
            }),
            driver: Notify::new(),
            room: Notify::new(),
            high_water: high_water.max(1),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Queues a command: waits while the unwritten bytes are at the
    /// high-water mark (a peer that stopped reading), then pushes `pending`
    /// and `registration` and writes or buffers `bytes`, all in one
    /// critical section. The caller's timeout bounds the wait; a caller
    /// that gives up while waiting was never queued, and its bytes are
    /// never written.
    pub(crate) async fn send(
        &self,
        bytes: &[u8],
        pending: Pending,
        registration: Option<Registration>,
    ) -> Result<()> {
        let mut pending = Some(pending);
        let mut registration = registration;
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            {
                let mut st = self.lock();
                match self.try_accept(&mut st, bytes, &mut pending, &mut registration) {
                    Ok(()) => return Ok(()),
                    Err(Refused::Closed(e)) => return Err(e),
                    Err(Refused::Full) => {
                        st.waiting_for_room = true;
                        // Registered under the lock: a drain after it wakes us.
                        room.as_mut().enable();
                    }
                }
            }
            room.await;
        }
    }

    fn try_accept(
        &self,
        st: &mut State,
        bytes: &[u8],
        pending: &mut Option<Pending>,
        registration: &mut Option<Registration>,
    ) -> std::result::Result<(), Refused> {
        if let Some(reason) = &st.closed {
            return Err(Refused::Closed(reason.clone()));
        }
        if st.wbuf.len() >= self.high_water {
            if !st.held {
                st.held = true;
                tracing::debug!(
                    buffered = st.wbuf.len(),
                    high_water = self.high_water,
                    "the peer is not reading: write buffer at its high-water mark, holding commands"
                );
            }
            return Err(Refused::Full);
        }
        let (Some(p), reg) = (pending.take(), registration.take()) else {
            return Ok(());
        };
        tracing::trace!(command = %p.describe, len = bytes.len(), "sending command");
        crate::telemetry::command_sent(p.kind);
        let in_flight = !st.pending.is_empty();
        let backlog = !st.wbuf.is_empty() || st.flush_due;
        st.pending.push_back(p);
        let registers = reg.is_some();
        if let Some(reg) = reg {
            st.registrations.push(reg);
        }
        st.wbuf.extend_from_slice(bytes);
        if !in_flight && !backlog {
            st.write_now();
        }
        // The driver writes what is left (its own waker then waits for the
        // socket), takes registrations before it routes what it reads next,
        // and must hear of an awaited reply while it does not read.
        let leftover = !st.wbuf.is_empty() || st.flush_due;
        if (leftover && !backlog) || registers || !st.driver_reading {
            self.driver.notify_one();
        }
        Ok(())
    }

    /// Wakes callers waiting for room, if the buffer drained below the mark.
    fn wake_room(&self, st: &mut State) {
        if st.wbuf.len() < self.high_water || st.closed.is_some() {
            if st.held {
                st.held = false;
                tracing::debug!("the peer reads again; taking commands");
            }
            if st.waiting_for_room {
                st.waiting_for_room = false;
                self.room.notify_waiters();
            }
        }
    }

    /// The driver's write: what callers left in the buffer, then a flush.
    /// Registers the driver's waker when the socket is full.
    pub(crate) fn poll_write_out(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let mut guard = self.lock();
        let st = &mut *guard;
        let result = st.poll_write_out(cx);
        self.wake_room(st);
        result
    }

    /// Ends the connection's write side with `reason`: nothing more is
    /// accepted, every awaited reply and registered wait fails with it, and
    /// callers waiting for room learn of it. Returns the writer to shut
    /// down (`None` if it was closed before).
    pub(crate) fn close(&self, reason: &Error) -> Option<Writer> {
        let (pending, registrations, writer) = {
            let mut st = self.lock();
            if st.closed.is_none() {
                st.closed = Some(reason.clone());
            }
            st.wbuf = BytesMut::new();
            st.flush_due = false;
            let taken = (
                std::mem::take(&mut st.pending),
                std::mem::take(&mut st.registrations),
                st.writer.take(),
            );
            self.wake_room(&mut st);
            taken
        };
        // Resolved outside the lock: a woken caller may take it at once.
        for p in pending {
            let _ = p.tx.send(Err(reason.clone()));
        }
        for r in registrations {
            match r {
                Registration::Job(_, tx) => {
                    let _ = tx.send(Err(reason.clone()));
                }
                Registration::App(app) => {
                    let _ = app.tx.send(Err(reason.clone()));
                }
            }
        }
        writer
    }

    /// True once [`close`](Self::close) ran.
    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed.is_some()
    }

    /// The last handle is gone.
    pub(crate) fn handles_gone(&self) {
        self.lock().handles_gone = true;
        self.driver.notify_one();
    }
}

impl State {
    /// The driver's own command (`exit`, the liveness probe): queued like
    /// any other, written by the driver.
    pub(crate) fn push_internal(&mut self, bytes: &[u8], pending: Pending) {
        if self.closed.is_some() {
            return;
        }
        crate::telemetry::command_sent(pending.kind);
        self.pending.push_back(pending);
        self.wbuf.extend_from_slice(bytes);
    }

    /// True while the driver has bytes to write or a flush to finish.
    pub(crate) fn write_due(&self) -> bool {
        !self.wbuf.is_empty() || self.flush_due
    }

    /// A caller's write: as much as the socket takes now, without waiting
    /// and without registering for readiness (the waker is a no-op: the
    /// driver, woken for the leftovers, polls them with its own).
    fn write_now(&mut self) {
        let Some(writer) = self.writer.as_mut() else {
            return;
        };
        let mut cx = Context::from_waker(Waker::noop());
        while !self.wbuf.is_empty() {
            match writer.as_mut().poll_write(&mut cx, &self.wbuf) {
                Poll::Ready(Ok(n)) if n > 0 => self.wbuf.advance(n),
                // A full socket, or an error the driver's own write meets
                // and ends the connection with.
                _ => return,
            }
        }
        if !matches!(writer.as_mut().poll_flush(&mut cx), Poll::Ready(Ok(()))) {
            self.flush_due = true;
        }
    }

    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let Some(writer) = self.writer.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        while !self.wbuf.is_empty() {
            match writer.as_mut().poll_write(cx, &self.wbuf) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => self.wbuf.advance(n),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
            self.flush_due = true;
        }
        if self.flush_due {
            match writer.as_mut().poll_flush(cx) {
                Poll::Ready(Ok(())) => self.flush_due = false,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}
