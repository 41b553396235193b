//! A TCP proxy that injects faults between a client and a server.
//!
//! [`FaultProxy`] listens on `127.0.0.1`, and for every connection it accepts
//! dials the upstream address and forwards bytes both ways. [`Rule`]s, added
//! and removed while connections are live, make it misbehave the way networks
//! and peers do:
//!
//! | fault | what the peers see |
//! |---|---|
//! | [`Fault::Delay`] | every byte arrives that much later (latency, not a rate cap) |
//! | [`Fault::Split`] | bytes written in pieces of at most `n` bytes (`1`: byte by byte), each its own TCP segment |
//! | [`Fault::Throttle`] | bytes paced to a rate |
//! | [`Fault::Stall`] | nothing forwarded, nothing closed: half-open; the proxy stops reading, so the sender's TCP buffers fill and its writes block |
//! | [`Fault::Blackhole`] | bytes read and thrown away, nothing closed |
//! | [`Fault::Close`] | both connections closed (FIN): a cut, mid-frame if the trigger says so |
//! | [`Fault::Reset`] | both connections reset (RST) |
//!
//! A rule applies in one direction or both, fires at once or after a count
//! of bytes or a byte pattern (so a fault can land in the middle of a chosen
//! frame), and applies to every connection or only the first it fires on
//! ([`Rule::once`]). Removing a rule heals what it did: a stalled direction
//! forwards what it held, a delay stops.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> librevox::Result<()> {
//! use librevox::simulator::{Direction, Fault, FaultProxy, Rule, Simulator, SimulatorConfig};
//! use librevox::CommandSocket;
//!
//! let sim = Simulator::start(SimulatorConfig::default()).await?;
//! let proxy = FaultProxy::start(sim.local_addr().unwrap()).await?;
//! // Every reply reaches the client one byte at a time.
//! proxy.add(Rule::new(Fault::Split(1)).direction(Direction::ServerToClient));
//! let socket = CommandSocket::connect(&proxy.addr().to_string(), "ClueCon").await?;
//! assert_eq!(socket.api("echo hello").await?.text(), "hello");
//!
//! // Cut the connection five bytes into the next `api/response`.
//! let cut = proxy.add(
//!     Rule::new(Fault::Close)
//!         .direction(Direction::ServerToClient)
//!         .after_pattern("Content-Type: api/response", 5),
//! );
//! assert!(socket.api("echo hello").await.is_err());
//! assert_eq!(proxy.fired(cut), 1);
//! # Ok(()) }
//! ```
//!
//! Nothing here is unbounded: each direction holds at most 16 pieces of at
//! most 16 KiB in flight (a stalled direction stops reading once they are
//! full), and the proxy stops with its last handle.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};

/// One of the two byte streams of a proxied connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the connecting client to the upstream server.
    ClientToServer,
    /// From the upstream server back to the client.
    ServerToClient,
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Direction::ClientToServer => 0,
            Direction::ServerToClient => 1,
        }
    }
}

/// What a [`Rule`] does once it fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Hold every byte this long before forwarding it. Bytes keep their
    /// order and are pipelined: this is latency, not a rate limit.
    Delay(Duration),
    /// Write in pieces of at most this many bytes, each flushed on its own
    /// (`TCP_NODELAY` is set, so each is its own segment). `Split(1)` writes
    /// byte by byte. `0` is taken as `1`.
    Split(usize),
    /// Forward at most this many bytes per second (at least 1).
    Throttle {
        /// The rate.
        bytes_per_second: u64,
    },
    /// Stop forwarding without closing: the connection is half-open in this
    /// direction. The proxy stops reading once its small in-flight buffer is
    /// full, so the sender's socket buffers fill and its writes block.
    /// Removing the rule forwards what was held.
    Stall,
    /// Read and discard: bytes vanish, nothing is closed.
    Blackhole,
    /// Close both connections (a FIN to each peer) at the trigger point, after
    /// forwarding every byte before it.
    Close,
    /// Reset both connections (RST, `SO_LINGER` 0) at the trigger point.
    Reset,
}

impl Fault {
    /// The kill this fault performs when it fires, if it is one.
    fn kill(&self) -> Option<Kill> {
        match self {
            Fault::Close => Some(Kill::Close),
            Fault::Reset => Some(Kill::Reset),
            _ => None,
        }
    }
}

/// When a [`Rule`] fires on a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Trigger {
    Now,
    AfterBytes(u64),
    AfterPattern { pattern: Vec<u8>, plus: u64 },
}

/// A fault, where it applies and when it fires. Build one with
/// [`Rule::new`] and add it with [`FaultProxy::add`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    fault: Fault,
    directions: [bool; 2],
    trigger: Trigger,
    once: bool,
}

impl Rule {
    /// A rule that applies `fault` in both directions, at once, on every
    /// connection (live ones and those accepted later).
    pub fn new(fault: Fault) -> Rule {
        Rule {
            fault,
            directions: [true, true],
            trigger: Trigger::Now,
            once: false,
        }
    }

    /// Applies the rule in one direction only.
    pub fn direction(mut self, direction: Direction) -> Rule {
        self.directions = [false, false];
        self.directions[direction.index()] = true;
        self
    }

    /// Fires after `n` more bytes have been forwarded in a direction. Bytes
    /// are counted from when the connection first meets the rule: its start
    /// for connections accepted later, the next byte read for live ones.
    /// `after_bytes(0)` is the same as firing at once.
    pub fn after_bytes(mut self, n: u64) -> Rule {
        self.trigger = if n == 0 {
            Trigger::Now
        } else {
            Trigger::AfterBytes(n)
        };
        self
    }

    /// Fires `plus` bytes after the end of the next occurrence of `pattern`
    /// (searched from when the connection meets the rule; a match may span
    /// reads). `plus` = 0 fires right after the pattern; an empty pattern
    /// behaves like [`after_bytes(plus)`](Rule::after_bytes).
    pub fn after_pattern(mut self, pattern: impl AsRef<[u8]>, plus: u64) -> Rule {
        let pattern = pattern.as_ref().to_vec();
        if pattern.is_empty() {
            return self.after_bytes(plus);
        }
        self.trigger = Trigger::AfterPattern { pattern, plus };
        self
    }

    /// Fires on the first connection that reaches the trigger and no other
    /// (a later connection passes unharmed). Without it a rule applies to
    /// every connection until it is removed.
    pub fn once(mut self) -> Rule {
        self.once = true;
        self
    }
}

/// Identifies a rule added to a [`FaultProxy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleId(u64);

/// Counters of a [`FaultProxy`], all since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Connections accepted.
    pub accepted: u64,
    /// Connections whose upstream could not be reached (closed at once).
    pub upstream_failures: u64,
    /// Connections open now.
    pub live: u64,
    /// Bytes forwarded client → server.
    pub to_server: u64,
    /// Bytes forwarded server → client.
    pub to_client: u64,
    /// Write calls made client → server (each [`Fault::Split`] piece is one).
    pub writes_to_server: u64,
    /// Write calls made server → client.
    pub writes_to_client: u64,
    /// Bytes a [`Fault::Blackhole`] threw away, both directions.
    pub discarded: u64,
    /// Connections ended by a [`Fault::Close`] or [`FaultProxy::close_all`].
    pub closed_by_fault: u64,
    /// Connections ended by a [`Fault::Reset`] or [`FaultProxy::reset_all`].
    pub reset_by_fault: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kill {
    /// A [`Fault::Close`] or [`FaultProxy::close_all`].
    Close,
    /// A [`Fault::Reset`] or [`FaultProxy::reset_all`].
    Reset,
    /// A peer reset its connection: reset the other one too.
    PeerReset,
    /// A peer's socket failed otherwise: close the other one.
    PeerGone,
}

struct RuleEntry {
    id: RuleId,
    rule: Rule,
    fired: u64,
    /// For a `once` rule: the connection it fired on.
    owner: Option<u64>,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    upstream_failures: AtomicU64,
    live: AtomicU64,
    forwarded: [AtomicU64; 2],
    writes: [AtomicU64; 2],
    discarded: AtomicU64,
    closed_by_fault: AtomicU64,
    reset_by_fault: AtomicU64,
}

struct Shared {
    rules: Mutex<Vec<RuleEntry>>,
    next_rule: AtomicU64,
    upstream: Mutex<SocketAddr>,
    /// Woken when the rules change (stalled pumps re-check them).
    rules_changed: Notify,
    /// Woken when any counter or a rule's firing count changes.
    progress: Notify,
    counters: Counters,
    /// Live connections, by id, so `close_all`/`reset_all` can reach them.
    conns: Mutex<HashMap<u64, ConnKill>>,
}

#[derive(Clone)]
struct ConnKill {
    token: CancellationToken,
    kind: Arc<Mutex<Option<Kill>>>,
}

impl ConnKill {
    fn kill(&self, kind: Kill) {
        lock(&self.kind).get_or_insert(kind);
        self.token.cancel();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves consistent data (every
    // critical section is a handful of assignments), so poisoning is ignored.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn notify_progress(&self) {
        self.progress.notify_waiters();
    }

    /// Records that rule `id` fired on connection `conn`. Returns false (and
    /// records nothing) if the rule is gone or is a `once` rule already
    /// spent on another connection.
    fn claim(&self, id: RuleId, conn: u64) -> bool {
        let mut rules = lock(&self.rules);
        let Some(entry) = rules.iter_mut().find(|e| e.id == id) else {
            return false;
        };
        if entry.rule.once {
            match entry.owner {
                Some(owner) if owner != conn => return false,
                Some(_) => {}
                None => entry.owner = Some(conn),
            }
        }
        entry.fired += 1;
        drop(rules);
        self.notify_progress();
        true
    }
}

/// A running fault proxy. Cloning gives another handle to the same proxy;
/// it stops accepting, and closes its connections, when the last handle is
/// dropped.
#[derive(Clone)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _accept: Arc<AbortOnDrop>,
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.upstream())
            .field("stats", &self.stats())
            .finish()
    }
}

impl FaultProxy {
    /// Starts a proxy on `127.0.0.1` (a free port) forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Result<FaultProxy> {
        FaultProxy::bind(SocketAddr::from(([127, 0, 0, 1], 0)), upstream).await
    }

    /// Starts a proxy listening on `listen` forwarding to `upstream`.
    pub async fn bind(listen: SocketAddr, upstream: SocketAddr) -> Result<FaultProxy> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            rules: Mutex::new(Vec::new()),
            next_rule: AtomicU64::new(1),
            upstream: Mutex::new(upstream),
            rules_changed: Notify::new(),
            progress: Notify::new(),
            counters: Counters::default(),
            conns: Mutex::new(HashMap::new()),
        });
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(FaultProxy {
            addr,
            shared,
            _accept: Arc::new(AbortOnDrop(accept)),
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where new connections are forwarded.
    pub fn upstream(&self) -> SocketAddr {
        *lock(&self.shared.upstream)
    }

    /// Forwards connections accepted from now on to `upstream` (a server
    /// restarted on another port); live connections keep theirs.
    pub fn set_upstream(&self, upstream: SocketAddr) {
        *lock(&self.shared.upstream) = upstream;
    }

    /// Adds a rule; it applies to live connections at once and to every
    /// connection accepted later.
    pub fn add(&self, rule: Rule) -> RuleId {
        let id = RuleId(self.shared.next_rule.fetch_add(1, Ordering::Relaxed));
        lock(&self.shared.rules).push(RuleEntry {
            id,
            rule,
            fired: 0,
            owner: None,
        });
        self.shared.rules_changed.notify_waiters();
        id
    }

    /// Removes a rule, healing what it does (a stall forwards what it held,
    /// a delay or throttle stops). Returns false if there was no such rule.
    /// A connection the rule closed or reset stays closed.
    pub fn remove(&self, id: RuleId) -> bool {
        let mut rules = lock(&self.shared.rules);
        let before = rules.len();
        rules.retain(|e| e.id != id);
        let removed = rules.len() != before;
        drop(rules);
        self.shared.rules_changed.notify_waiters();
        removed
    }

    /// Removes every rule: the proxy forwards faithfully again.
    pub fn clear(&self) {
        lock(&self.shared.rules).clear();
        self.shared.rules_changed.notify_waiters();
    }

    /// How many times a rule has fired (once per connection and direction
    /// it fired on); 0 for an unknown or removed rule.
    pub fn fired(&self, id: RuleId) -> u64 {
        lock(&self.shared.rules)
            .iter()
            .find(|e| e.id == id)
            .map_or(0, |e| e.fired)
    }

    /// Closes every live connection now (FIN to both peers).
    pub fn close_all(&self) {
        self.kill_all(Kill::Close);
    }

    /// Resets every live connection now (RST to both peers).
    pub fn reset_all(&self) {
        self.kill_all(Kill::Reset);
    }

    fn kill_all(&self, kind: Kill) {
        for conn in lock(&self.shared.conns).values() {
            conn.kill(kind);
        }
    }

    /// The counters.
    pub fn stats(&self) -> ProxyStats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ProxyStats {
            accepted: get(&c.accepted),
            upstream_failures: get(&c.upstream_failures),
            live: get(&c.live),
            to_server: get(&c.forwarded[0]),
            to_client: get(&c.forwarded[1]),
            writes_to_server: get(&c.writes[0]),
            writes_to_client: get(&c.writes[1]),
            discarded: get(&c.discarded),
            closed_by_fault: get(&c.closed_by_fault),
            reset_by_fault: get(&c.reset_by_fault),
        }
    }

    /// Waits until `condition` holds for the counters, without polling
    /// (woken on every change). Fails with [`Error::Timeout`] after
    /// `timeout`.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        mut condition: impl FnMut(&ProxyStats) -> bool,
    ) -> Result<ProxyStats> {
        self.wait_until(timeout, || {
            let stats = self.stats();
            condition(&stats).then_some(stats)
        })
        .await
    }

    /// Waits until rule `id` has fired at least `times` times; fails with
    /// [`Error::Timeout`] after `timeout`.
    pub async fn wait_fired(&self, id: RuleId, times: u64, timeout: Duration) -> Result<()> {
        self.wait_until(timeout, || (self.fired(id) >= times).then_some(()))
            .await
    }

    async fn wait_until<T>(
        &self,
        timeout: Duration,
        mut ready: impl FnMut() -> Option<T>,
    ) -> Result<T> {
        let wait = async {
            loop {
                let notified = self.shared.progress.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if let Some(value) = ready() {
                    return value;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| Error::Timeout {
                what: "a fault proxy condition",
                after: timeout,
            })
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut next_conn = 0u64;
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            // Reap finished connection tasks so the set stays small.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        match accepted {
            Ok((client, _)) => {
                next_conn += 1;
                shared.counters.accepted.fetch_add(1, Ordering::Relaxed);
                shared.notify_progress();
                tasks.spawn(run_connection(next_conn, client, Arc::clone(&shared)));
            }
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather
                // than spin.
                tracing::debug!(error = %e, "fault proxy: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    // `tasks` is dropped with the loop's future: aborting it ends every
    // connection, closing its sockets.
}

/// Removes the connection from the registry and the live count however its
/// task ends (including being aborted with the proxy).
struct LiveGuard {
    id: u64,
    shared: Arc<Shared>,
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        lock(&self.shared.conns).remove(&self.id);
        self.shared.counters.live.fetch_sub(1, Ordering::Relaxed);
        self.shared.notify_progress();
    }
}

async fn run_connection(id: u64, mut client: TcpStream, shared: Arc<Shared>) {
    let upstream_addr = *lock(&shared.upstream);
    let connect = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(upstream_addr));
    let mut upstream = match connect.await {
        Ok(Ok(s)) => s,
        failed => {
            let error = match failed {
                Ok(Err(e)) => e.to_string(),
                _ => "connect timed out".to_owned(),
            };
            tracing::debug!(%error, upstream = %upstream_addr, "fault proxy: upstream unreachable");
            let c = &shared.counters;
            c.upstream_failures.fetch_add(1, Ordering::Relaxed);
            shared.notify_progress();
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let kill = ConnKill {
        token: CancellationToken::new(),
        kind: Arc::new(Mutex::new(None)),
    };
    lock(&shared.conns).insert(id, kill.clone());
    shared.counters.live.fetch_add(1, Ordering::Relaxed);
    let _guard = LiveGuard {
        id,
        shared: Arc::clone(&shared),
    };
    shared.notify_progress();

    let ended = {
        let (cr, cw) = client.split();
        let (ur, uw) = upstream.split();
        let to_server = pump(id, Direction::ClientToServer, cr, uw, &shared, &kill);
        let to_client = pump(id, Direction::ServerToClient, ur, cw, &shared, &kill);
        tokio::select! {
            _ = async { tokio::join!(to_server, to_client) } => {}
            _ = kill.token.cancelled() => {}
        }
        // Both pumps may have ended because of a kill (a pump that kills
        // returns, and the rest follow): the kind says which.
        *lock(&kill.kind)
    };
    if matches!(ended, Some(Kill::Reset | Kill::PeerReset)) {
        for s in [&client, &upstream] {
            // A zero linger makes close() send RST and discard unsent bytes;
            // with no wait there is nothing to block on.
            let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
        }
    }
    let counter = match ended {
        Some(Kill::Reset) => Some(&shared.counters.reset_by_fault),
        Some(Kill::Close) => Some(&shared.counters.closed_by_fault),
        _ => None,
    };
    if let Some(counter) = counter {
        counter.fetch_add(1, Ordering::Relaxed);
    }
    drop(client);
    drop(upstream);
}

/// One piece of a direction's stream and where it starts in the stream.
struct Piece {
    data: Bytes,
    offset: u64,
    read_at: Instant,
}

enum Item {
    Piece(Piece),
    /// Everything before it was forwarded: end the connection this way.
    Kill(Kill),
    /// The sender closed its side: forward the FIN.
    Eof,
}

/// The rules that fired on one direction of one connection, each with the
/// stream offset from which it applies (0 for a rule that fired "now": it
/// applies to every byte not yet written). Shared by the direction's reader,
/// which fires rules, and its writer, which shapes bytes by them.
#[derive(Default)]
struct Fired(Mutex<Vec<(RuleId, u64)>>);

impl Fired {
    fn applies(&self, id: RuleId, at: u64) -> bool {
        lock(&self.0).iter().any(|&(f, from)| f == id && from <= at)
    }
}

/// Forwards one direction: a reader that applies triggers and blackholes, and
/// a writer that applies delays, splits, throttles and stalls, joined by a
/// small bounded queue.
async fn pump(
    conn: u64,
    dir: Direction,
    from: ReadHalf<'_>,
    to: WriteHalf<'_>,
    shared: &Shared,
    kill: &ConnKill,
) {
    let (tx, rx) = mpsc::channel(16);
    let fired = Fired::default();
    let tracker = Tracker {
        conn,
        dir,
        progress: Vec::new(),
        fired: &fired,
        read: 0,
    };
    tokio::join!(
        read_side(tracker, from, tx, shared, kill),
        write_side(dir, to, rx, &fired, shared, kill),
    );
}

/// A rule's progress towards firing on one direction of one connection.
struct Progress {
    id: RuleId,
    state: ProgressState,
}

enum ProgressState {
    /// Bytes still to pass before the rule fires.
    Counting(u64),
    /// Looking for the pattern; `tail` holds the last bytes seen (fewer than
    /// the pattern's length) so a match can span reads.
    Searching { tail: Vec<u8> },
    /// Fired, or will never fire here (a `once` rule spent elsewhere).
    Done,
}

struct Tracker<'a> {
    conn: u64,
    dir: Direction,
    progress: Vec<Progress>,
    fired: &'a Fired,
    /// Bytes read so far in this direction.
    read: u64,
}

impl Tracker<'_> {
    /// Brings the progress list in line with the rules: drops removed ones,
    /// starts new ones, fires those that fire at once. Returns a kill to
    /// perform at once, if any.
    fn sync(&mut self, shared: &Shared) -> Option<Kill> {
        let rules: Vec<(RuleId, Trigger)> = lock(&shared.rules)
            .iter()
            .filter(|e| e.rule.directions[self.dir.index()])
            .map(|e| (e.id, e.rule.trigger.clone()))
            .collect();
        self.progress
            .retain(|p| rules.iter().any(|(id, _)| *id == p.id));
        let mut kill = None;
        for (id, trigger) in rules {
            if self.progress.iter().any(|p| p.id == id) {
                continue;
            }
            let state = match trigger {
                Trigger::Now => {
                    kill = kill.or(self.fire(id, 0, shared));
                    ProgressState::Done
                }
                Trigger::AfterBytes(n) => ProgressState::Counting(n),
                Trigger::AfterPattern { .. } => ProgressState::Searching { tail: Vec::new() },
            };
            self.progress.push(Progress { id, state });
        }
        kill
    }

    /// The offset in `chunk` at which the next rule fires, and that rule.
    /// Progress is not advanced.
    fn next_trigger(&self, chunk: &[u8], shared: &Shared) -> Option<(usize, RuleId)> {
        let rules = lock(&shared.rules);
        let mut best: Option<(usize, RuleId)> = None;
        for p in &self.progress {
            let at = match &p.state {
                ProgressState::Counting(n) => (*n <= chunk.len() as u64).then_some(*n as usize),
                ProgressState::Searching { tail } => {
                    let Some((pattern, plus)) = pattern_of(&rules, p.id) else {
                        continue;
                    };
                    find_across(tail, chunk, pattern).and_then(|end| {
                        let at = end as u64 + plus;
                        (at <= chunk.len() as u64).then_some(at as usize)
                    })
                }
                ProgressState::Done => None,
            };
            if let Some(at) = at {
                if best.is_none_or(|(b, _)| at < b) {
                    best = Some((at, p.id));
                }
            }
        }
        best
    }

    /// Advances every rule's progress over `passed`, the bytes before a
    /// trigger point (or a whole chunk). A pattern found in them switches its
    /// rule to counting the bytes still due after it.
    fn advance(&mut self, passed: &[u8], shared: &Shared) {
        self.read += passed.len() as u64;
        let rules = lock(&shared.rules);
        for p in &mut self.progress {
            match &mut p.state {
                ProgressState::Counting(n) => *n -= (*n).min(passed.len() as u64),
                ProgressState::Searching { tail } => {
                    let Some((pattern, plus)) = pattern_of(&rules, p.id) else {
                        continue;
                    };
                    match find_across(tail, passed, pattern) {
                        Some(end) => {
                            let after = (passed.len() - end) as u64;
                            p.state = ProgressState::Counting(plus.saturating_sub(after));
                        }
                        None => {
                            let keep = pattern.len() - 1;
                            tail.extend_from_slice(passed);
                            if tail.len() > keep {
                                tail.drain(..tail.len() - keep);
                            }
                        }
                    }
                }
                ProgressState::Done => {}
            }
        }
    }

    /// Fires `id` here, applying from stream offset `from`, unless another
    /// connection took a `once` rule first. Returns the kill it performs.
    fn fire(&mut self, id: RuleId, from: u64, shared: &Shared) -> Option<Kill> {
        if let Some(p) = self.progress.iter_mut().find(|p| p.id == id) {
            p.state = ProgressState::Done;
        }
        if !shared.claim(id, self.conn) {
            return None;
        }
        lock(&self.fired.0).push((id, from));
        let kill = lock(&shared.rules)
            .iter()
            .find(|e| e.id == id)
            .and_then(|e| e.rule.fault.kill());
        kill
    }

    fn blackholed(&self, shared: &Shared) -> bool {
        lock(&shared.rules)
            .iter()
            .any(|e| e.rule.fault == Fault::Blackhole && self.fired.applies(e.id, self.read))
    }
}

fn pattern_of(rules: &[RuleEntry], id: RuleId) -> Option<(&[u8], u64)> {
    match rules.iter().find(|e| e.id == id).map(|e| &e.rule.trigger) {
        Some(Trigger::AfterPattern { pattern, plus }) => Some((pattern, *plus)),
        _ => None,
    }
}

/// Where the first match of `pattern` in `tail ++ chunk` ends, as an offset
/// into `chunk`, for a match that ends inside `chunk`.
fn find_across(tail: &[u8], chunk: &[u8], pattern: &[u8]) -> Option<usize> {
    if !tail.is_empty() {
        // Only the seam needs the joined bytes: the tail (shorter than the
        // pattern) and the chunk's first pattern-length bytes.
        let head = &chunk[..chunk.len().min(pattern.len())];
        let mut seam = Vec::with_capacity(tail.len() + head.len());
        seam.extend_from_slice(tail);
        seam.extend_from_slice(head);
        if let Some(at) = memchr::memmem::find(&seam, pattern) {
            return Some(at + pattern.len() - tail.len());
        }
    }
    memchr::memmem::find(chunk, pattern).map(|at| at + pattern.len())
}

fn io_kill(e: &std::io::Error) -> Kill {
    // A reset on one side is passed on as a reset of the other.
    if e.kind() == std::io::ErrorKind::ConnectionReset {
        Kill::PeerReset
    } else {
        Kill::PeerGone
    }
}

async fn read_side(
    mut tracker: Tracker<'_>,
    mut from: ReadHalf<'_>,
    tx: mpsc::Sender<Item>,
    shared: &Shared,
    kill: &ConnKill,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let changed = shared.rules_changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        if let Some(k) = tracker.sync(shared) {
            return kill.kill(k);
        }
        let read = tokio::select! {
            read = from.read(&mut buf) => read,
            _ = changed => continue,
        };
        let read_at = Instant::now();
        let n = match read {
            Ok(0) => {
                let _ = queue(&tx, Item::Eof, &mut tracker, shared).await;
                return;
            }
            Ok(n) => n,
            Err(e) => return kill.kill(io_kill(&e)),
        };
        let mut chunk = Bytes::copy_from_slice(&buf[..n]);
        loop {
            let trigger = tracker.next_trigger(&chunk, shared);
            let cut = trigger.map_or(chunk.len(), |(at, _)| at);
            let passed = chunk.split_to(cut);
            let offset = tracker.read;
            let blackholed = tracker.blackholed(shared);
            tracker.advance(&passed, shared);
            if !passed.is_empty() {
                if blackholed {
                    let c = &shared.counters;
                    c.discarded
                        .fetch_add(passed.len() as u64, Ordering::Relaxed);
                    shared.notify_progress();
                } else {
                    let piece = Piece {
                        data: passed,
                        offset,
                        read_at,
                    };
                    match queue(&tx, Item::Piece(piece), &mut tracker, shared).await {
                        Ok(()) => {}
                        Err(Some(k)) => return kill.kill(k),
                        Err(None) => return,
                    }
                }
            }
            let Some((_, id)) = trigger else { break };
            if let Some(k) = tracker.fire(id, tracker.read, shared) {
                // The writer forwards what came before, then ends it.
                let _ = queue(&tx, Item::Kill(k), &mut tracker, shared).await;
                return;
            }
        }
    }
}

/// Hands `item` to the writer, waiting for room; while waiting (the writer
/// may be stalled), rules added with an immediate kill still act. Fails with
/// that kill, or `None` when the writer is gone.
async fn queue(
    tx: &mpsc::Sender<Item>,
    item: Item,
    tracker: &mut Tracker<'_>,
    shared: &Shared,
) -> std::result::Result<(), Option<Kill>> {
    loop {
        let changed = shared.rules_changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        tokio::select! {
            permit = tx.reserve() => {
                return match permit {
                    Ok(permit) => {
                        permit.send(item);
                        Ok(())
                    }
                    Err(_) => Err(None),
                };
            }
            _ = changed => {
                if let Some(k) = tracker.sync(shared) {
                    return Err(Some(k));
                }
            }
        }
    }
}

/// The shaping in force at stream offset `at`.
#[derive(Default)]
struct Shape {
    stall: bool,
    delay: Option<Duration>,
    split: Option<usize>,
    rate: Option<u64>,
}

fn shape(at: u64, fired: &Fired, shared: &Shared) -> Shape {
    let mut shape = Shape::default();
    for e in lock(&shared.rules).iter() {
        if !fired.applies(e.id, at) {
            continue;
        }
        match &e.rule.fault {
            Fault::Stall => shape.stall = true,
            Fault::Delay(d) => shape.delay = Some(shape.delay.map_or(*d, |x| x.max(*d))),
            Fault::Split(n) => {
                let n = (*n).max(1);
                shape.split = Some(shape.split.map_or(n, |x| x.min(n)));
            }
            Fault::Throttle { bytes_per_second } => {
                let r = (*bytes_per_second).max(1);
                shape.rate = Some(shape.rate.map_or(r, |x| x.min(r)));
            }
            Fault::Blackhole | Fault::Close | Fault::Reset => {}
        }
    }
    shape
}

async fn write_side(
    dir: Direction,
    mut to: WriteHalf<'_>,
    mut rx: mpsc::Receiver<Item>,
    fired: &Fired,
    shared: &Shared,
    kill: &ConnKill,
) {
    let mut next_slot = Instant::now();
    while let Some(item) = rx.recv().await {
        let piece = match item {
            Item::Piece(p) => p,
            Item::Kill(k) => return kill.kill(k),
            Item::Eof => {
                let _ = to.shutdown().await;
                return;
            }
        };
        let mut data = piece.data;
        let mut at = piece.offset;
        while !data.is_empty() {
            let changed = shared.rules_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let s = shape(at, fired, shared);
            // Each wait below ends early when the rules change, and the
            // shape is worked out again.
            let due = s.delay.map(|d| piece.read_at + d);
            let wait_until = if s.stall {
                None
            } else {
                let slot = s.rate.map(|_| next_slot);
                match (due, slot) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                }
            };
            if s.stall {
                changed.await;
                continue;
            }
            if let Some(t) = wait_until.filter(|t| *t > Instant::now()) {
                tokio::select! {
                    _ = tokio::time::sleep_until(t) => {}
                    _ = changed => continue,
                }
            }
            let mut n = s.split.unwrap_or(data.len()).min(data.len());
            if let Some(rate) = s.rate {
                // Pace in slices of about a twentieth of a second's worth.
                n = n.min((rate / 20).max(1) as usize);
                let per_byte = Duration::from_secs_f64(1.0 / rate as f64);
                next_slot = next_slot.max(Instant::now()) + per_byte * n as u32;
            }
            let part = data.split_to(n);
            if let Err(e) = to.write_all(&part).await {
                return kill.kill(io_kill(&e));
            }
            at += part.len() as u64;
            let c = &shared.counters;
            c.forwarded[dir.index()].fetch_add(part.len() as u64, Ordering::Relaxed);
            c.writes[dir.index()].fetch_add(1, Ordering::Relaxed);
            shared.notify_progress();
        }
    }
}
