//! A FreeSWITCH simulator speaking the event socket protocol, for tests and
//! demos (cargo feature `simulator`).
//!
//! It plays both roles FreeSWITCH plays on the event socket:
//! * **inbound**: it accepts clients (TCP, or in memory via
//!   [`Simulator::connect_in_memory`]), greets them with `auth/request` and
//!   answers every command of §3 of the protocol notes byte for byte;
//! * **outbound**: calls placed with [`Simulator::place_call`] run through a
//!   [`Dialplan`]; an extension with `socket host:port async full` dials the
//!   user's outbound listener and behaves like FreeSWITCH's
//!   `mod_event_socket` there (`connect` reply, `myevents`, `linger`,
//!   `sendmsg` execution with `event-lock`, nested execution, hangup and
//!   close semantics).
//!
//! Everything is observable: each connection's bytes ([`Simulator::connections`]),
//! every fired event ([`Simulator::fired_events`]), channel state
//! ([`Simulator::channels`]); [`Simulator::wait_for`] waits for a condition
//! without sleeping. With [`SimulatorConfig::deterministic`] UUIDs, Core-UUID,
//! hostname and clock are fixed, and simulated time follows tokio time (so
//! `#[tokio::test(start_paused = true)]` works).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> librevox::Result<()> {
//! use librevox::simulator::{Simulator, SimulatorConfig};
//! use librevox::{CommandSocket, ConnectOptions};
//!
//! let sim = Simulator::start(SimulatorConfig::default().in_memory()).await?;
//! let socket = CommandSocket::connect_io(sim.connect_in_memory(), ConnectOptions::new("sim")).await?;
//! assert_eq!(socket.api("echo hello").await?.text(), "hello");
//! socket.close().await?;
//! # Ok(()) }
//! ```

mod api;
mod bus;
mod channel;
mod clock;
mod config;
mod core;
mod esl;
mod fault_proxy;
mod order;
mod regex;
mod sequence;
pub mod serialize;
mod state;
mod sync;
mod telemetry;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::DuplexStream;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use self::channel::ChannelSnapshot;
pub use self::config::{
    AclFn, Action, CallSpec, CallerScript, Dialplan, EslUser, Extension, SimulatorConfig,
};
pub use self::core::{ApiFn, ConnectionKind, ConnectionRecord};
pub use self::fault_proxy::{Direction, Fault, FaultProxy, ProxyStats, Rule, RuleId};
pub use self::order::{CallOrder, Order, SyncHangupOrder, DISPATCH_HOLD};

use self::bus::Out;
use self::channel::Switch;
use self::core::{Core, TextChannel};
use self::sync::lock;
use crate::error::{Error, Result};
use crate::protocol::Event;

/// A running simulated FreeSWITCH. Cloning gives another handle to the same
/// switch; the TCP listener stops when the last handle is dropped or
/// [`shutdown`](Simulator::shutdown) is called.
#[derive(Clone)]
pub struct Simulator {
    switch: Arc<Switch>,
    core: Arc<Core>,
    addr: Option<SocketAddr>,
    accept: Option<Arc<AbortOnDrop>>,
}

/// The accept task; aborted when the last handle goes. `closed` turns true
/// once the task's TCP listener is dropped (the port is free again).
struct AbortOnDrop(JoinHandle<()>, watch::Receiver<bool>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Owns the inbound TCP listener inside the accept task: however the task
/// ends (aborted or not), the listener is closed first and then `closed` is
/// set, so [`Simulator::shutdown`] can wait for the port to be free.
struct ListenerGuard {
    listener: Option<TcpListener>,
    closed: watch::Sender<bool>,
}

impl Drop for ListenerGuard {
    fn drop(&mut self) {
        drop(self.listener.take());
        self.closed.send_replace(true);
    }
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("addr", &self.addr)
            .field("core_uuid", &self.core.core_uuid)
            .finish()
    }
}

/// A call placed with [`Simulator::place_call`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallHandle {
    /// The channel's `Unique-ID`.
    pub uuid: String,
}

impl Simulator {
    /// Starts a simulator: binds the inbound TCP listener when
    /// [`SimulatorConfig::listen`] is set.
    pub async fn start(config: SimulatorConfig) -> Result<Simulator> {
        let listen = config.listen;
        let core = Core::new(config);
        let switch = Switch::new(core.clone(), Arc::new(esl::EslSockets));
        let (addr, accept) = match listen {
            None => (None, None),
            Some(a) => {
                let listener = TcpListener::bind(a).await?;
                let addr = listener.local_addr()?;
                let switch2 = switch.clone();
                let (closed_tx, closed_rx) = watch::channel(false);
                let guard = ListenerGuard {
                    listener: Some(listener),
                    closed: closed_tx,
                };
                let task = tokio::spawn(async move {
                    let guard = guard;
                    let Some(listener) = guard.listener.as_ref() else {
                        return;
                    };
                    loop {
                        let Ok((stream, peer)) = listener.accept().await else {
                            continue;
                        };
                        let _ = stream.set_nodelay(true);
                        tokio::spawn(esl::serve_inbound(switch2.clone(), stream, Some(peer)));
                    }
                });
                (Some(addr), Some(Arc::new(AbortOnDrop(task, closed_rx))))
            }
        };
        Ok(Simulator {
            switch,
            core,
            addr,
            accept,
        })
    }

    /// The address of the inbound TCP listener.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// The `Core-UUID` of this switch.
    pub fn core_uuid(&self) -> &str {
        &self.core.core_uuid
    }

    /// An inbound connection in memory (no peer address, so the ACL does
    /// not apply). Use it with [`Connection::new`](crate::Connection::new)
    /// or [`CommandSocket::connect_io`](crate::CommandSocket::connect_io).
    pub fn connect_in_memory(&self) -> DuplexStream {
        self.connect_in_memory_inner(None)
    }

    /// An in-memory inbound connection that pretends to come from `peer`
    /// (the ACL is applied to it).
    pub fn connect_in_memory_from(&self, peer: SocketAddr) -> DuplexStream {
        self.connect_in_memory_inner(Some(peer))
    }

    fn connect_in_memory_inner(&self, peer: Option<SocketAddr>) -> DuplexStream {
        let (client, server) = tokio::io::duplex(1 << 20);
        tokio::spawn(esl::serve_inbound(self.switch.clone(), server, peer));
        client
    }

    /// Registers an API command (replacing a built-in of the same name).
    pub fn register_api<F>(&self, name: &str, f: F)
    where
        F: Fn(&str) -> String + Send + Sync + 'static,
    {
        lock(&self.core.state)
            .apis
            .insert(name.to_owned(), Arc::new(f));
    }

    /// Places a call: creates an inbound channel and runs its dialplan.
    pub fn place_call(&self, spec: CallSpec) -> CallHandle {
        let ch = channel::spawn_call(&self.switch, spec);
        CallHandle {
            uuid: ch.uuid.clone(),
        }
    }

    /// Places `n` calls to `destination` (each with a clone of `spec`'s
    /// script and a fresh UUID).
    pub fn place_calls(&self, n: usize, spec: &CallSpec) -> Vec<CallHandle> {
        (0..n)
            .map(|_| {
                let mut s = spec.clone();
                s.uuid = None;
                self.place_call(s)
            })
            .collect()
    }

    /// Hangs a channel up from outside (like `uuid_kill`); false when the
    /// channel does not exist or is already down.
    pub fn hangup(&self, uuid: &str, cause: &str) -> bool {
        match self.switch.channel(uuid) {
            Some(ch) => ch.hangup(&self.core, state::cause_name(cause), true),
            None => false,
        }
    }

    /// Sends DTMF digits to a channel (like `uuid_send_dtmf`).
    pub fn send_dtmf(&self, uuid: &str, digits: &str) -> bool {
        match self.switch.channel(uuid) {
            Some(ch) => {
                ch.send_dtmf(digits);
                true
            }
            None => false,
        }
    }

    /// Fires an event exactly as given (no header is added), to every
    /// subscribed connection.
    pub fn inject_event(&self, event: Event) {
        self.core.fire(event);
    }

    /// Fires an event named `name` with the 13 standard headers followed by
    /// `headers` (for CUSTOM, pass `Event-Subclass` first), and returns it.
    pub fn fire_event(&self, name: &str, headers: &[(&str, &str)], body: Option<&str>) -> Event {
        let mut e = self.core.base_event(name, ("simulator.c", "fire_event", 1));
        for (n, v) in headers {
            e.push_header(n, v);
        }
        if let Some(b) = body {
            e.set_body(b.to_owned());
        }
        self.core.fire(e.clone());
        e
    }

    /// Emits a log line (`log/data` to connections that asked for `level`).
    pub fn log(&self, level: u8, text: &str) {
        let src = ("simulator.c", "log", 1);
        self.core
            .log(level, TextChannel::Log, src, "", &format!("{text}\n"));
    }

    /// The channels that exist now.
    pub fn channels(&self) -> Vec<ChannelSnapshot> {
        self.switch
            .channels()
            .iter()
            .map(|c| c.snapshot())
            .collect()
    }

    /// One channel, if it exists.
    pub fn channel(&self, uuid: &str) -> Option<ChannelSnapshot> {
        self.switch.channel(uuid).map(|c| c.snapshot())
    }

    /// Every event fired so far, in firing order.
    pub fn fired_events(&self) -> Vec<Event> {
        lock(&self.core.state).fired.clone()
    }

    /// Every connection so far (inbound and outbound), with its bytes.
    pub fn connections(&self) -> Vec<ConnectionRecord> {
        lock(&self.core.state)
            .connections
            .iter()
            .map(|c| lock(c).clone())
            .collect()
    }

    /// Waits until `condition` holds, re-checking after every change in the
    /// simulator; fails with [`Error::Timeout`] after `timeout`.
    pub async fn wait_for<F>(&self, timeout: Duration, mut condition: F) -> Result<()>
    where
        F: FnMut(&Simulator) -> bool,
    {
        let mut changes = self.core.subscribe_changes();
        let wait = async {
            loop {
                changes.borrow_and_update();
                if condition(self) {
                    return;
                }
                if changes.changed().await.is_err() {
                    return;
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| Error::Timeout {
                what: "a simulator condition",
                after: timeout,
            })
    }

    /// Waits for a fired event matching `pred` (including ones fired
    /// before the call) and returns the first one.
    pub async fn wait_event<F>(&self, timeout: Duration, pred: F) -> Result<Event>
    where
        F: Fn(&Event) -> bool,
    {
        let mut found = None;
        self.wait_for(timeout, |s| {
            found = lock(&s.core.state).fired.iter().find(|e| pred(e)).cloned();
            found.is_some()
        })
        .await?;
        found.ok_or(Error::Timeout {
            what: "a simulator condition",
            after: timeout,
        })
    }

    /// Simulates unloading mod_event_socket: every connection gets the
    /// `The system is being shut down.` notice and is closed; the TCP
    /// listener stops. When this returns, the listening port is free (a new
    /// simulator may listen on the same address).
    pub async fn shutdown(&self) {
        if let Some(a) = &self.accept {
            a.0.abort();
            let mut closed = a.1.clone();
            let _ = closed.wait_for(|c| *c).await;
        }
        for s in self.core.subscribers() {
            s.push(Out::Shutdown);
        }
        let _ = self
            .wait_for(Duration::from_secs(5), |s| s.core.subscribers().is_empty())
            .await;
    }
}

/// Options of [`run_standalone`].
#[derive(Debug, Clone)]
pub struct StandaloneOptions {
    /// Inbound listen address (default `127.0.0.1:8021`).
    pub listen: SocketAddr,
    /// Password (default `ClueCon`).
    pub password: String,
    /// Outbound listener to dial (default `127.0.0.1:8084`).
    pub outbound: String,
    /// Number of calls to place to the outbound listener (default 0).
    pub calls: usize,
    /// Extra settings `(mode words)` of the socket application (default
    /// `async full`).
    pub socket_mode: String,
    /// Pause between calls.
    pub call_interval: Duration,
}

impl Default for StandaloneOptions {
    fn default() -> Self {
        StandaloneOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 8021)),
            password: "ClueCon".to_owned(),
            outbound: "127.0.0.1:8084".to_owned(),
            calls: 0,
            socket_mode: "async full".to_owned(),
            call_interval: Duration::from_millis(100),
        }
    }
}

/// Runs a simulator as a stand-alone FreeSWITCH: serves `opts.listen` and
/// places `opts.calls` calls to extension `socket`, which dials
/// `opts.outbound`. Calls to `park` park. Returns the simulator once the
/// calls are placed; the future returned by the closure-free form keeps it
/// alive as long as the caller holds it.
pub async fn run_standalone(opts: StandaloneOptions) -> Result<Simulator> {
    let config = SimulatorConfig {
        listen: Some(opts.listen),
        password: opts.password.clone(),
        ..SimulatorConfig::default()
    }
    .extension(Extension::socket(
        "socket",
        &format!("{} {}", opts.outbound, opts.socket_mode),
    ))
    .extension(Extension::park("park"));
    let sim = Simulator::start(config).await?;
    for i in 0..opts.calls {
        if i > 0 {
            tokio::time::sleep(opts.call_interval).await;
        }
        sim.place_call(CallSpec::new("socket"));
    }
    Ok(sim)
}

/// Runs [`run_standalone`] and then waits for `until` (e.g. ctrl-c).
pub async fn run_standalone_until<F: Future<Output = ()>>(
    opts: StandaloneOptions,
    until: F,
) -> Result<()> {
    let sim = run_standalone(opts).await?;
    until.await;
    sim.shutdown().await;
    Ok(())
}
