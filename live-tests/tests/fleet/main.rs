//! The fleet against real switches (issue 16.5): the JetStream bridge and
//! the channel tracker with two real FreeSWITCH instances and a real
//! nats-server.
//!
//! Needs two switches (`LIBREVOX_HOST`/`PORT`/`PASSWORD`, and
//! `LIBREVOX_SECOND_PORT`, optionally `LIBREVOX_SECOND_HOST` and
//! `LIBREVOX_SECOND_PASSWORD`), a nats-server binary (`$NATS_SERVER`,
//! `/usr/sbin/nats-server` or on PATH; each test starts its own on a free
//! port) and the `librevox` binary (`cargo build -p librevox-cli`):
//!
//! ```sh
//! cargo test -p librevox-live-tests --test fleet
//! ```
//!
//! What the switch fired is witnessed by a second event socket subscribed to
//! `ALL` on the same switch: between two marker events (`sendevent`), every
//! event it delivers with an `Event-Sequence` in the markers' range must be in
//! the stream once, and the stream must hold nothing else of that range. The
//! tests run one at a time (they share the switches, and the tracker test
//! compares the tracker with every channel of the switch).

#[path = "../../../librevox/tests/support/nats_server.rs"]
mod nats_server;

mod bridge;
mod tracker;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream;
use librevox::bridge::{Bridge, BridgeConfig, SwitchConfig};
use librevox::commands::Commands as _;
use librevox::fleet::SwitchName;
use librevox::protocol::{Command, SendEvent};
use librevox::{CommandSocket, ConnectOptions, Event, EventFormat, Message};
use librevox_live_tests::{within, Switch, WAIT};
use nats_server::NatsServer;
use tokio::sync::watch;

/// One fleet test at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The subclass of the marker and burst events the tests send.
const SUBCLASS: &str = "librevox::fleet";

/// An in-process bridge on these switches.
async fn start_bridge(nats: &NatsServer, switches: &[(&str, &Switch)]) -> Bridge {
    let mut config = BridgeConfig::new(nats.url());
    for (name, sw) in switches {
        config.switches.push(SwitchConfig::new(
            SwitchName::new(name).unwrap(),
            sw.addr(),
            sw.password.as_str(),
        ));
    }
    config.ack_timeout = Duration::from_secs(5);
    config.stop_grace = Duration::from_secs(10);
    let bridge = Bridge::start(config).await.expect("the bridge starts");
    assert!(
        bridge.wait_ready(WAIT).await,
        "the bridge is not ready within {WAIT:?}: {:?}",
        bridge.stats()
    );
    bridge
}

/// A second event socket on the switch, subscribed to `event plain ALL` like
/// the bridge: what the switch delivered, to compare the stream with.
struct Witness {
    events: Arc<Mutex<Vec<Event>>>,
    count: watch::Receiver<usize>,
    _socket: CommandSocket,
    task: tokio::task::JoinHandle<()>,
}

impl Witness {
    async fn start(switch: &Switch) -> Witness {
        let mut socket = switch
            .try_connect(ConnectOptions::new(switch.addr()).keep_events(true))
            .await
            .unwrap_or_else(|e| panic!("{}", switch.unreachable(&e)));
        let mut stream = socket.take_events().expect("keep_events gives the stream");
        socket
            .command(&Command::event(EventFormat::Plain, &["ALL"]))
            .await
            .expect("event plain ALL");
        let events = Arc::new(Mutex::new(Vec::new()));
        let (tx, count) = watch::channel(0);
        let sink = events.clone();
        let task = tokio::spawn(async move {
            while let Some(m) = stream.recv().await {
                if let Message::Event(e) = m {
                    let mut v = sink.lock().unwrap();
                    v.push(e);
                    let n = v.len();
                    drop(v);
                    tx.send_replace(n);
                }
            }
            // Dropping `tx` tells the waiters the witness is gone.
        });
        Witness {
            events,
            count,
            _socket: socket,
            task,
        }
    }

    fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// The first event `pred` accepts, seen before or within [`WAIT`].
    async fn wait(&self, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        let mut count = self.count.clone();
        within(what, WAIT, async {
            loop {
                if let Some(e) = self.events.lock().unwrap().iter().find(|e| pred(e)) {
                    return e.clone();
                }
                if count.changed().await.is_err() {
                    panic!("the witness's connection closed while waiting for {what}");
                }
            }
        })
        .await
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Sends one `librevox::fleet` event and returns it as the witness saw it
/// (with the switch's `Core-UUID` and `Event-Sequence`).
async fn marker(socket: &CommandSocket, witness: &Witness, what: &str) -> Event {
    let uuid = within(
        "sendevent",
        WAIT,
        socket.sendevent(&SendEvent::custom(SUBCLASS).header("Fleet-Marker", what)),
    )
    .await
    .expect("sendevent");
    witness
        .wait(&format!("the {what} marker"), |e| {
            e.header("Event-UUID") == Some(uuid.as_str())
        })
        .await
}

/// The `Event-Sequence` range of one switch between two markers.
#[derive(Debug, Clone)]
struct Window {
    core: String,
    first: u64,
    last: u64,
}

impl Window {
    fn between(begin: &Event, end: &Event) -> Window {
        let core = begin.header("Core-UUID").expect("Core-UUID").to_owned();
        assert_eq!(end.header("Core-UUID"), Some(core.as_str()));
        Window {
            core,
            first: begin.sequence().expect("Event-Sequence"),
            last: end.sequence().expect("Event-Sequence"),
        }
    }

    fn holds_id(&self, msg_id: &str) -> bool {
        let Some((core, seq)) = msg_id.rsplit_once(':') else {
            return false;
        };
        core == self.core
            && seq
                .parse::<u64>()
                .is_ok_and(|s| (self.first..=self.last).contains(&s))
    }

    fn holds(&self, e: &Event) -> bool {
        self.holds_id(&msg_id(e))
    }
}

/// `Core-UUID:Event-Sequence`, from the event's own headers.
fn msg_id(e: &Event) -> String {
    format!(
        "{}:{}",
        e.header("Core-UUID").unwrap_or("?"),
        e.header("Event-Sequence").unwrap_or("?")
    )
}

/// One message of the stream.
#[derive(Debug, Clone)]
struct Stored {
    subject: String,
    msg_id: String,
    unique_id: Option<String>,
    event_name: Option<String>,
    payload: String,
}

/// Reads the stream's messages as they come (each once).
struct StreamReader {
    stream: jetstream::stream::Stream,
    all: Vec<Stored>,
}

impl StreamReader {
    async fn new(js: &jetstream::Context) -> StreamReader {
        StreamReader {
            stream: js
                .get_stream("FREESWITCH")
                .await
                .expect("the stream exists"),
            all: Vec::new(),
        }
    }

    /// Reads the messages stored since the last call.
    async fn refresh(&mut self) {
        let last = self
            .stream
            .info()
            .await
            .expect("stream info")
            .state
            .last_sequence;
        for seq in self.all.len() as u64 + 1..=last {
            let m = self
                .stream
                .get_raw_message(seq)
                .await
                .expect("a stored message");
            let h = |name: &str| m.headers.get(name).map(|v| v.as_str().to_owned());
            self.all.push(Stored {
                subject: m.subject.to_string(),
                msg_id: m
                    .headers
                    .get(async_nats::header::NATS_MESSAGE_ID)
                    .map(|v| v.as_str().to_owned())
                    .unwrap_or_else(|| panic!("no Nats-Msg-Id: {} {:?}", m.subject, m.headers)),
                unique_id: h("Unique-ID"),
                event_name: h("Event-Name"),
                payload: String::from_utf8(m.payload.to_vec()).expect("UTF-8 payload"),
            });
        }
    }
}

/// The window's events as the witness saw them (by Msg-Id) and the stream's
/// messages of the window, once both hold the same Msg-Ids (waiting at most
/// [`WAIT`] for either to catch up: an event reaches every ALL subscriber of
/// the switch, in no fixed order). Fails with the difference.
async fn settle(
    witness: &Witness,
    reader: &mut StreamReader,
    window: &Window,
) -> (BTreeMap<String, Event>, Vec<Stored>) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        reader.refresh().await;
        let seen: BTreeMap<String, Event> = witness
            .events()
            .into_iter()
            .filter(|e| window.holds(e))
            .map(|e| (msg_id(&e), e))
            .collect();
        let stored: Vec<Stored> = reader
            .all
            .iter()
            .filter(|s| window.holds_id(&s.msg_id))
            .cloned()
            .collect();
        let ids: BTreeSet<&str> = stored.iter().map(|s| s.msg_id.as_str()).collect();
        let missing: Vec<&String> = seen.keys().filter(|k| !ids.contains(k.as_str())).collect();
        let extra: Vec<&&str> = ids.iter().filter(|k| !seen.contains_key(**k)).collect();
        if missing.is_empty() && extra.is_empty() {
            return (seen, stored);
        }
        if tokio::time::Instant::now() >= deadline {
            panic!(
                "after {WAIT:?} the stream and the switch still differ in {window:?}: {} events \
                 delivered but not stored (first: {:?}), {} stored but not delivered (first: {:?})",
                missing.len(),
                missing.iter().take(5).collect::<Vec<_>>(),
                extra.len(),
                extra.iter().take(5).collect::<Vec<_>>()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many of each Msg-Id the stream holds beyond the first.
fn duplicates(stored: &[Stored]) -> usize {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for s in stored {
        *counts.entry(s.msg_id.as_str()).or_default() += 1;
    }
    counts.values().map(|c| c - 1).sum()
}

/// The subject the issue gives for an event of switch `name`, written out
/// here (not taken from the library): `freeswitch.<name>.event.<Event-Name>`,
/// and for CUSTOM the subclass's parts, `::` as `.`.
fn expected_subject(name: &str, e: &Event) -> String {
    let event = e.name().expect("Event-Name");
    match e.subclass().filter(|_| event == "CUSTOM") {
        Some(sub) => format!("freeswitch.{name}.event.CUSTOM.{}", sub.replace("::", ".")),
        None => format!("freeswitch.{name}.event.{event}"),
    }
}

/// How many events of each name, for the report.
fn by_name<'a>(events: impl Iterator<Item = &'a Event>) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for e in events {
        *m.entry(e.name().unwrap_or("-").to_owned()).or_default() += 1;
    }
    m
}
