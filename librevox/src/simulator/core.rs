//! The switch core: event numbering and dispatch onto the bus, the
//! subscriber registry, recordings, global variables, the user API table.
//! It knows nothing of channels or of the ESL commands.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::watch;

use super::bus::{Fired, Out, Subscriber};
use super::clock::{date_gmt, date_local, date_log, Clock, UuidGen};
use super::config::SimulatorConfig;
use super::sync::lock;
use crate::protocol::{Event, LogData, LogLevel};

/// Where an event or log line says it comes from: source file, function,
/// line (FreeSWITCH 1.11.3's values, as its events report them).
pub(crate) type Src = (&'static str, &'static str, u32);

/// A log line's `Text-Channel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextChannel {
    /// A plain log line: time stamp, level and source prefix the text.
    Log = 0,
    /// A "clean" line: the text alone.
    Clean = 1,
    /// A session's log line (prefixed like `Log`).
    Session = 3,
}

/// A user-registered API: receives the argument text, returns the output.
pub type ApiFn = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// Which side opened a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionKind {
    /// A client connected to the simulator (TCP or in memory).
    Inbound {
        /// The peer address, when known.
        peer: Option<SocketAddr>,
    },
    /// The simulator dialed an outbound listener for a channel.
    Outbound {
        /// The controlled channel.
        channel: String,
        /// The `host:port` that was dialed.
        target: String,
    },
}

/// Everything that went over one connection, as exact bytes.
#[derive(Debug, Clone)]
pub struct ConnectionRecord {
    /// A number unique within the simulator (in connection order).
    pub id: u64,
    /// Inbound or outbound.
    pub kind: ConnectionKind,
    /// Every frame the simulator wrote, in order (one entry per frame).
    pub sent: Vec<Bytes>,
    /// Every packet the client sent, as read (one entry per packet).
    pub received: Vec<Bytes>,
    /// True once the simulator closed the connection or saw it close.
    pub closed: bool,
}

impl ConnectionRecord {
    /// All bytes the simulator wrote, concatenated.
    pub fn sent_bytes(&self) -> Vec<u8> {
        self.sent.iter().flat_map(|b| b.iter().copied()).collect()
    }
}

pub(crate) struct CoreState {
    pub(crate) subscribers: Vec<Arc<Subscriber>>,
    pub(crate) fired: Vec<Event>,
    pub(crate) connections: Vec<Arc<Mutex<ConnectionRecord>>>,
    pub(crate) globals: Vec<(String, String)>,
    pub(crate) hash: HashMap<String, String>,
    pub(crate) apis: HashMap<String, ApiFn>,
}

pub(crate) struct Core {
    pub(crate) cfg: SimulatorConfig,
    pub(crate) clock: Clock,
    pub(crate) uuids: UuidGen,
    pub(crate) core_uuid: String,
    /// The next `Event-Sequence` number (see `sequence.rs`).
    pub(super) seq: AtomicU64,
    ids: AtomicU64,
    pub(crate) state: Mutex<CoreState>,
    changed: watch::Sender<u64>,
}

impl Core {
    pub(crate) fn new(cfg: SimulatorConfig) -> Arc<Core> {
        let uuids = UuidGen::new(cfg.seed);
        let core_uuid = cfg.core_uuid.clone().unwrap_or_else(|| uuids.next());
        let (changed, _) = watch::channel(0);
        Arc::new(Core {
            clock: Clock::new(cfg.epoch_us),
            uuids,
            core_uuid,
            seq: AtomicU64::new(cfg.first_sequence),
            ids: AtomicU64::new(1),
            state: Mutex::new(CoreState {
                subscribers: Vec::new(),
                fired: Vec::new(),
                connections: Vec::new(),
                globals: cfg.globals.clone(),
                hash: HashMap::new(),
                apis: HashMap::new(),
            }),
            cfg,
            changed,
        })
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    /// Wakes every `wait_for`.
    pub(crate) fn notify(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    pub(crate) fn subscribe_changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// An event with the 13 standard headers (§4.1).
    pub(crate) fn base_event(&self, name: &str, src: Src) -> Event {
        let mut e = Event::new(name);
        self.push_standard_tail(&mut e, src);
        e
    }

    /// Appends the 12 standard headers after `Event-Name` (or after whatever
    /// the event already has: `sendevent` puts the client's headers first).
    pub(crate) fn push_standard_tail(&self, e: &mut Event, (file, func, line): Src) {
        let now = self.clock.now_us();
        e.push_header("Core-UUID", &self.core_uuid);
        e.push_header("FreeSWITCH-Hostname", &self.cfg.hostname);
        e.push_header("FreeSWITCH-Switchname", &self.cfg.hostname);
        e.push_header("FreeSWITCH-IPv4", &self.cfg.ipv4);
        e.push_header("FreeSWITCH-IPv6", &self.cfg.ipv6);
        e.push_header("Event-Date-Local", &date_local(now));
        e.push_header("Event-Date-GMT", &date_gmt(now));
        e.push_header("Event-Date-Timestamp", &now.to_string());
        e.push_header("Event-Calling-File", file);
        e.push_header("Event-Calling-Function", func);
        e.push_header("Event-Calling-Line-Number", &line.to_string());
        e.push_header(
            "Event-Sequence",
            &self.seq.fetch_add(1, Ordering::Relaxed).to_string(),
        );
    }

    /// Fires an event: records it and offers it to every subscriber.
    pub(crate) fn fire(&self, event: Event) {
        self.fire_with(Fired {
            event,
            empty_body: false,
        })
    }

    pub(crate) fn fire_with(&self, fired: Fired) {
        let fired = Arc::new(fired);
        let subscribers = {
            let mut st = lock(&self.state);
            st.fired.push(fired.event.clone());
            st.subscribers.clone()
        };
        for s in &subscribers {
            s.offer(&fired);
        }
        self.notify();
    }

    /// The connections now on the bus.
    pub(crate) fn subscribers(&self) -> Vec<Arc<Subscriber>> {
        lock(&self.state).subscribers.clone()
    }

    /// Sends a control item to the connections whose session is `uuid`.
    pub(crate) fn send_to_session(&self, uuid: &str, deferred: bool, out: impl Fn() -> Out) {
        for s in self.subscribers() {
            if s.controls(uuid, deferred) {
                s.push(out());
            }
        }
    }

    /// Emits a log line to every connection that asked for this level
    /// (`level` is a [`LogLevel`] number; above DEBUG prints as DEBUG).
    pub(crate) fn log(
        &self,
        level: u8,
        text_channel: TextChannel,
        (file, func, line): Src,
        session: &str,
        text: &str,
    ) {
        let body = if text_channel == TextChannel::Clean {
            text.to_owned()
        } else {
            format!(
                "{} 99.00% [{}] {file}:{line} {text}",
                date_log(self.clock.now_us()),
                level_name(level)
            )
        };
        let log_line = Arc::new(LogData {
            level,
            text_channel: Some(text_channel as u8),
            file: Some(file.to_owned()),
            function: Some(func.to_owned()),
            line: Some(line),
            user_data: Some(session.to_owned()).filter(|s| !s.is_empty()),
            text: body,
        });
        for s in self.subscribers() {
            s.offer_log(&log_line);
        }
        self.notify();
    }

    pub(crate) fn add_subscriber(&self, s: Arc<Subscriber>) {
        lock(&self.state).subscribers.push(s);
    }

    pub(crate) fn remove_subscriber(&self, id: u64) {
        lock(&self.state).subscribers.retain(|s| s.id != id);
        self.notify();
    }

    /// A queued `sendevent` in the form it is fired: the subclass first, the
    /// client's headers, `Event-Name`, the standard headers, the body. A
    /// channel it was queued to appends its data before firing it.
    pub(crate) fn sendevent_form(&self, queued: &Event, name: &str) -> Event {
        let mut e = Event::empty();
        if let Some(sub) = queued.header("Event-Subclass") {
            e.push_header("Event-Subclass", sub);
        }
        for (n, v) in queued.headers() {
            if n != "Event-Subclass" {
                e.push_header(n, v);
            }
        }
        e.push_header("Event-Name", name);
        self.push_standard_tail(&mut e, ("mod_event_socket.c", "parse_command", 2283));
        if let Some(b) = queued.body() {
            e.set_body(b.clone());
        }
        e
    }

    pub(crate) fn new_record(&self, kind: ConnectionKind) -> Arc<Mutex<ConnectionRecord>> {
        let rec = Arc::new(Mutex::new(ConnectionRecord {
            id: self.next_id(),
            kind,
            sent: Vec::new(),
            received: Vec::new(),
            closed: false,
        }));
        lock(&self.state).connections.push(rec.clone());
        self.notify();
        rec
    }
}

/// FreeSWITCH's log levels, in number order.
const LOG_LEVELS: [LogLevel; 8] = [
    LogLevel::Console,
    LogLevel::Alert,
    LogLevel::Crit,
    LogLevel::Err,
    LogLevel::Warning,
    LogLevel::Notice,
    LogLevel::Info,
    LogLevel::Debug,
];

/// The log level name FreeSWITCH prints in log lines (`INFO`); a number
/// above DEBUG prints as DEBUG.
pub(crate) fn level_name(level: u8) -> String {
    let l = LOG_LEVELS
        .get(usize::from(level))
        .copied()
        .unwrap_or(LogLevel::Debug);
    l.as_str().to_ascii_uppercase()
}

/// A log level by name (case-insensitive), as `log` and the `log`
/// application accept it.
pub(crate) fn level_by_name(name: &str) -> Option<LogLevel> {
    LOG_LEVELS
        .into_iter()
        .find(|l| l.as_str().eq_ignore_ascii_case(name))
}
