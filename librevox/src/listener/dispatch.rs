//! Per-channel ordered event dispatch.
//!
//! The [`Dispatcher`] keys events by `Unique-ID` (events without one count
//! as one channel) and handles a channel's events one at a time, in arrival
//! order, while channels proceed independently. A handler starts on the
//! dispatching task when nothing of its channel is still running; if it
//! has to wait, it moves to a worker task of that channel, whose bounded
//! mailbox ([`Dispatcher::new`]'s `capacity`) queues the channel's later
//! events until the worker is idle again. When a channel's hooks fall that
//! far behind, the dispatcher waits for them (backpressure reaches the
//! socket through the connection's event stream), so memory stays bounded
//! and nothing is dropped. A handler that panics is logged; the channel
//! goes on with the next event.

use std::any::Any;
use std::collections::HashMap;
use std::future::{poll_fn, Future};
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
pub type Handler<T = Event> = Arc<dyn Fn(T) -> BoxFuture + Send + Sync>;

/// What a [`Dispatcher`] routes: an [`Event`], or an event travelling with
/// something of its own (a JetStream message to acknowledge once its hook
/// has finished, for a listener consuming from a stream).
pub trait Routed: Send + 'static {
    /// The event.
    fn event(&self) -> &Event;
}

impl Routed for Event {
    fn event(&self) -> &Event {
        self
    }
}

/// Wraps a future so that a panic while polling it becomes an `Err`.
pub(crate) struct CatchUnwind<F: ?Sized>(pub(crate) Pin<Box<F>>);

impl<F: Future + ?Sized> Future for CatchUnwind<F> {
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

struct Mailbox<T> {
    /// Boxed jobs: a mailbox's first block holds 32 slots, and an idle
    /// call should not pay 32 inline events for it.
    tx: mpsc::Sender<Job<T>>,
    /// Jobs sent and not yet finished; 0 means the worker is idle.
    in_flight: Arc<AtomicUsize>,
}

/// What a channel's worker runs next.
enum Job<T> {
    /// An event whose handler has not started.
    Event(Box<T>),
    /// A handler that started on the dispatching task and has to wait.
    Started(Box<(InlineStr, BoxFuture)>),
}

/// Fewest channels before idle mailboxes are swept.
const SWEEP_MIN: usize = 256;

/// Routes events to per-channel workers.
pub struct Dispatcher<T = Event> {
    /// Map size at which idle mailboxes are swept next.
    sweep_at: usize,
    handler: Handler<T>,
    capacity: usize,
    serial: bool,
    mailboxes: HashMap<String, Mailbox<T>>,
    workers: JoinSet<()>,
}

impl<T> std::fmt::Debug for Dispatcher<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("channels", &self.mailboxes.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl<T: Routed> Dispatcher<T> {
    /// A dispatcher calling `handler`, with mailboxes of `capacity` events.
    pub fn new(handler: Handler<T>, capacity: usize) -> Dispatcher<T> {
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
    pub fn serial(mut self) -> Dispatcher<T> {
        self.serial = true;
        self
    }

    /// Number of channels with a worker (channels whose handlers had to
    /// wait at some point and that have not ended yet).
    pub fn channels(&self) -> usize {
        self.mailboxes.len()
    }

    /// Hands `event` to its channel's handler, waiting if that channel's
    /// mailbox is full.
    ///
    /// When nothing of the channel is still running, the handler starts
    /// right here and is polled once: a handler that finishes without
    /// waiting (counters, logging, routing) costs no task switch. A handler
    /// that has to wait moves, already started, to the channel's worker
    /// task, which also runs the channel's later events while it is busy.
    /// Either way a channel's events are handled one at a time, in order.
    pub async fn dispatch(&mut self, event: T) {
        let e = event.event();
        let key = InlineStr::new(if self.serial {
            ""
        } else {
            e.unique_id().unwrap_or_default()
        });
        let last = !key.is_empty() && matches!(e.name(), Some("CHANNEL_DESTROY"));
        let busy = self
            .mailboxes
            .get(key.as_str())
            .is_some_and(|mb| mb.in_flight.load(Ordering::Acquire) > 0);
        let job = if busy {
            Some(Job::Event(Box::new(event)))
        } else {
            let name = InlineStr::new(event.event().name().unwrap_or_default());
            let mut fut = CatchUnwind((self.handler)(event));
            match poll_fn(|cx| Poll::Ready(Pin::new(&mut fut).poll(cx))).await {
                Poll::Ready(Ok(())) => None,
                Poll::Ready(Err(panic)) => {
                    log_panic(&name, panic.as_ref());
                    None
                }
                Poll::Pending => Some(Job::Started(Box::new((name, fut.0)))),
            }
        };
        if let Some(job) = job {
            self.send(key.as_str(), job).await;
        }
        if last {
            // The channel's last event: its worker ends after handling it.
            self.mailboxes.remove(key.as_str());
        }
        // Reap finished workers without waiting.
        while self.workers.try_join_next().is_some() {}
    }

    /// Queues `job` on the channel's worker, starting one if needed.
    async fn send(&mut self, key: &str, job: Job<T>) {
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
            let sent = match mb.tx.try_send(job) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(job)) => mb.tx.send(job).await.is_ok(),
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            };
            if !sent {
                mb.in_flight.fetch_sub(1, Ordering::AcqRel);
            }
        }
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

fn log_panic(event: &InlineStr, panic: &(dyn Any + Send)) {
    error!(
        event = %event.as_str(),
        panic = %panic_text(panic),
        "an event hook panicked; the connection goes on"
    );
}

/// A short string kept without allocating when it fits in 48 bytes (every
/// event name FreeSWITCH defines, every channel UUID).
enum InlineStr {
    Inline([u8; 48], u8),
    Heap(String),
}

impl InlineStr {
    fn new(s: &str) -> InlineStr {
        let mut buf = [0u8; 48];
        match buf.get_mut(..s.len()) {
            Some(dst) => {
                dst.copy_from_slice(s.as_bytes());
                InlineStr::Inline(buf, s.len() as u8)
            }
            None => InlineStr::Heap(s.to_owned()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Copied whole from a `&str`, so this cannot fail.
            InlineStr::Inline(buf, len) => std::str::from_utf8(&buf[..*len as usize]).unwrap_or(""),
            InlineStr::Heap(s) => s,
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            InlineStr::Inline(_, len) => *len == 0,
            InlineStr::Heap(s) => s.is_empty(),
        }
    }
}

async fn worker<T: Routed>(
    mut rx: mpsc::Receiver<Job<T>>,
    handler: Handler<T>,
    in_flight: Arc<AtomicUsize>,
) {
    while let Some(job) = rx.recv().await {
        let (name, fut) = match job {
            Job::Event(event) => (
                InlineStr::new(event.event().name().unwrap_or_default()),
                handler(*event),
            ),
            Job::Started(started) => *started,
        };
        if let Err(panic) = CatchUnwind(fut).await {
            log_panic(&name, panic.as_ref());
        }
        in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tokio::sync::{oneshot, Notify};

    fn event(uuid: &str, n: u32) -> Event {
        Event::new("CUSTOM")
            .with_header("Unique-ID", uuid)
            .with_header("N", &n.to_string())
    }

    /// A handler that records `<uuid>:<n>` when it starts and `done <n>`
    /// when it ends; event `wait_for` waits on `release` first.
    fn recording(log: Arc<Mutex<Vec<String>>>, wait_for: u32, release: Arc<Notify>) -> Handler {
        Arc::new(move |e: Event| {
            let log = log.clone();
            let release = release.clone();
            Box::pin(async move {
                let n: u32 = e.header("N").unwrap_or("0").parse().unwrap_or(0);
                let uuid = e.unique_id().unwrap_or("").to_owned();
                log.lock().unwrap().push(format!("{uuid}:{n}"));
                if n == wait_for {
                    release.notified().await;
                }
                log.lock().unwrap().push(format!("done {n}"));
            })
        })
    }

    #[tokio::test]
    async fn a_handler_that_finishes_at_once_needs_no_worker() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut d = Dispatcher::new(recording(log.clone(), u32::MAX, Arc::new(Notify::new())), 4);
        for n in 0..3 {
            d.dispatch(event("a", n)).await;
        }
        // Handled before `dispatch` returned, on this task.
        assert_eq!(
            *log.lock().unwrap(),
            ["a:0", "done 0", "a:1", "done 1", "a:2", "done 2"]
        );
        assert_eq!(d.channels(), 0);
        d.finish().await;
    }

    #[tokio::test]
    async fn a_waiting_handler_holds_back_its_channel_only() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let release = Arc::new(Notify::new());
        let mut d = Dispatcher::new(recording(log.clone(), 1, release.clone()), 4);
        d.dispatch(event("a", 1)).await; // waits for `release`
        d.dispatch(event("a", 2)).await; // queued behind it
        d.dispatch(event("b", 3)).await; // another channel: runs now
        assert_eq!(*log.lock().unwrap(), ["a:1", "b:3", "done 3"]);
        assert_eq!(d.channels(), 1);
        release.notify_one();
        d.finish().await;
        assert_eq!(
            *log.lock().unwrap(),
            ["a:1", "b:3", "done 3", "done 1", "a:2", "done 2"]
        );
    }

    #[tokio::test]
    async fn a_channel_back_to_idle_runs_inline_again_and_keeps_order() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let release = Arc::new(Notify::new());
        let mut d = Dispatcher::new(recording(log.clone(), 1, release.clone()), 4);
        d.dispatch(event("a", 1)).await;
        release.notify_one();
        // Wait until the worker finished event 1.
        let (tx, rx) = oneshot::channel();
        let probe_log = log.clone();
        tokio::spawn(async move {
            while !probe_log.lock().unwrap().contains(&"done 1".to_owned()) {
                tokio::task::yield_now().await;
            }
            let _ = tx.send(());
        });
        rx.await.unwrap();
        d.dispatch(event("a", 2)).await;
        assert_eq!(*log.lock().unwrap(), ["a:1", "done 1", "a:2", "done 2"]);
        d.finish().await;
    }

    #[tokio::test]
    async fn a_panicking_handler_is_contained_inline_and_on_a_worker() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let handler: Handler = Arc::new(move |e: Event| {
            let c = c.clone();
            Box::pin(async move {
                c.fetch_add(1, Ordering::SeqCst);
                if e.header("N") == Some("1") {
                    panic!("inline panic");
                }
                if e.header("N") == Some("2") {
                    tokio::task::yield_now().await;
                    panic!("worker panic");
                }
            })
        });
        let mut d = Dispatcher::new(handler, 4);
        for n in 1..=3 {
            d.dispatch(event("a", n)).await;
        }
        d.finish().await;
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }
}
