//! The event bus: what a connection receives and why.
//!
//! Every connection (inbound or outbound) registers a [`Subscriber`] with
//! the core. Producers (the core, channels, API commands) hand it [`Out`]
//! items; [`Subscriber::offer`] applies the checks of FreeSWITCH's
//! `event_handler` (subscriptions, CUSTOM subclasses, filters, `myevents`)
//! before queueing an event. The connection's task drains the queue and
//! writes the frames. Nothing here knows channels or the ESL commands: a
//! controlled session is just a UUID.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::regex::Regex;
use super::sync::lock;
use crate::protocol::names::{EVENT_NAMES, MYEVENTS};
use crate::protocol::LogData;
use crate::protocol::{Event, EventFormat};

/// An event as fired: the event plus whether its (empty) body was set, which
/// only the JSON format shows.
#[derive(Debug, Clone)]
pub(crate) struct Fired {
    pub(crate) event: Event,
    pub(crate) empty_body: bool,
}

/// Items queued for a connection's writer.
pub(crate) enum Out {
    /// A fired event that passed the subscriber's checks.
    Event(Arc<Fired>),
    /// A `sendevent` diverted to this session socket (`divert_events on`).
    Diverted(Event),
    /// A log line at or below the subscriber's level.
    Log(Arc<LogData>),
    /// The controlled channel is down (hangup seen by the socket loop).
    Down,
    /// The module is going away: notice with the shutdown body, then close.
    Shutdown,
}

/// One `filter <header> <value>`: a literal (case-insensitive) or, for a
/// positive filter, `/regex/flags`.
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    pub(crate) header: String,
    /// The value as given (what `filter delete` compares).
    pub(crate) raw: String,
    negative: bool,
    regex: Option<Regex>,
    literal: String,
}

impl Filter {
    /// Reads a filter value: leading spaces and `+` are skipped, `-` makes
    /// the filter negative.
    pub(crate) fn new(header: &str, raw: &str) -> Filter {
        let mut v = raw;
        let mut negative = false;
        loop {
            if let Some(rest) = v.strip_prefix(' ').or_else(|| v.strip_prefix('+')) {
                v = rest;
            } else if let Some(rest) = v.strip_prefix('-') {
                negative = true;
                v = rest;
            } else {
                break;
            }
        }
        let regex = if !negative && v.starts_with('/') {
            Regex::from_slashed(v)
        } else {
            None
        };
        Filter {
            header: header.to_owned(),
            raw: raw.to_owned(),
            negative,
            regex,
            literal: v.to_owned(),
        }
    }

    fn matches(&self, value: &str) -> bool {
        match &self.regex {
            Some(re) => re.is_match(value),
            None => value.eq_ignore_ascii_case(&self.literal),
        }
    }
}

/// A connection's subscription state (what `event`, `nixevent`,
/// `noevents`, `myevents`, `filter`, `log` and `divert_events` change).
pub(crate) struct Subs {
    pub(crate) format: EventFormat,
    /// One flag per [`EVENT_NAMES`] entry.
    list: Vec<bool>,
    /// `event ALL`: every event, whatever `list` says.
    pub(crate) all: bool,
    pub(crate) subclasses: HashSet<String>,
    pub(crate) events_on: bool,
    pub(crate) filters: Vec<Filter>,
    pub(crate) myevents: bool,
    /// The controlled (or `myevents <uuid>`) session.
    pub(crate) session: Option<String>,
    /// A sync outbound socket: it notices its channel's hangup only when the
    /// channel thread tells it (after the running application).
    pub(crate) deferred_down: bool,
    pub(crate) log_level: Option<u8>,
    pub(crate) divert: bool,
    pub(crate) closed: bool,
}

impl Subs {
    fn new() -> Subs {
        Subs {
            format: EventFormat::Plain,
            list: vec![false; EVENT_NAMES.len()],
            all: false,
            subclasses: HashSet::new(),
            events_on: false,
            filters: Vec::new(),
            myevents: false,
            session: None,
            deferred_down: false,
            log_level: None,
            divert: false,
            closed: false,
        }
    }

    /// Sets (or clears) the flag of one event type by its canonical name.
    pub(crate) fn set(&mut self, name: &str, on: bool) {
        if let Some(idx) = EVENT_NAMES.iter().position(|n| *n == name) {
            self.list[idx] = on;
        }
    }

    /// Sets every event type's flag.
    pub(crate) fn set_every(&mut self, on: bool) {
        self.list.iter_mut().for_each(|b| *b = on);
    }

    /// Subscribes the session events of `myevents` (§3.2).
    pub(crate) fn subscribe_myevents(&mut self) {
        for name in MYEVENTS {
            self.set(name, true);
        }
        self.events_on = true;
        self.myevents = true;
    }

    fn subscribed(&self, e: &Event) -> bool {
        if self.all {
            return true;
        }
        let name = e.name().unwrap_or("");
        let Some(idx) = EVENT_NAMES.iter().position(|n| *n == name) else {
            return false;
        };
        self.list[idx]
            && (name != "CUSTOM" || e.subclass().is_none_or(|sub| self.subclasses.contains(sub)))
    }

    /// At least one positive filter matches and no negative one does.
    fn filtered_in(&self, e: &Event) -> bool {
        let mut pos = false;
        let mut neg = false;
        for f in &self.filters {
            let Some(v) = e.header_ignore_case(&f.header) else {
                continue;
            };
            if f.matches(v) {
                if f.negative {
                    neg = true;
                } else {
                    pos = true;
                }
            }
        }
        pos && !neg
    }

    /// `myevents`: the session's own events, and background jobs it owns.
    fn mine(&self, e: &Event) -> bool {
        match e.header_ignore_case("unique-id") {
            Some(u) => self.session.as_deref().is_none_or(|sess| sess == u),
            None => match (&self.session, e.header_ignore_case("Job-Owner-UUID")) {
                (Some(sess), Some(owner)) => sess == owner,
                _ => false,
            },
        }
    }

    /// The checks of FreeSWITCH's `event_handler`, in its order.
    fn wants(&self, e: &Event) -> bool {
        !self.closed
            && self.events_on
            && self.subscribed(e)
            && (self.filters.is_empty() || self.filtered_in(e))
            && (!self.myevents || self.mine(e))
    }
}

/// A connection on the bus: its subscription state and its writer's queue.
pub(crate) struct Subscriber {
    pub(crate) id: u64,
    pub(crate) subs: Mutex<Subs>,
    tx: mpsc::UnboundedSender<Out>,
}

impl Subscriber {
    /// A subscriber with nothing subscribed, and the receiving end of its
    /// queue.
    pub(crate) fn new(id: u64) -> (Arc<Subscriber>, mpsc::UnboundedReceiver<Out>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let sub = Subscriber {
            id,
            subs: Mutex::new(Subs::new()),
            tx,
        };
        (Arc::new(sub), rx)
    }

    /// Queues an item unconditionally (the writer may be gone: then it is
    /// dropped with the connection).
    pub(crate) fn push(&self, out: Out) {
        let _ = self.tx.send(out);
    }

    /// True when this connection controls channel `uuid` (and, with
    /// `deferred`, is its sync outbound socket).
    pub(crate) fn controls(&self, uuid: &str, deferred: bool) -> bool {
        let s = lock(&self.subs);
        !s.closed && s.session.as_deref() == Some(uuid) && s.deferred_down == deferred
    }

    /// True when `sendevent`s to `uuid` are diverted to this connection.
    pub(crate) fn divert_to(&self, uuid: &str) -> bool {
        let s = lock(&self.subs);
        !s.closed && s.divert && s.session.as_deref() == Some(uuid)
    }

    pub(crate) fn events_enabled(&self) -> bool {
        lock(&self.subs).events_on
    }

    /// Queues a fired event if the subscription wants it.
    pub(crate) fn offer(&self, fired: &Arc<Fired>) {
        if lock(&self.subs).wants(&fired.event) {
            self.push(Out::Event(fired.clone()));
        }
    }

    /// Queues a log line if the connection logs at its level.
    pub(crate) fn offer_log(&self, line: &Arc<LogData>) {
        let s = lock(&self.subs);
        if !s.closed && s.log_level.is_some_and(|l| line.level <= l) {
            self.push(Out::Log(line.clone()));
        }
    }
}
