//! Per-channel ordered event dispatch.
//!
//! The [`Dispatcher`] keys events by `Unique-ID` into per-channel mailboxes
//! (events without one share a mailbox). Each mailbox has a worker task that
//! runs the handler for one event at a time, so a channel's events are
//! handled in arrival order, while channels proceed independently. Mailboxes
//! are bounded ([`Dispatcher::new`]'s `capacity`); when a channel's hooks
//! fall that far behind, the dispatcher waits for them (backpressure reaches
//! the socket through the connection's event stream), so memory stays bounded
//! and nothing is dropped. A handler that panics is logged; the worker goes
//! on with the next event.

use std::any::Any;
use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::error;

use crate::protocol::Event;

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The function a dispatcher calls for each event.
pub type Handler = Arc<dyn Fn(Event) -> BoxFuture + Send + Sync>;

/// Wraps a future so that a panic while polling it becomes an `Err`.
pub(crate) struct CatchUnwind<F>(pub(crate) Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self.0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(move || fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

/// Text of a panic payload, for the log.
pub(crate) fn panic_text(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_owned()
    }
}

struct Mailbox {
    /// Boxed events: a mailbox's first block holds 32 slots, and an idle
    /// call should not pay 32 inline events for it.
    tx: mpsc::Sender<Box<Event>>,
    /// Events sent and not yet handled; 0 means the worker is idle.
    in_flight: Arc<AtomicUsize>,
}

/// Fewest channels before idle mailboxes are swept.
const SWEEP_MIN: usize = 256;

/// Routes events to per-channel workers.
pub struct Dispatcher {
    /// Map size at which idle mailboxes are swept next.
    sweep_at: usize,
    handler: Handler,
    capacity: usize,
    serial: bool,
    mailboxes: HashMap<String, Mailbox>,
    workers: JoinSet<()>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("channels", &self.mailboxes.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl Dispatcher {
    /// A dispatcher calling `handler`, with mailboxes of `capacity` events.
    pub fn new(handler: Handler, capacity: usize) -> Dispatcher {
        Dispatcher {
            sweep_at: SWEEP_MIN,
            handler,
            capacity: capacity.max(1),
            serial: false,
            mailboxes: HashMap::new(),
            workers: JoinSet::new(),
        }
    }

    /// Handles every event on one worker, in arrival order across channels
    /// (for consumers such as loggers that want the socket's order).
    pub fn serial(mut self) -> Dispatcher {
        self.serial = true;
        self
    }

    /// Number of channels with a live worker.
    pub fn channels(&self) -> usize {
        self.mailboxes.len()
    }

    /// Hands `event` to its channel's worker, waiting if that channel's
    /// mailbox is full.
    pub async fn dispatch(&mut self, event: Event) {
        // The key is looked up borrowed; it is copied only for a new channel
        // and for the channel's last event.
        let key = if self.serial {
            ""
        } else {
            event.unique_id().unwrap_or_default()
        };
        let last = (!key.is_empty() && matches!(event.name(), Some("CHANNEL_DESTROY")))
            .then(|| key.to_owned());
        if !self.mailboxes.contains_key(key) {
            if self.mailboxes.len() >= self.sweep_at {
                self.sweep();
            }
            let (tx, rx) = mpsc::channel(self.capacity);
            let in_flight = Arc::new(AtomicUsize::new(0));
            self.workers
                .spawn(worker(rx, self.handler.clone(), in_flight.clone()));
            self.mailboxes
                .insert(key.to_owned(), Mailbox { tx, in_flight });
        }
        if let Some(mb) = self.mailboxes.get(key) {
            mb.in_flight.fetch_add(1, Ordering::AcqRel);
            let sent = match mb.tx.try_send(Box::new(event)) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(event)) => mb.tx.send(event).await.is_ok(),
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            };
            if !sent {
                mb.in_flight.fetch_sub(1, Ordering::AcqRel);
            }
        }
        if let Some(key) = last {
            // The channel's last event: its worker ends after handling it.
            self.mailboxes.remove(&key);
        }
        // Reap finished workers without waiting.
        while self.workers.try_join_next().is_some() {}
    }

    /// Drops the mailboxes of idle channels (their workers then end).
    /// The next sweep happens when the map has doubled again (at least 256
    /// channels), so sweeping stays amortised O(1) per event even when most
    /// channels are busy.
    fn sweep(&mut self) {
        self.mailboxes
            .retain(|_, mb| mb.in_flight.load(Ordering::Acquire) > 0);
        self.sweep_at = (self.mailboxes.len() * 2).max(SWEEP_MIN);
    }

    /// Stops accepting events and waits until every queued event was handled.
    pub async fn finish(mut self) {
        self.mailboxes.clear();
        while self.workers.join_next().await.is_some() {}
    }
}

/// Wraps a handler's (already boxed) future so that a panic while polling
/// it becomes an `Err`, without boxing it again.
struct CatchUnwindBoxed(BoxFuture);

impl Future for CatchUnwindBoxed {
    type Output = Result<(), Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self.0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(move || fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(())) => Poll::Ready(Ok(())),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

/// The event's name, kept for the panic log without allocating (names up to
/// 48 bytes, which covers every name FreeSWITCH defines).
enum LogName {
    Inline([u8; 48], usize),
    Heap(String),
}

impl LogName {
    fn of(event: &Event) -> LogName {
        let name = event.name().unwrap_or("");
        let mut buf = [0u8; 48];
        match buf.get_mut(..name.len()) {
            Some(dst) => {
                dst.copy_from_slice(name.as_bytes());
                LogName::Inline(buf, name.len())
            }
            None => LogName::Heap(name.to_owned()),
        }
    }

    fn as_str(&self) -> Cow<'_, str> {
        match self {
            LogName::Inline(buf, len) => String::from_utf8_lossy(&buf[..*len]),
            LogName::Heap(s) => Cow::Borrowed(s),
        }
    }
}

async fn worker(mut rx: mpsc::Receiver<Box<Event>>, handler: Handler, in_flight: Arc<AtomicUsize>) {
    while let Some(event) = rx.recv().await {
        let event = *event;
        let name = LogName::of(&event);
        if let Err(panic) = CatchUnwindBoxed(handler(event)).await {
            error!(
                event = %name.as_str(),
                panic = %panic_text(panic.as_ref()),
                "an event hook panicked; the connection goes on"
            );
        }
        in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}
