//! Support for librevox's live tier: the switch to test against, bounded
//! waits, unique tags and cleanup of the calls a test makes.
//!
//! The tests themselves are the `live` test target of this crate. They need
//! a running FreeSWITCH and are therefore not part of a plain
//! `cargo test --workspace`; run them with
//!
//! ```sh
//! LIBREVOX_HOST=127.0.0.1 LIBREVOX_PORT=8021 LIBREVOX_PASSWORD=ClueCon \
//!     cargo test -p librevox-live-tests --test live
//! ```
//!
//! The switch is the one the `librevox` binary would talk to: `LIBREVOX_HOST`
//! (default `127.0.0.1`), `LIBREVOX_PORT` (default `8021`) and
//! `LIBREVOX_PASSWORD` (default `ClueCon`). Outbound listeners started by the
//! tests bind `LIBREVOX_LIVE_LISTEN` (default `127.0.0.1`) on a free port,
//! and the switch is asked to dial that address. A test asked to run when no
//! switch answers fails with a message saying so.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use librevox::commands::Commands as _;
use librevox::listener::InboundSettings;
use librevox::protocol::Command;
use librevox::{CommandSocket, ConnectOptions, Event, EventFormat, EventStream, Message};

/// How long a single wait in a live test may take before it fails the test.
/// Generous for a loaded 2-core CI machine; every scenario finishes far
/// sooner when things work.
pub const WAIT: Duration = Duration::from_secs(20);

/// The FreeSWITCH under test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switch {
    /// Host of its event socket.
    pub host: String,
    /// Port of its event socket.
    pub port: u16,
    /// Event-socket password.
    pub password: String,
    /// The address outbound listeners bind and the switch dials.
    pub listen_host: String,
}

impl Switch {
    /// The switch named by `LIBREVOX_HOST`, `LIBREVOX_PORT`,
    /// `LIBREVOX_PASSWORD` and `LIBREVOX_LIVE_LISTEN`.
    ///
    /// # Panics
    ///
    /// When `LIBREVOX_PORT` is not a port number.
    pub fn from_env() -> Switch {
        let var = |name: &str, default: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        let port = var("LIBREVOX_PORT", "8021");
        Switch {
            host: var("LIBREVOX_HOST", "127.0.0.1"),
            port: port
                .parse()
                .unwrap_or_else(|_| panic!("LIBREVOX_PORT={port:?} is not a port number")),
            password: var("LIBREVOX_PASSWORD", "ClueCon"),
            listen_host: var("LIBREVOX_LIVE_LISTEN", "127.0.0.1"),
        }
    }

    /// The second switch of the fleet scenarios (two switches through one
    /// bridge): `LIBREVOX_SECOND_PORT` (required), `LIBREVOX_SECOND_HOST`
    /// and `LIBREVOX_SECOND_PASSWORD` (defaults: the first switch's host
    /// and password), listening like the first.
    ///
    /// # Panics
    ///
    /// When `LIBREVOX_SECOND_PORT` is unset or not a port number: the fleet
    /// scenarios were asked to run, so a missing second switch is a failure,
    /// never a skip.
    pub fn second_from_env() -> Switch {
        let first = Switch::from_env();
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let port = var("LIBREVOX_SECOND_PORT").unwrap_or_else(|| {
            panic!(
                "LIBREVOX_SECOND_PORT is not set: the fleet scenarios need a second FreeSWITCH \
                 (start one with ../shared/freeswitch/start.sh on another port and --dir, and \
                 set LIBREVOX_SECOND_PORT; README.md, \"Testing Against a Real FreeSWITCH\")"
            )
        });
        Switch {
            host: var("LIBREVOX_SECOND_HOST").unwrap_or(first.host),
            port: port
                .parse()
                .unwrap_or_else(|_| panic!("LIBREVOX_SECOND_PORT={port:?} is not a port number")),
            password: var("LIBREVOX_SECOND_PASSWORD").unwrap_or(first.password),
            listen_host: first.listen_host,
        }
    }

    /// `host:port` of the event socket.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// An authenticated command socket.
    ///
    /// # Panics
    ///
    /// When no switch answers (or it refuses the password): the live tier
    /// was asked to run, so a missing switch is a failure, never a skip.
    pub async fn connect(&self) -> CommandSocket {
        self.try_connect(ConnectOptions::new(self.addr()))
            .await
            .unwrap_or_else(|e| panic!("{}", self.unreachable(&e)))
    }

    /// Connects with `options` (address and password filled in).
    pub async fn try_connect(&self, options: ConnectOptions) -> librevox::Result<CommandSocket> {
        let options = options
            .password(self.password.as_str())
            .connect_timeout(Duration::from_secs(10));
        CommandSocket::connect_with(options).await
    }

    /// Settings for an inbound listener connecting to this switch; a
    /// refused password stops it at once (a misconfigured test run).
    pub fn inbound_settings(&self) -> InboundSettings {
        let mut settings = InboundSettings::new(self.addr()).password(self.password.as_str());
        settings.give_up_on_refusal = true;
        settings
    }

    /// The message a test fails with when the switch cannot be reached.
    pub fn unreachable(&self, error: &librevox::Error) -> String {
        format!(
            "no FreeSWITCH answers at {} ({error}). The live tier needs one: start one with \
             ../shared/freeswitch/start.sh, or point LIBREVOX_HOST, LIBREVOX_PORT and \
             LIBREVOX_PASSWORD at yours (README.md, \"Testing Against a Real FreeSWITCH\")",
            self.addr()
        )
    }
}

/// The `librevox` binary: `LIBREVOX_CLI`, or the one built next to the
/// running test (`cargo build -p librevox-cli` first; `.ci/run` does).
///
/// # Panics
///
/// When there is no such binary (saying how to build it).
pub fn librevox_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("LIBREVOX_CLI").filter(|p| !p.is_empty()) {
        return path.into();
    }
    // target/<profile>/deps/<test>-<hash> → target/<profile>/librevox
    let exe = std::env::current_exe().expect("the test's own path");
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join(format!("librevox{}", std::env::consts::EXE_SUFFIX)))
        .expect("the test runs from target/<profile>/deps");
    assert!(
        path.is_file(),
        "no librevox binary at {}: build it with `cargo build -p librevox-cli` or set LIBREVOX_CLI",
        path.display()
    );
    path
}

/// Awaits `fut` for at most `limit`; a longer wait fails the test, naming
/// what it waited for.
///
/// # Panics
///
/// When `limit` passes first.
pub async fn within<F: Future>(what: &str, limit: Duration, fut: F) -> F::Output {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {limit:?} waiting for {what}"),
    }
}

/// A string unique to this test process and call site, for tagging the
/// calls a test makes (as their caller-ID number) so that concurrent tests,
/// and leftovers of earlier runs, never see each other's calls.
pub fn tag(name: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{name}-{}-{n}", std::process::id())
}

/// The channels a test created, hung up when the test ends, also when it
/// fails: [`Calls::cleanup`] at the end of a test, and `Drop` (on a thread of
/// its own, through the blocking command socket) if the test panicked
/// before.
#[derive(Debug)]
pub struct Calls {
    switch: Switch,
    uuids: Arc<Mutex<Vec<String>>>,
}

impl Calls {
    /// No calls yet.
    pub fn new(switch: &Switch) -> Calls {
        Calls {
            switch: switch.clone(),
            uuids: Arc::default(),
        }
    }

    /// Remembers a channel to hang up. Returns it, for chaining.
    pub fn add(&self, uuid: impl Into<String>) -> String {
        let uuid = uuid.into();
        self.uuids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(uuid.clone());
        uuid
    }

    /// Hangs up every remembered channel that still exists.
    pub async fn cleanup(&self, socket: &CommandSocket) {
        let uuids = std::mem::take(&mut *self.uuids.lock().unwrap_or_else(|e| e.into_inner()));
        for uuid in uuids {
            // A channel that is already gone answers `-ERR No such channel!`.
            let _ = socket.uuid_kill(&uuid, None).await;
        }
    }
}

impl Drop for Calls {
    fn drop(&mut self) {
        let uuids = std::mem::take(&mut *self.uuids.lock().unwrap_or_else(|e| e.into_inner()));
        if uuids.is_empty() {
            return;
        }
        let switch = self.switch.clone();
        // The blocking socket runs its own runtime: give it a thread outside
        // the test's runtime.
        let killer = std::thread::spawn(move || {
            let options = ConnectOptions::new(switch.addr())
                .password(switch.password.as_str())
                .connect_timeout(Duration::from_secs(5));
            if let Ok(socket) = librevox::blocking::CommandSocket::connect_with(options) {
                for uuid in uuids {
                    let _ = socket.api(&format!("uuid_kill {uuid}"));
                }
                let _ = socket.close();
            }
        });
        let _ = killer.join();
    }
}

/// The dialplan application that hands a call to an outbound listener at
/// `addr`, with the socket's mode words: `socket('127.0.0.1:PORT async full')`.
pub fn socket_app(addr: &str, mode: &str) -> String {
    format!("socket('{addr} {mode}')")
}

/// A second connection that watches the switch's events (subscribed and
/// filtered as asked), so a test can wait for something to happen instead of
/// sleeping: a channel destroyed, an application started.
#[derive(Debug)]
pub struct Watcher {
    socket: CommandSocket,
    events: EventStream,
    seen: Vec<Event>,
}

impl Watcher {
    /// Subscribes to `names` (plain format) with one `filter` per
    /// `(header, value)`.
    pub async fn new(switch: &Switch, names: &[&str], filters: &[(&str, &str)]) -> Watcher {
        let mut socket = switch
            .try_connect(ConnectOptions::new(switch.addr()).keep_events(true))
            .await
            .unwrap_or_else(|e| panic!("{}", switch.unreachable(&e)));
        let events = socket.take_events().expect("keep_events gives the stream");
        // Filters before the subscription: no unfiltered window.
        for (header, value) in filters {
            socket
                .command(&Command::filter(header, value))
                .await
                .expect("filter");
        }
        socket
            .command(&Command::event(EventFormat::Plain, names))
            .await
            .expect("event subscription");
        Watcher {
            socket,
            events,
            seen: Vec::new(),
        }
    }

    /// The command socket the watcher listens on (it can run commands too).
    pub fn socket(&self) -> &CommandSocket {
        &self.socket
    }

    /// The first event, seen before or arriving within [`WAIT`], that
    /// `pred` accepts. Events are kept, so two waits may return the same
    /// event.
    ///
    /// # Panics
    ///
    /// When none comes within [`WAIT`] or the connection closes.
    pub async fn wait(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        if let Some(e) = self.seen.iter().find(|e| pred(e)) {
            return e.clone();
        }
        let events = &mut self.events;
        let seen = &mut self.seen;
        within(what, WAIT, async {
            loop {
                match events.recv().await {
                    Some(Message::Event(e)) => {
                        seen.push(e.clone());
                        if pred(&e) {
                            return e;
                        }
                    }
                    Some(_) => {}
                    None => panic!("the watcher's connection closed while waiting for {what}"),
                }
            }
        })
        .await
    }

    /// Waits for the CHANNEL_DESTROY of `uuid`.
    pub async fn destroyed(&mut self, uuid: &str) -> Event {
        self.wait(&format!("CHANNEL_DESTROY of {uuid}"), |e| {
            e.is("CHANNEL_DESTROY") && e.unique_id() == Some(uuid)
        })
        .await
    }

    /// Every event seen so far.
    pub fn seen(&self) -> &[Event] {
        &self.seen
    }
}
