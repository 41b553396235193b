//! FreeSWITCH events: parsing from the three wire formats, lookup, building.
//!
//! An [`Event`] is an ordered list of headers plus an optional body. Values are
//! stored decoded: percent-decoding is applied where FreeSWITCH percent-encodes
//! (plain and XML event headers, the outbound `connect` reply), JSON strings are
//! unescaped, XML text is unescaped. So the same event received as
//! `text/event-plain`, `text/event-json` or `text/event-xml` parses to equal
//! `Event`s.
//!
//! Two representation rules make that hold:
//! * The body's own length header (the last `Content-Length` that FreeSWITCH's
//!   serializer appends before the body, the JSON `"Content-Length"` key before
//!   `"_body"`, the XML `<Content-Length>` element) is not a header of the
//!   event: it is [`Event::body`]'s length. A `Content-Length` header that a
//!   client put into a `sendevent` stays a header.
//! * A multi-valued (array) header is stored the way the plain format writes
//!   it, `ARRAY::first|:second`; [`Event::header_values`] splits it. JSON arrays
//!   and runs of same-named XML elements are joined into that form.
//!
//! An empty body is the same as no body (plain and XML omit it; JSON writes
//! `"_body":""`).

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;

use super::names::EventName;
use super::values::{AnswerState, CallState, ChannelState, HangupCause};
use crate::error::{Error, Result};

/// The prefix FreeSWITCH gives array-valued headers in plain and XML format.
pub const ARRAY_PREFIX: &str = "ARRAY::";
/// The separator between array elements.
pub const ARRAY_SEPARATOR: &str = "|:";

/// The serialization FreeSWITCH uses for event frames on a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EventFormat {
    /// `text/event-plain`: `Name: percent-encoded value` lines.
    #[default]
    Plain,
    /// `text/event-json`: one JSON object.
    Json,
    /// `text/event-xml`: an `<event>` document.
    Xml,
}

impl EventFormat {
    /// The word used in `event <format> ...` commands.
    pub fn as_str(self) -> &'static str {
        match self {
            EventFormat::Plain => "plain",
            EventFormat::Json => "json",
            EventFormat::Xml => "xml",
        }
    }

    /// The `Content-Type` of event frames in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            EventFormat::Plain => "text/event-plain",
            EventFormat::Json => "text/event-json",
            EventFormat::Xml => "text/event-xml",
        }
    }

    /// The format for an event frame's `Content-Type`, if it is one.
    pub fn from_content_type(ct: &str) -> Option<EventFormat> {
        match ct {
            "text/event-plain" => Some(EventFormat::Plain),
            "text/event-json" => Some(EventFormat::Json),
            "text/event-xml" => Some(EventFormat::Xml),
            _ => None,
        }
    }
}

impl fmt::Display for EventFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for EventFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "plain" => Ok(EventFormat::Plain),
            "json" => Ok(EventFormat::Json),
            "xml" => Ok(EventFormat::Xml),
            other => Err(Error::InvalidCommand(format!(
                "unknown event format `{other}`; expected plain, json or xml"
            ))),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    name_start: u32,
    name_end: u32,
    value_start: u32,
    value_end: u32,
}

/// A FreeSWITCH event: ordered headers (values decoded) and an optional body.
///
/// Header names are looked up ignoring ASCII case, as FreeSWITCH and libesl
/// compare them (`unique-id` finds `Unique-ID`); a name spelled exactly as
/// FreeSWITCH spells it is matched without the case-folding comparison.
/// When a name occurs more than once (`Hangup-Cause` on
/// CHANNEL_HANGUP_COMPLETE), the first occurrence wins, as in FreeSWITCH.
///
/// Where FreeSWITCH has a fixed vocabulary there are typed accessors:
/// [`event_name`](Event::event_name), [`hangup_cause`](Event::hangup_cause),
/// [`channel_state`](Event::channel_state), [`call_state`](Event::call_state),
/// [`answer_state`](Event::answer_state).
///
/// Cloning is cheap: clones share one copy of the headers (a clone that is
/// changed gets its own). An application's completion, for instance, goes
/// to the call waiting for it, to the session's channel data and to the
/// event hooks without being copied.
#[derive(Clone, Default)]
pub struct Event {
    d: Arc<EventData>,
}

#[derive(Clone, Default)]
struct EventData {
    /// Header names and values, concatenated; spans index into it. A parsed
    /// event keeps its header block here as it came (one copy, values still
    /// percent-encoded); a built one holds the pieces it was given.
    text: String,
    index: Index,
    body: Option<Bytes>,
}

/// Where an event's headers are in its `text`.
#[derive(Clone)]
enum Index {
    /// A built event: every span known, values stored as they are.
    Built(Vec<Span>),
    /// A parsed event: lines found as lookups need them, values decoded
    /// when first read.
    Parsed(Parsed),
}

impl Default for Index {
    fn default() -> Self {
        Index::Built(Vec::new())
    }
}

/// The lazy index of a parsed header block. A lookup scans the block only
/// as far as its header (FreeSWITCH writes `Event-Name`, `Event-Sequence`
/// and `Unique-ID` among the first twenty of a hundred lines); whatever
/// needs every header ([`Event::headers`], [`Event::len`], a header that is
/// absent) finishes the scan once, and from then on `all` answers without
/// taking the lock.
///
/// The first lookup of each [`KNOWN`] header notes where it found it (or
/// that the block has none): those are the few the runtime itself reads
/// from nearly every event (the driver's routing, the dispatcher, the
/// sequence check, typical hooks: about ten lookups of four names per
/// event), and the lookups after the first do not search the spans again.
struct Parsed {
    /// Where the header lines end in `text` (before the line of the body's
    /// own `Content-Length`, which is not a header).
    end: u32,
    scan: Mutex<Scan>,
    all: OnceLock<All>,
    /// The decoded values of encoded ones, by span position, each decoded
    /// on first read; the slots are allocated at the first such read (one
    /// per line of the block, the most spans it can have).
    decoded: OnceLock<Box<[OnceLock<Box<str>>]>>,
}

/// A finished scan: every span, and where each known header is first.
#[derive(Clone)]
struct All {
    spans: Box<[Span]>,
    first: Firsts,
}

/// The headers whose first position a lookup notes, as FreeSWITCH spells
/// them (compared ignoring ASCII case, like every lookup).
const KNOWN: [&str; 8] = [
    "Event-Name",
    "Unique-ID",
    "Event-Sequence",
    "Core-UUID",
    "Event-Subclass",
    "Hangup-Cause",
    "Job-UUID",
    "Application-UUID",
];
const EVENT_NAME: usize = 0;
const UNIQUE_ID: usize = 1;
const EVENT_SEQUENCE: usize = 2;
const CORE_UUID: usize = 3;
const EVENT_SUBCLASS: usize = 4;
const HANGUP_CAUSE: usize = 5;
const JOB_UUID: usize = 6;
const APPLICATION_UUID: usize = 7;

/// The span position of the first occurrence of each [`KNOWN`] header,
/// noted by the first lookup of it ([`NOT_SEEN`] until then).
type Firsts = [u32; KNOWN.len()];
const NOT_SEEN: u32 = u32::MAX;
/// A [`Firsts`] entry for a header the whole block does not have.
const ABSENT: u32 = u32::MAX - 1;

/// True when the span's name in `text` is `name` ignoring ASCII case
/// (see [`Event::name_is`]).
#[inline]
fn name_is(text: &[u8], s: &Span, name: &[u8]) -> bool {
    let own = &text[s.name_start as usize..s.name_end as usize];
    own.len() == name.len() && (own == name || own.eq_ignore_ascii_case(name))
}

/// Which [`KNOWN`] header `name` is, if any (ignoring ASCII case; the
/// length rejects most names at once).
#[inline]
fn known(name: &[u8]) -> Option<usize> {
    let candidates: &[usize] = match name.len() {
        10 => &[EVENT_NAME],
        9 => &[UNIQUE_ID, CORE_UUID],
        14 => &[EVENT_SEQUENCE, EVENT_SUBCLASS],
        12 => &[HANGUP_CAUSE],
        8 => &[JOB_UUID],
        16 => &[APPLICATION_UUID],
        _ => return None,
    };
    candidates.iter().copied().find(|&k| {
        let want = KNOWN[k].as_bytes();
        name == want || name.eq_ignore_ascii_case(want)
    })
}

/// The part of a header block scanned so far.
#[derive(Clone)]
struct Scan {
    spans: Vec<Span>,
    /// Where the next line starts.
    at: u32,
    first: Firsts,
}

impl Default for Scan {
    fn default() -> Self {
        Scan {
            spans: Vec::new(),
            at: 0,
            first: [NOT_SEEN; KNOWN.len()],
        }
    }
}

impl Clone for Parsed {
    fn clone(&self) -> Self {
        Parsed {
            end: self.end,
            scan: Mutex::new(self.lock().clone()),
            all: self.all.clone(),
            decoded: self.decoded.clone(),
        }
    }
}

impl Parsed {
    fn new(end: usize) -> Parsed {
        Parsed {
            end: end as u32,
            scan: Mutex::new(Scan::default()),
            all: OnceLock::new(),
            decoded: OnceLock::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Scan> {
        // A scan only pushes complete spans: a panic elsewhere while the
        // lock was held leaves it consistent.
        self.scan
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The finished scan, scanning what is left of the block the first
    /// time.
    fn finished(&self, text: &[u8]) -> Option<&All> {
        if let Some(all) = self.all.get() {
            return Some(all);
        }
        let mut scan = self.lock();
        if self.all.get().is_none() {
            scan.advance(text, self.end as usize, |_| false);
            let all = All {
                spans: std::mem::take(&mut scan.spans).into_boxed_slice(),
                first: scan.first,
            };
            // Set while the lock is held, so a lookup that takes the lock
            // next finds it (see `find`).
            let _ = self.all.set(all);
        }
        drop(scan);
        self.all.get()
    }

    /// Every span, scanning what is left of the block the first time.
    fn all(&self, text: &[u8]) -> &[Span] {
        self.finished(text).map_or(&[], |all| &all.spans)
    }

    /// The first span `wanted` accepts, with its position, scanning no
    /// further than it.
    fn find(&self, text: &[u8], wanted: impl Fn(&Span) -> bool) -> Option<(usize, Span)> {
        let search = |spans: &[Span]| spans.iter().position(&wanted).map(|i| (i, spans[i]));
        if let Some(all) = self.all.get() {
            return search(&all.spans);
        }
        let mut scan = self.lock();
        if let Some(all) = self.all.get() {
            drop(scan);
            return search(&all.spans);
        }
        if let Some(found) = search(&scan.spans) {
            return Some(found);
        }
        let found = scan.advance(text, self.end as usize, &wanted)?;
        Some((found, scan.spans[found]))
    }

    /// The first span of the [`KNOWN`] header `k`, with its position:
    /// where an earlier lookup of it found it, else found as
    /// [`find`](Parsed::find) finds it, and noted.
    fn find_known(&self, text: &[u8], k: usize) -> Option<(usize, Span)> {
        let noted = |spans: &[Span], first: &Firsts| match first[k] {
            NOT_SEEN => None,
            ABSENT => Some(None),
            i => Some(Some((i as usize, spans[i as usize]))),
        };
        if let Some(all) = self.all.get() {
            if let Some(found) = noted(&all.spans, &all.first) {
                return found;
            }
        }
        let mut scan = self.lock();
        let end = self.end as usize;
        let want = KNOWN[k].as_bytes();
        let is = |s: &Span| name_is(text, s, want);
        if let Some(all) = self.all.get() {
            drop(scan);
            // A finished scan's notes are fixed; one not noted there is
            // searched (rare: a lookup of it first came after the end).
            return noted(&all.spans, &all.first)
                .unwrap_or_else(|| all.spans.iter().position(is).map(|i| (i, all.spans[i])));
        }
        if let Some(found) = noted(&scan.spans, &scan.first) {
            return found;
        }
        let found = match scan.spans.iter().position(is) {
            Some(i) => Some(i),
            None => scan.advance(text, end, is),
        };
        scan.first[k] = match found {
            Some(i) => i as u32,
            // Not in the block at all: the scan reached its end.
            None => ABSENT,
        };
        found.map(|i| (i, scan.spans[i]))
    }
}

impl Scan {
    /// Scans lines until one that `wanted` accepts (returns its position)
    /// or the end of the block.
    fn advance(
        &mut self,
        text: &[u8],
        end: usize,
        wanted: impl Fn(&Span) -> bool,
    ) -> Option<usize> {
        let lines = Lines::new();
        let mut at = self.at as usize;
        if self.spans.capacity() == 0 {
            // Room for the first 32 lines (FreeSWITCH's own headers, where
            // most lookups end), 512 bytes, an allocation glibc serves from
            // its per-thread cache; room for every line at once (a line is
            // about 35 bytes) was a 2 KB one from its bins.
            self.spans.reserve(32.min((end - at) / 16 + 1));
        }
        let mut found = None;
        while at < end {
            let (span, next) = lines.next(text, at, end);
            at = next;
            if let Some(span) = span {
                self.spans.push(span);
                if wanted(&span) {
                    found = Some(self.spans.len() - 1);
                    break;
                }
            }
        }
        self.at = at as u32;
        found
    }
}

impl EventData {
    fn into_event(self) -> Event {
        Event { d: Arc::new(self) }
    }

    /// Appends a header to a built event (a parsed one is rebuilt first:
    /// [`Event::push_header`]).
    fn push_header(&mut self, name: &str, value: &str) {
        let name_start = self.text.len() as u32;
        self.text.push_str(name);
        let name_end = self.text.len() as u32;
        self.text.push_str(value);
        let span = Span {
            name_start,
            name_end,
            value_start: name_end,
            value_end: self.text.len() as u32,
        };
        if let Index::Built(spans) = &mut self.index {
            spans.push(span);
        }
    }
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self.headers().eq(other.headers())
            && self.body() == other.body()
    }
}

impl Eq for Event {}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Event");
        d.field("name", &self.name());
        d.field("headers", &self.headers().collect::<Vec<_>>());
        if let Some(body) = self.body_str() {
            d.field("body", &body);
        }
        d.finish()
    }
}

impl Event {
    /// An event with `Event-Name: <name>` as its first header (for
    /// `sendevent` and for the simulator). For `CUSTOM`, add `Event-Subclass`
    /// next.
    pub fn new(name: &str) -> Event {
        let mut e = Event::default();
        e.push_header("Event-Name", name);
        e
    }

    /// An event without any header (diverted events look like this on the
    /// wire).
    pub fn empty() -> Event {
        Event::default()
    }

    /// Appends a header (duplicates are allowed and kept in order).
    pub fn push_header(&mut self, name: &str, value: &str) {
        if matches!(self.d.index, Index::Parsed(_)) {
            *self = self.rebuilt(|_| true);
        }
        Arc::make_mut(&mut self.d).push_header(name, value);
    }

    /// A built event of the headers `keep` accepts, values decoded.
    fn rebuilt(&self, keep: impl Fn(&str) -> bool) -> Event {
        let mut rebuilt = EventData {
            text: String::with_capacity(self.d.text.len()),
            index: Index::Built(Vec::with_capacity(self.len() + 1)),
            body: self.d.body.clone(),
        };
        for (n, v) in self.headers().filter(|(n, _)| keep(n)) {
            rebuilt.push_header(n, v);
        }
        rebuilt.into_event()
    }

    /// Builder form of [`push_header`](Event::push_header).
    pub fn with_header(mut self, name: &str, value: &str) -> Event {
        self.push_header(name, value);
        self
    }

    /// Replaces the value of every header with this name (ignoring ASCII
    /// case) by one header at the position of the first (appending it when
    /// absent).
    pub fn set_header(&mut self, name: &str, value: &str) {
        if self.header(name).is_none() {
            self.push_header(name, value);
            return;
        }
        let mut rebuilt = EventData {
            text: String::with_capacity(self.d.text.len() + value.len()),
            index: Index::Built(Vec::with_capacity(self.len())),
            body: self.d.body.clone(),
        };
        let mut done = false;
        for (n, v) in self.headers() {
            if n.eq_ignore_ascii_case(name) {
                if !done {
                    rebuilt.push_header(n, value);
                    done = true;
                }
            } else {
                rebuilt.push_header(n, v);
            }
        }
        *self = rebuilt.into_event();
    }

    /// Removes every header with this name (ignoring ASCII case).
    pub fn remove_header(&mut self, name: &str) {
        if self.header(name).is_none() {
            return;
        }
        *self = self.rebuilt(|n| !n.eq_ignore_ascii_case(name));
    }

    /// Sets the body (an empty body is stored as none).
    pub fn set_body(&mut self, body: impl Into<Bytes>) {
        let body = body.into();
        Arc::make_mut(&mut self.d).body = if body.is_empty() { None } else { Some(body) };
    }

    /// Builder form of [`set_body`](Event::set_body).
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Event {
        self.set_body(body);
        self
    }

    fn name_of(&self, s: &Span) -> &str {
        &self.d.text[s.name_start as usize..s.name_end as usize]
    }

    /// True when the span's name is `name` ignoring ASCII case. Lengths
    /// come first, which rejects nearly every other header; a name spelled
    /// exactly alike is then found by one `memcmp`, and only names that
    /// differ in their bytes are compared case-folded.
    #[inline]
    fn name_is(&self, s: &Span, name: &[u8]) -> bool {
        name_is(self.d.text.as_bytes(), s, name)
    }

    /// The value of the span at position `at`: as stored for a built
    /// event; for a parsed one, percent-decoded (on the first read) when it
    /// holds a `%`.
    fn value_of(&self, at: usize, s: &Span) -> &str {
        let raw = &self.d.text[s.value_start as usize..s.value_end as usize];
        let Index::Parsed(parsed) = &self.d.index else {
            return raw;
        };
        if memchr::memchr(b'%', raw.as_bytes()).is_none() {
            return raw;
        }
        let slots = parsed.decoded.get_or_init(|| {
            let block = &self.d.text.as_bytes()[..parsed.end as usize];
            let lines = memchr::memchr_iter(b'\n', block).count() + 1;
            (0..lines).map(|_| OnceLock::new()).collect()
        });
        match slots.get(at) {
            Some(slot) => slot.get_or_init(|| {
                percent_encoding::percent_decode_str(raw)
                    .decode_utf8_lossy()
                    .into()
            }),
            // Not reachable: a block has no more spans than lines.
            None => raw,
        }
    }

    /// Every span (for a parsed event, scanning the rest of its block).
    fn spans(&self) -> &[Span] {
        match &self.d.index {
            Index::Built(spans) => spans,
            Index::Parsed(parsed) => parsed.all(self.d.text.as_bytes()),
        }
    }

    /// The first span `wanted` accepts, with its position (for a parsed
    /// event, scanning no further than that).
    fn find(&self, wanted: impl Fn(&Span) -> bool) -> Option<&str> {
        let (at, s) = match &self.d.index {
            Index::Built(spans) => spans.iter().position(&wanted).map(|at| (at, spans[at]))?,
            Index::Parsed(parsed) => parsed.find(self.d.text.as_bytes(), wanted)?,
        };
        Some(self.value_of(at, &s))
    }

    /// All headers in order, values decoded.
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.spans()
            .iter()
            .enumerate()
            .map(move |(at, s)| (self.name_of(s), self.value_of(at, s)))
    }

    /// The header names in order (no value is decoded).
    pub(crate) fn names(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.spans().iter().map(move |s| self.name_of(s))
    }

    /// Number of headers.
    pub fn len(&self) -> usize {
        self.spans().len()
    }

    /// True when the event has no header.
    pub fn is_empty(&self) -> bool {
        match &self.d.index {
            Index::Built(spans) => spans.is_empty(),
            Index::Parsed(parsed) => parsed.find(self.d.text.as_bytes(), |_| true).is_none(),
        }
    }

    /// The first header with this name (ignoring ASCII case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.as_bytes();
        match known(name) {
            Some(k) => self.known_header(k),
            None => self.find(|s| self.name_is(s, name)),
        }
    }

    /// The first header of the [`KNOWN`] name `k`: for a parsed event,
    /// where its scan noted it.
    #[inline]
    fn known_header(&self, k: usize) -> Option<&str> {
        match &self.d.index {
            Index::Built(spans) => {
                let name = KNOWN[k].as_bytes();
                let at = spans.iter().position(|s| self.name_is(s, name))?;
                Some(self.value_of(at, &spans[at]))
            }
            Index::Parsed(parsed) => {
                let (at, s) = parsed.find_known(self.d.text.as_bytes(), k)?;
                Some(self.value_of(at, &s))
            }
        }
    }

    /// The same as [`header`](Event::header), which ignores ASCII case too
    /// (kept for code written when `header` compared exactly).
    pub fn header_ignore_case(&self, name: &str) -> Option<&str> {
        self.header(name)
    }

    /// Every header with this name (ignoring ASCII case), in order (for
    /// duplicated names).
    pub fn header_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.spans()
            .iter()
            .enumerate()
            .filter(move |(_, s)| self.name_is(s, name.as_bytes()))
            .map(move |(at, s)| self.value_of(at, s))
    }

    /// The elements of a header: an `ARRAY::a|:b` value split into `a`, `b`;
    /// any other value as its single element; nothing when absent.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        match self.header(name) {
            None => Vec::new(),
            Some(v) => match v.strip_prefix(ARRAY_PREFIX) {
                Some(rest) => rest.split(ARRAY_SEPARATOR).collect(),
                None => vec![v],
            },
        }
    }

    /// `Event-Name` (absent on diverted events).
    pub fn name(&self) -> Option<&str> {
        self.known_header(EVENT_NAME)
    }

    /// `Event-Subclass` of a CUSTOM event (`conference::maintenance`).
    pub fn subclass(&self) -> Option<&str> {
        self.known_header(EVENT_SUBCLASS)
    }

    /// True when the event's name is `name` (ASCII case-insensitive), or, for
    /// `CUSTOM <subclass>`, when it is a CUSTOM event of that subclass.
    pub fn is(&self, name: &str) -> bool {
        let (base, sub) = match name.split_once(' ') {
            Some((b, s)) => (b, Some(s.trim())),
            None => (name, None),
        };
        let Some(own) = self.name() else { return false };
        own.eq_ignore_ascii_case(base)
            && match sub {
                None => true,
                Some(s) => self.subclass() == Some(s),
            }
    }

    /// The channel this event is about (`Unique-ID`).
    pub fn unique_id(&self) -> Option<&str> {
        self.known_header(UNIQUE_ID)
    }

    /// `Job-UUID` of a BACKGROUND_JOB event.
    pub fn job_uuid(&self) -> Option<&str> {
        self.known_header(JOB_UUID)
    }

    /// `Application-UUID` of CHANNEL_EXECUTE / CHANNEL_EXECUTE_COMPLETE: the
    /// `Event-UUID` the sendmsg carried.
    pub fn application_uuid(&self) -> Option<&str> {
        self.known_header(APPLICATION_UUID)
    }

    /// `Application` of CHANNEL_EXECUTE / CHANNEL_EXECUTE_COMPLETE.
    pub fn application(&self) -> Option<&str> {
        self.header("Application")
    }

    /// `Application-Data` (the expanded argument) of CHANNEL_EXECUTE*.
    pub fn application_data(&self) -> Option<&str> {
        self.header("Application-Data")
    }

    /// `Application-Response` of CHANNEL_EXECUTE_COMPLETE (`_none_` when the
    /// application set none).
    pub fn application_response(&self) -> Option<&str> {
        self.header("Application-Response")
    }

    /// `Hangup-Cause`, present on events after a hangup, typed (the raw
    /// text is `header("Hangup-Cause")`).
    pub fn hangup_cause(&self) -> Option<HangupCause> {
        self.known_header(HANGUP_CAUSE).map(HangupCause::parse)
    }

    /// The event's type: `Event-Name`, with a CUSTOM event's
    /// `Event-Subclass` (absent on diverted events).
    pub fn event_name(&self) -> Option<EventName> {
        let name = self.name()?;
        Some(if name == "CUSTOM" {
            EventName::Custom(self.subclass().unwrap_or_default().to_owned())
        } else {
            EventName::parse(name)
        })
    }

    /// `Channel-State` of a channel event.
    pub fn channel_state(&self) -> Option<ChannelState> {
        self.header("Channel-State").map(ChannelState::parse)
    }

    /// `Channel-Call-State` of a channel event.
    pub fn call_state(&self) -> Option<CallState> {
        self.header("Channel-Call-State").map(CallState::parse)
    }

    /// `Answer-State` of a channel event.
    pub fn answer_state(&self) -> Option<AnswerState> {
        self.header("Answer-State").map(AnswerState::parse)
    }

    /// A channel variable: the header `variable_<name>` (ignoring ASCII
    /// case, like every header lookup).
    pub fn variable(&self, name: &str) -> Option<&str> {
        const PREFIX: &[u8] = b"variable_";
        let (name, len) = (name.as_bytes(), PREFIX.len() + name.len());
        let text = self.d.text.as_bytes();
        self.find(|s| {
            (s.name_end - s.name_start) as usize == len && {
                let n = &text[s.name_start as usize..s.name_end as usize];
                let (prefix, rest) = n.split_at(PREFIX.len());
                (prefix == PREFIX || prefix.eq_ignore_ascii_case(PREFIX))
                    && (rest == name || rest.eq_ignore_ascii_case(name))
            }
        })
    }

    /// `Event-Sequence`, FreeSWITCH's global event counter.
    pub fn sequence(&self) -> Option<u64> {
        self.known_header(EVENT_SEQUENCE)?.parse().ok()
    }

    /// `Core-UUID` of the FreeSWITCH instance that fired the event.
    pub fn core_uuid(&self) -> Option<&str> {
        self.known_header(CORE_UUID)
    }

    /// The body, if the event has a non-empty one.
    pub fn body(&self) -> Option<&Bytes> {
        self.d.body.as_ref()
    }

    /// The body as text (lossily converted if it is not UTF-8).
    pub fn body_str(&self) -> Option<Cow<'_, str>> {
        self.d.body.as_ref().map(|b| String::from_utf8_lossy(b))
    }

    // ----- parsing -----

    /// Parses an event payload in the given format.
    pub fn parse(format: EventFormat, payload: &Bytes) -> Result<Event> {
        match format {
            EventFormat::Plain => Event::parse_plain(payload),
            EventFormat::Json => Event::parse_json(payload),
            EventFormat::Xml => Event::parse_xml(payload),
        }
    }

    /// Parses a `text/event-plain` payload: `Name: value` lines with
    /// percent-encoded values, an empty line, then (when the last header is
    /// `Content-Length`) that many body bytes. The body shares `payload`'s
    /// memory.
    pub fn parse_plain(payload: &Bytes) -> Result<Event> {
        static BLANK_LINE: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
            std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\n\n"));
        let (head_end, body_start) = match BLANK_LINE.find(payload) {
            Some(i) => (i, i + 2),
            None => (payload.len(), payload.len()),
        };
        let head = &payload[..head_end];
        // The serializer's own Content-Length comes last; anything earlier with
        // that name came from the client that built the event.
        let length = last_span(head)
            .filter(|s| &head[s.name_start as usize..s.name_end as usize] == b"Content-Length");
        let lines_end = length.map_or(head.len(), |s| s.name_start as usize);
        let mut event = Event::from_encoded_lines(head, lines_end);
        if let Some(s) = length {
            let value = percent_encoding::percent_decode(
                &head[s.value_start as usize..s.value_end as usize],
            )
            .decode_utf8_lossy();
            let len: usize = value.trim().parse().map_err(|_| {
                Error::protocol(format!("invalid event body Content-Length `{value}`"))
            })?;
            let avail = payload.len().saturating_sub(body_start);
            if len > avail {
                return Err(Error::protocol(format!(
                    "event body shorter than its Content-Length ({avail} of {len} bytes)"
                )));
            }
            if len > 0 {
                Arc::make_mut(&mut event.d).body =
                    Some(payload.slice(body_start..body_start + len));
            }
        }
        Ok(event)
    }

    /// Parses a header block whose values are percent-encoded (the outbound
    /// `connect` reply), without any body handling.
    ///
    /// Its values are decoded at once: the reply becomes the session's
    /// channel data and lives as long as the call, where one decoded copy
    /// costs less memory than the encoded block plus decoding slots.
    pub(crate) fn parse_encoded_block(block: &[u8]) -> Event {
        Event::decoded_at_once(block, block.len())
    }

    /// An event of the header lines in `head[..end]`, values
    /// percent-encoded. The block is checked to be UTF-8 once (simdutf8's
    /// SIMD check: std's `from_utf8` was a tenth of an inbound event's
    /// instructions, 0.6 per byte) and copied once; lines are found as
    /// lookups need them and encoded values decoded when first read
    /// ([`Parsed`]).
    fn from_encoded_lines(head: &[u8], end: usize) -> Event {
        match simdutf8::basic::from_utf8(head) {
            Ok(text) => EventData {
                text: text.to_owned(),
                index: Index::Parsed(Parsed::new(end)),
                body: None,
            }
            .into_event(),
            Err(_) => {
                // Rare: bytes that are not UTF-8 on the wire. Each piece is
                // converted on its own.
                Event::decoded_at_once(head, end)
            }
        }
    }

    /// A built event of the header lines in `head[..end]`, every value
    /// percent-decoded now, names and values converted to text lossily.
    fn decoded_at_once(head: &[u8], end: usize) -> Event {
        let mut scan = Scan::default();
        scan.advance(head, end, |_| false);
        let mut data = EventData {
            text: String::with_capacity(end),
            index: Index::Built(Vec::with_capacity(scan.spans.len())),
            body: None,
        };
        for s in &scan.spans {
            let name = String::from_utf8_lossy(&head[s.name_start as usize..s.name_end as usize]);
            let value = percent_encoding::percent_decode(
                &head[s.value_start as usize..s.value_end as usize],
            )
            .decode_utf8_lossy();
            data.push_header(&name, &value);
        }
        data.into_event()
    }

    /// Parses a `text/event-json` payload. Keys keep their order; duplicate
    /// keys are kept; arrays become `ARRAY::` values; `_body` becomes the body.
    /// Invalid UTF-8 inside strings (FreeSWITCH does not validate) is replaced
    /// with U+FFFD rather than rejected.
    pub fn parse_json(payload: &Bytes) -> Result<Event> {
        let parsed: JsonEvent = match serde_json::from_slice(payload) {
            Ok(p) => p,
            Err(first) => {
                let lossy = String::from_utf8_lossy(payload);
                if matches!(lossy, Cow::Owned(_)) {
                    serde_json::from_str(&lossy)
                        .map_err(|e| Error::protocol(format!("invalid JSON event: {e}")))?
                } else {
                    return Err(Error::protocol(format!("invalid JSON event: {first}")));
                }
            }
        };
        let mut entries = parsed.0;
        let mut body = None;
        if let Some(pos) = entries.iter().rposition(|(k, _)| k == "_body") {
            let (_, v) = entries.remove(pos);
            body = Some(v.into_string());
            if pos > 0 && entries[pos - 1].0 == "Content-Length" {
                entries.remove(pos - 1);
            }
        }
        let mut data = EventData {
            text: String::with_capacity(payload.len()),
            index: Index::Built(Vec::with_capacity(entries.len())),
            body: None,
        };
        for (k, v) in &entries {
            match v {
                JsonValue::One(s) => data.push_header(k, s),
                JsonValue::Many(items) => data.push_header(k, &join_array(items)),
            }
        }
        let mut event = data.into_event();
        if let Some(b) = body {
            event.set_body(b);
        }
        Ok(event)
    }

    /// Parses a `text/event-xml` payload. Header values are percent-decoded
    /// after XML unescaping; consecutive elements with the same name form an
    /// array header. The parser is lenient where FreeSWITCH's output is not
    /// well-formed XML (raw control bytes in the body).
    pub fn parse_xml(payload: &Bytes) -> Result<Event> {
        super::xml::parse_event(payload)
    }
}

pub(crate) fn join_array(items: &[String]) -> String {
    if items.len() == 1 {
        return items[0].clone();
    }
    let mut s = String::from(ARRAY_PREFIX);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            s.push_str(ARRAY_SEPARATOR);
        }
        s.push_str(item);
    }
    s
}

/// Reads header lines: a line with a colon is a span (the name before the
/// colon; the value after it and after the spaces or tabs that follow it,
/// without the line's `\r`); a line without one is skipped.
///
/// Each line costs two searches over a few dozen bytes (its end, its
/// colon). `memchr::memchr` chooses an implementation and prepares its
/// needle on every call, which costs more than the search itself on a
/// 20-byte header name; memchr's SSE2 searchers, which every x86-64 CPU
/// has, are prepared once per scan here instead (callgrind, the load
/// test's inbound events).
struct Lines {
    #[cfg(target_arch = "x86_64")]
    sse2: Option<(
        memchr::arch::x86_64::sse2::memchr::One,
        memchr::arch::x86_64::sse2::memchr::One,
    )>,
}

impl Lines {
    fn new() -> Lines {
        Lines {
            #[cfg(target_arch = "x86_64")]
            sse2: memchr::arch::x86_64::sse2::memchr::One::new(b'\n')
                .zip(memchr::arch::x86_64::sse2::memchr::One::new(b':')),
        }
    }

    #[inline]
    fn find(&self, newline: bool, haystack: &[u8]) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if let Some((nl, colon)) = &self.sse2 {
            return if newline { nl } else { colon }.find(haystack);
        }
        memchr::memchr(if newline { b'\n' } else { b':' }, haystack)
    }

    /// The line of `bytes[..end]` that starts at `start`: its span, if it
    /// has a colon, and where the next line starts.
    #[inline]
    fn next(&self, bytes: &[u8], start: usize, end: usize) -> (Option<Span>, usize) {
        let stop = self
            .find(true, &bytes[start..end])
            .map_or(end, |i| start + i);
        let mut line_end = stop;
        if line_end > start && bytes[line_end - 1] == b'\r' {
            line_end -= 1;
        }
        let span = self.find(false, &bytes[start..line_end]).map(|c| {
            let mut vstart = start + c + 1;
            while vstart < line_end && matches!(bytes[vstart], b' ' | b'\t') {
                vstart += 1;
            }
            Span {
                name_start: start as u32,
                name_end: (start + c) as u32,
                value_start: vstart as u32,
                value_end: line_end as u32,
            }
        });
        (span, stop + 1)
    }
}

/// The last header line of a block (the last line with a colon), found
/// from the end.
fn last_span(head: &[u8]) -> Option<Span> {
    let lines = Lines::new();
    let mut end = head.len();
    loop {
        let start = memchr::memrchr(b'\n', &head[..end]).map_or(0, |i| i + 1);
        if let (Some(span), _) = lines.next(head, start, end) {
            return Some(span);
        }
        if start == 0 {
            return None;
        }
        end = start - 1;
    }
}

// ----- JSON -----

pub(crate) enum JsonValue {
    One(String),
    Many(Vec<String>),
}

impl JsonValue {
    pub(crate) fn into_string(self) -> String {
        match self {
            JsonValue::One(s) => s,
            JsonValue::Many(v) => join_array(&v),
        }
    }
}

/// A JSON object read in order, keeping duplicate keys.
pub(crate) struct JsonEvent(pub(crate) Vec<(String, JsonValue)>);

impl<'de> serde::Deserialize<'de> for JsonValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = JsonValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<JsonValue, E> {
                Ok(JsonValue::One(v.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(
                self,
                v: String,
            ) -> std::result::Result<JsonValue, E> {
                Ok(JsonValue::One(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<JsonValue, E> {
                Ok(JsonValue::One(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<JsonValue, E> {
                Ok(JsonValue::One(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<JsonValue, E> {
                Ok(JsonValue::One(v.to_string()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> std::result::Result<JsonValue, E> {
                Ok(JsonValue::One(v.to_string()))
            }
            fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<JsonValue, E> {
                Ok(JsonValue::One(String::new()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<JsonValue, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<JsonValue>()? {
                    items.push(item.into_string());
                }
                Ok(JsonValue::Many(items))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> serde::Deserialize<'de> for JsonEvent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = JsonEvent;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object of event headers")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<JsonEvent, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(64));
                while let Some((k, v)) = map.next_entry::<String, JsonValue>()? {
                    entries.push((k, v));
                }
                Ok(JsonEvent(entries))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The value of `X` in a plain payload `X: <value>`, as `header` reads it.
    fn decoded(value: &[u8]) -> Vec<u8> {
        let mut buf = b"X: ".to_vec();
        buf.extend_from_slice(value);
        buf.extend_from_slice(b"\n");
        let event = Event::parse_plain(&Bytes::from(buf)).unwrap();
        event.header("X").unwrap().as_bytes().to_vec()
    }

    #[test]
    fn values_decode_as_percent_encoding_does() {
        for v in [
            &b"plain"[..],
            b"%2BOK%0A",
            b"%",
            b"%4",
            b"%zz%41",
            b"100%",
            b"a%%41b",
            b"%e2%82%ac",
        ] {
            let want = percent_encoding::percent_decode(v)
                .decode_utf8_lossy()
                .into_owned();
            assert_eq!(
                decoded(v),
                want.as_bytes(),
                "{:?}",
                String::from_utf8_lossy(v)
            );
        }
    }

    #[test]
    fn encoded_values_are_decoded_once_and_shared_by_clones_and_threads() {
        let payload = Bytes::from_static(
            b"Event-Name: CHANNEL_ANSWER\nCaller-Caller-ID-Name: Outbound%20Call\n\
              Unique-ID: abc\nvariable_sip_full_to: %3Csip%3A2000%40192.0.2.2%3E\n\
              Weird: 100%\n\n",
        );
        let event = Event::parse_plain(&payload).unwrap();
        let Index::Parsed(parsed) = &event.d.index else {
            panic!("a parsed event has a lazy index");
        };
        assert_eq!(event.unique_id(), Some("abc"));
        assert_eq!(parsed.lock().spans.len(), 3, "scanned up to Unique-ID only");
        assert!(parsed.all.get().is_none());
        assert!(
            parsed.decoded.get().is_none(),
            "a literal value decodes nothing"
        );
        let clone = event.clone();
        let from_threads: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| clone.variable("sip_full_to").unwrap().to_owned()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(from_threads, vec!["<sip:2000@192.0.2.2>"; 4]);
        // The clone shares the decoded value: the same memory.
        assert!(std::ptr::eq(
            event.variable("sip_full_to").unwrap(),
            clone.variable("sip_full_to").unwrap()
        ));
        assert_eq!(event.header("Weird"), Some("100%"));
        let all: Vec<(&str, &str)> = event.headers().collect();
        assert_eq!(
            all,
            vec![
                ("Event-Name", "CHANNEL_ANSWER"),
                ("Caller-Caller-ID-Name", "Outbound Call"),
                ("Unique-ID", "abc"),
                ("variable_sip_full_to", "<sip:2000@192.0.2.2>"),
                ("Weird", "100%"),
            ]
        );
        // Changing a parsed event keeps every other value, decoded.
        let mut changed = event.clone();
        changed.push_header("Added", "a%20b");
        changed.set_header("Unique-ID", "def");
        changed.remove_header("Weird");
        assert_eq!(
            changed.headers().collect::<Vec<_>>(),
            vec![
                ("Event-Name", "CHANNEL_ANSWER"),
                ("Caller-Caller-ID-Name", "Outbound Call"),
                ("Unique-ID", "def"),
                ("variable_sip_full_to", "<sip:2000@192.0.2.2>"),
                ("Added", "a%20b"),
            ]
        );
        assert_eq!(event.unique_id(), Some("abc"), "the original is unchanged");
    }

    #[test]
    fn a_head_that_is_not_utf8_is_read_piece_by_piece() {
        let payload = Bytes::from_static(b"Event-Name: X\nBad\xff: v\xfe%41\nOk: %C3%A9\n\n");
        let event = Event::parse_plain(&payload).unwrap();
        assert_eq!(
            event.headers().collect::<Vec<_>>(),
            vec![
                ("Event-Name", "X"),
                ("Bad\u{fffd}", "v\u{fffd}A"),
                ("Ok", "\u{e9}"),
            ]
        );
    }

    #[test]
    fn known_headers_are_looked_up_as_any_header() {
        // Spelled in other cases, duplicated, absent, after colon-less
        // lines: the typed accessors and `header` agree with a scan of
        // every header, and a repeated lookup (answered from its note)
        // gives the same answer.
        let payload = Bytes::from_static(
            b"event-name: CUSTOM\nno colon here\nEVENT-SUBCLASS: conference%3A%3Amaintenance\n\
              Unique-Id: first\nUnique-ID: second\nCore-UUID: core\n\
              Event-Sequence: 42\nJob-UUIDs: not-it\n\n",
        );
        for order in 0..3 {
            let event = Event::parse_plain(&payload).unwrap();
            if order == 1 {
                // The whole block scanned first: the notes come after.
                assert_eq!(event.len(), 7);
            }
            for _ in 0..2 {
                assert_eq!(event.name(), Some("CUSTOM"));
                assert_eq!(event.subclass(), Some("conference::maintenance"));
                assert_eq!(event.unique_id(), Some("first"));
                assert_eq!(event.header("UNIQUE-id"), Some("first"));
                assert_eq!(event.core_uuid(), Some("core"));
                assert_eq!(event.sequence(), Some(42));
                assert_eq!(event.job_uuid(), None);
                assert_eq!(event.application_uuid(), None);
                assert_eq!(event.hangup_cause(), None);
                assert_eq!(event.header("Job-UUIDs"), Some("not-it"));
                assert!(event.is("custom conference::maintenance"));
            }
            if order == 2 {
                assert_eq!(event.len(), 7);
                assert_eq!(event.header_all("unique-id").count(), 2);
            }
            let clone = event.clone();
            assert_eq!(clone.unique_id(), Some("first"));
            assert_eq!(clone, event);
        }
    }

    proptest! {
        #[test]
        fn decoding_matches_percent_decode(v in proptest::collection::vec(
            prop_oneof![Just(b'%'), Just(b'4'), Just(b'1'), Just(b'f'), Just(b'G'), any::<u8>()],
            0..40,
        )) {
            // Line ends would end the value: the reference reading covers them.
            let v: Vec<u8> = v.into_iter().filter(|b| !matches!(b, b'\n' | b'\r')).collect();
            let skip = v.iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
            let v = &v[skip..];
            let want = percent_encoding::percent_decode(v).decode_utf8_lossy().into_owned();
            prop_assert_eq!(decoded(v), want.into_bytes());
        }

        #[test]
        fn plain_payload_parse_matches_the_reference_reading(payload in proptest::collection::vec(
            prop_oneof![
                Just(b'\n'), Just(b'\r'), Just(b':'), Just(b' '), Just(b'%'),
                Just(b'4'), Just(b'1'), Just(b'a'), Just(b'Z'), any::<u8>(),
            ],
            0..120,
        )) {
            // The reference: the head ends at the first blank line, each
            // line is read on its own, values decoded lossily.
            let head_end = memchr::memmem::find(&payload, b"\n\n").unwrap_or(payload.len());
            let mut want = Vec::new();
            for line in payload[..head_end].split(|b| *b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if let Some(colon) = line.iter().position(|b| *b == b':') {
                    let mut value = &line[colon + 1..];
                    while let [b' ' | b'\t', rest @ ..] = value {
                        value = rest;
                    }
                    want.push((
                        String::from_utf8_lossy(&line[..colon]).into_owned(),
                        percent_encoding::percent_decode(value).decode_utf8_lossy().into_owned(),
                    ));
                }
            }
            if want.last().is_some_and(|(n, _)| n == "Content-Length") {
                // The body rules apply; other tests cover them.
                return Ok(());
            }
            let event = Event::parse_plain(&Bytes::from(payload.clone())).unwrap();
            // Lookups first, last name first (each scans the lazy index
            // further, or finds what an earlier one scanned): the first
            // header of that name, ignoring case.
            prop_assert_eq!(event.is_empty(), want.is_empty());
            for (name, _) in want.iter().rev() {
                let first = want.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
                prop_assert_eq!(event.header(name), first);
            }
            prop_assert_eq!(event.header("No-Such-Header"), None);
            let got: Vec<(String, String)> = event
                .headers()
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect();
            prop_assert_eq!(got, want);
        }

        #[test]
        fn known_header_lookups_match_a_scan_of_every_header(
            lines in proptest::collection::vec(
                (0usize..KNOWN.len() + 2, any::<u32>(), "[a-z%0-9]{0,6}"),
                0..14,
            ),
            lookups in proptest::collection::vec((0usize..KNOWN.len(), any::<bool>()), 0..12),
            finish_first in any::<bool>(),
        ) {
            // Names: the known ones (case flipped by the bits of the
            // number), and two others of a known name's length.
            let mut block = Vec::new();
            let mut every = Vec::new();
            for (k, case, value) in &lines {
                let name = match *k {
                    k if k < KNOWN.len() => KNOWN[k],
                    k if k == KNOWN.len() => "Event-Nome",
                    _ => "Core-UUIX",
                };
                let name: String = name
                    .chars()
                    .enumerate()
                    .map(|(i, c)| if case >> (i % 32) & 1 == 1 { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
                    .collect();
                block.extend_from_slice(name.as_bytes());
                block.extend_from_slice(b": ");
                block.extend_from_slice(value.as_bytes());
                block.push(b'\n');
                let decoded = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
                every.push((name, decoded.into_owned()));
            }
            block.push(b'\n');
            let event = Event::parse_plain(&Bytes::from(block)).unwrap();
            if finish_first {
                prop_assert_eq!(event.len(), every.len());
            }
            for (k, typed) in lookups {
                let want = every.iter().find(|(n, _)| n.eq_ignore_ascii_case(KNOWN[k])).map(|(_, v)| v.as_str());
                let got = if typed { event.known_header(k) } else { event.header(&KNOWN[k].to_ascii_uppercase()) };
                prop_assert_eq!(got, want, "{}", KNOWN[k]);
            }
            prop_assert_eq!(event.header("Event-Nome"), every.iter().find(|(n, _)| n.eq_ignore_ascii_case("Event-Nome")).map(|(_, v)| v.as_str()));
        }

        #[test]
        fn plain_parse_matches_line_by_line_decoding(lines in proptest::collection::vec(
            ("[A-Za-z_-]{0,12}", proptest::collection::vec(
                prop_oneof![Just(b'%'), Just(b':'), Just(b' '), Just(b'\r'), Just(b'A'), Just(b'7'), any::<u8>()],
                0..24,
            )),
            0..12,
        )) {
            let mut block = Vec::new();
            let mut want = Vec::new();
            for (name, value) in &lines {
                let value: Vec<u8> = value.iter().copied().filter(|b| *b != b'\n').collect();
                block.extend_from_slice(name.as_bytes());
                block.extend_from_slice(b": ");
                block.extend_from_slice(&value);
                block.push(b'\n');
            }
            // The reference: the straightforward line-by-line reading.
            for line in block.split(|b| *b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if let Some(colon) = line.iter().position(|b| *b == b':') {
                    let mut value = &line[colon + 1..];
                    while let [b' ' | b'\t', rest @ ..] = value {
                        value = rest;
                    }
                    let value: Vec<u8> = percent_encoding::percent_decode(value).collect();
                    want.push((
                        String::from_utf8_lossy(&line[..colon]).into_owned(),
                        String::from_utf8_lossy(&value).into_owned(),
                    ));
                }
            }
            let event = Event::parse_encoded_block(&block);
            let got: Vec<(String, String)> = event
                .headers()
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect();
            prop_assert_eq!(got, want);
        }
    }
}
