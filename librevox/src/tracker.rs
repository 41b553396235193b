//! [`ChannelTracker`]: a switch's live channels, kept from its CHANNEL_*
//! events and resynchronised with `show channels as json` after every
//! (re)connect.
//!
//! Feed it from an inbound listener: every event to
//! [`handle_event`](ChannelTracker::handle_event), and
//! [`resync`](ChannelTracker::resync) in `connection_completed` (it runs
//! after every handshake, so after every reconnect too: what happened while
//! the socket was down is read back from the switch).
//!
//! ```no_run
//! use librevox::prelude::*;
//! use librevox::tracker::ChannelTracker;
//! use librevox::{inbound, start};
//!
//! struct Calls {
//!     tracker: ChannelTracker,
//! }
//!
//! #[inbound(events = ["ALL"])]
//! impl Calls {
//!     async fn connection_completed(&self, ctx: &Inbound) {
//!         if let Err(e) = self.tracker.resync(ctx.connection()).await {
//!             eprintln!("resync failed: {e}");
//!         }
//!     }
//!
//!     async fn on_event(&self, e: &Event) {
//!         self.tracker.handle_event(e);
//!     }
//! }
//!
//! # async fn f() -> librevox::Result<()> {
//! let tracker = ChannelTracker::new().with_variables(["sip_call_id"]);
//! let calls = Calls { tracker: tracker.clone() };
//! tokio::spawn(async move { start!(Calls(port = 8021) = calls).await });
//! // ... elsewhere:
//! for ch in tracker.channels() {
//!     println!("{} {:?} answered at {:?}", ch.uuid, ch.state, ch.answered_at);
//! }
//! # Ok(()) }
//! ```
//!
//! # What it keeps, and how exactly
//! * A channel appears with the first CHANNEL_* event naming its
//!   `Unique-ID` (not necessarily CHANNEL_CREATE: the real switch can deliver
//!   a channel's CHANNEL_ANSWER first) and goes with CHANNEL_HANGUP_COMPLETE
//!   or CHANNEL_DESTROY (or a `Channel-State` of `CS_DESTROY`). A late event
//!   of a channel that went does not bring it back (the last 4,096 gone
//!   UUIDs are remembered).
//! * Each CHANNEL_* event carries the channel's data; a field is taken from
//!   the event with the highest `Event-Sequence` seen for that channel, so a
//!   late-delivered older event does not roll a field back.
//! * `bridged_to` is set on both legs by CHANNEL_BRIDGE
//!   (`Other-Leg-Unique-ID`) and cleared by CHANNEL_UNBRIDGE; after a resync
//!   it comes from the channel's `bridge_uuid` variable.
//! * A resync lists the channels (`show channels as json`) and reads each
//!   one's data (`uuid_dump <uuid> json`); channels the switch no longer has
//!   are dropped. Events handled while a resync runs win over its snapshot
//!   (they are newer), and a channel that went meanwhile stays gone.
//! * FreeSWITCH answers `show channels` from its core database, which it
//!   writes from the channel events in batches (on 1.11.3 a parked call is
//!   listed 100–300 ms after `originate` answered, and still listed as long
//!   after its CHANNEL_DESTROY). A channel created just before the
//!   subscription can therefore be missing from the first list, while none
//!   of its events reach the tracker. So a resync lists the channels twice:
//!   at once, and again [`DEFAULT_SETTLE`] later (in the background, while
//!   events keep flowing; [`ChannelTracker::with_settle`]), when every channel
//!   that existed before the subscription is listed. The second list adds
//!   what the first missed and drops what the switch no longer has, with the
//!   same rule: events handled since the resync began win.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::protocol::{CallState, ChannelState, Event};

/// How many gone channel UUIDs are remembered, so their late events are ignored.
const GONE_MEMORY: usize = 4096;

/// How long after a resync's first list it lists the switch's channels
/// again (see [the module](self)): longer than FreeSWITCH's core database
/// takes to write a new channel (100–300 ms measured on 1.11.3, idle).
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(1);

/// One live channel, as the tracker knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrackedChannel {
    /// `Unique-ID`.
    pub uuid: String,
    /// `Channel-Name` (`sofia/internal/1000@example.com`).
    pub name: Option<String>,
    /// `Call-Direction` (`inbound`, `outbound`).
    pub direction: Option<String>,
    /// `Channel-State` (`CS_EXECUTE`, ...).
    pub state: Option<ChannelState>,
    /// `Channel-Call-State` (`RINGING`, `ACTIVE`, `HELD`, ...).
    pub call_state: Option<CallState>,
    /// The caller: `Caller-Caller-ID-Name`.
    pub caller_name: Option<String>,
    /// The caller: `Caller-Caller-ID-Number`.
    pub caller_number: Option<String>,
    /// The callee as dialled: `Caller-Destination-Number`.
    pub callee_number: Option<String>,
    /// The callee's name, when the switch knows it: `Caller-Callee-ID-Name`.
    pub callee_name: Option<String>,
    /// When it was answered (`Caller-Channel-Answered-Time`), if it was.
    pub answered_at: Option<SystemTime>,
    /// The UUID of the channel it is bridged to.
    pub bridged_to: Option<String>,
    /// The variables asked for with [`ChannelTracker::with_variables`] that
    /// the channel has, by name.
    pub variables: BTreeMap<String, String>,
    /// The highest `Event-Sequence` applied (0: only a resync's data).
    pub sequence: u64,
}

impl TrackedChannel {
    fn new(uuid: &str) -> TrackedChannel {
        TrackedChannel {
            uuid: uuid.to_owned(),
            name: None,
            direction: None,
            state: None,
            call_state: None,
            caller_name: None,
            caller_number: None,
            callee_number: None,
            callee_name: None,
            answered_at: None,
            bridged_to: None,
            variables: BTreeMap::new(),
            sequence: 0,
        }
    }

    /// Takes every field the event (or a channel dump) carries.
    fn update(&mut self, e: &Event, wanted: &[String]) {
        let text = |h: &str| e.header(h).filter(|v| !v.is_empty()).map(str::to_owned);
        macro_rules! take {
            ($field:ident, $header:expr) => {
                if let Some(v) = text($header) {
                    self.$field = Some(v);
                }
            };
        }
        take!(name, "Channel-Name");
        take!(direction, "Call-Direction");
        take!(caller_name, "Caller-Caller-ID-Name");
        take!(caller_number, "Caller-Caller-ID-Number");
        take!(callee_number, "Caller-Destination-Number");
        take!(callee_name, "Caller-Callee-ID-Name");
        if let Some(s) = e.channel_state() {
            self.state = Some(s);
        }
        if let Some(s) = e.call_state() {
            self.call_state = Some(s);
        }
        if let Some(at) = e
            .header("Caller-Channel-Answered-Time")
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|&us| us > 0)
        {
            self.answered_at = Some(UNIX_EPOCH + Duration::from_micros(at));
        }
        for name in wanted {
            if let Some(v) = e.variable(name) {
                self.variables.insert(name.clone(), v.to_owned());
            }
        }
    }
}

#[derive(Debug, Default)]
struct State {
    channels: HashMap<String, TrackedChannel>,
    gone: HashSet<String>,
    gone_order: VecDeque<String>,
    /// From the start of a resync until its second list: the UUIDs events
    /// touched.
    touched: Option<HashSet<String>>,
    /// Counts resyncs; a second list applies only if no resync began since
    /// its first.
    generation: u64,
}

impl State {
    fn forget(&mut self, uuid: &str) {
        self.channels.remove(uuid);
        if self.gone.insert(uuid.to_owned()) {
            self.gone_order.push_back(uuid.to_owned());
            if self.gone_order.len() > GONE_MEMORY {
                if let Some(old) = self.gone_order.pop_front() {
                    self.gone.remove(&old);
                }
            }
        }
    }

    fn touch(&mut self, uuid: &str) {
        if let Some(t) = &mut self.touched {
            t.insert(uuid.to_owned());
        }
    }
}

/// A switch's live channels (see [the module](self)). Cloning gives another
/// handle to the same channels.
#[derive(Debug, Clone, Default)]
pub struct ChannelTracker {
    state: Arc<Mutex<State>>,
    variables: Arc<[String]>,
    /// The delay of a resync's second list (`None`: [`DEFAULT_SETTLE`]).
    settle: Option<Duration>,
    /// One resync at a time.
    resync: Arc<tokio::sync::Mutex<()>>,
}

/// The events the tracker reads, for a listener that subscribes to fewer
/// than `ALL`.
pub const TRACKED_EVENTS: &[&str] = &[
    "CHANNEL_CREATE",
    "CHANNEL_STATE",
    "CHANNEL_CALLSTATE",
    "CHANNEL_PROGRESS",
    "CHANNEL_PROGRESS_MEDIA",
    "CHANNEL_ANSWER",
    "CHANNEL_BRIDGE",
    "CHANNEL_UNBRIDGE",
    "CHANNEL_HOLD",
    "CHANNEL_UNHOLD",
    "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_DESTROY",
];

impl ChannelTracker {
    /// An empty tracker that keeps no variables.
    pub fn new() -> ChannelTracker {
        ChannelTracker::default()
    }

    /// Keeps these channel variables (`sip_call_id`, without `variable_`)
    /// in [`TrackedChannel::variables`]. Set before the tracker is fed.
    pub fn with_variables<I, S>(mut self, names: I) -> ChannelTracker
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.variables = names.into_iter().map(Into::into).collect();
        self
    }

    /// How long after its first list a resync lists the switch's channels
    /// again (default [`DEFAULT_SETTLE`]; zero: no second list, for a switch
    /// that answers `show channels` from memory, as the simulator does).
    pub fn with_settle(mut self, settle: Duration) -> ChannelTracker {
        self.settle = Some(settle);
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps inconsistent
        // (each update is one insert or remove): keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies one event; anything but a CHANNEL_* event with a `Unique-ID`
    /// is ignored.
    pub fn handle_event(&self, e: &Event) {
        let Some(name) = e.name() else { return };
        if !name.starts_with("CHANNEL_") {
            return;
        }
        let Some(uuid) = e.unique_id().filter(|u| !u.is_empty()) else {
            return;
        };
        let mut st = self.lock();
        st.touch(uuid);
        if st.gone.contains(uuid) {
            return;
        }
        let ends = matches!(name, "CHANNEL_HANGUP_COMPLETE" | "CHANNEL_DESTROY")
            || e.header("Channel-State") == Some("CS_DESTROY");
        if ends {
            let partner = st.channels.get(uuid).and_then(|c| c.bridged_to.clone());
            st.forget(uuid);
            if let Some(p) = partner {
                if let Some(other) = st.channels.get_mut(&p) {
                    if other.bridged_to.as_deref() == Some(uuid) {
                        other.bridged_to = None;
                    }
                }
            }
            return;
        }
        let seq = e.sequence().unwrap_or(0);
        let other = e
            .header("Other-Leg-Unique-ID")
            .filter(|v| !v.is_empty())
            .map(str::to_owned);
        let ch = st
            .channels
            .entry(uuid.to_owned())
            .or_insert_with(|| TrackedChannel::new(uuid));
        if seq == 0 || seq > ch.sequence {
            ch.update(e, &self.variables);
            ch.sequence = ch.sequence.max(seq);
        }
        // The other leg: (its UUID, whether it is now bridged to this one).
        let link = match name {
            "CHANNEL_BRIDGE" => other.map(|o| {
                ch.bridged_to = Some(o.clone());
                (o, true)
            }),
            "CHANNEL_UNBRIDGE" => ch.bridged_to.take().or(other).map(|o| (o, false)),
            _ => None,
        };
        if let Some((o, bridged)) = link {
            if let Some(leg) = st.channels.get_mut(&o) {
                if bridged {
                    leg.bridged_to = Some(uuid.to_owned());
                } else if leg.bridged_to.as_deref() == Some(uuid) {
                    leg.bridged_to = None;
                }
            }
        }
    }

    /// Reads the switch's channels back (`show channels as json`, then
    /// `uuid_dump <uuid> json` for each) and replaces what the tracker
    /// holds; returns how many channels it holds after. Call it after every
    /// (re)connect. A channel that ends between the list and its dump is
    /// skipped.
    ///
    /// The channels are listed again after the settle delay
    /// ([`with_settle`](Self::with_settle)), in a task of its own on `conn`,
    /// for what the switch's database had not written yet (see [the
    /// module](self)); if that fails (the connection went), it is logged, and
    /// the next (re)connect's resync repairs the tracker.
    pub async fn resync(&self, conn: &Connection) -> Result<usize> {
        let one = self.resync.lock().await;
        let generation = {
            let mut st = self.lock();
            st.generation += 1;
            st.touched = Some(HashSet::new());
            st.generation
        };
        let result = self.snapshot(conn).await;
        let settle = self.settle.unwrap_or(DEFAULT_SETTLE);
        let n = self.apply(result, generation, settle.is_zero())?;
        drop(one);
        if !settle.is_zero() {
            let again = self.clone();
            let conn = conn.clone();
            tokio::spawn(async move {
                tokio::time::sleep(settle).await;
                let _one = again.resync.lock().await;
                if again.lock().generation != generation {
                    return; // a newer resync took over
                }
                let result = again.snapshot(&conn).await;
                if let Err(e) = again.apply(result, generation, true) {
                    tracing::warn!(
                        "channel tracker: the resync's second list failed ({e}); \
                         the next reconnect resyncs again"
                    );
                }
            });
        }
        Ok(n)
    }

    /// Replaces the channels with a snapshot, except those events touched
    /// since the resync began; `last` ends the touched-tracking.
    fn apply(
        &self,
        snapshot: Result<Vec<TrackedChannel>>,
        generation: u64,
        last: bool,
    ) -> Result<usize> {
        let mut st = self.lock();
        if st.generation != generation {
            return Ok(st.channels.len());
        }
        let touched = if last || snapshot.is_err() {
            st.touched.take().unwrap_or_default()
        } else {
            st.touched.clone().unwrap_or_default()
        };
        let snapshot = snapshot?;
        let mut fresh: HashMap<String, TrackedChannel> = snapshot
            .into_iter()
            .filter(|c| !st.gone.contains(&c.uuid))
            .map(|c| (c.uuid.clone(), c))
            .collect();
        for uuid in &touched {
            if let Some(current) = st.channels.get(uuid) {
                fresh.insert(uuid.clone(), current.clone());
            } else {
                fresh.remove(uuid);
            }
        }
        st.channels = fresh;
        Ok(st.channels.len())
    }

    async fn snapshot(&self, conn: &Connection) -> Result<Vec<TrackedChannel>> {
        let list = conn.api("show channels as json").await?;
        let uuids = channel_uuids(&list.text())?;
        let mut out = Vec::with_capacity(uuids.len());
        for uuid in uuids {
            let dump = match conn.api(&format!("uuid_dump {uuid} json")).await {
                Ok(d) => d,
                // Gone between the list and the dump.
                Err(Error::CommandFailed { .. }) => continue,
                Err(e) => return Err(e),
            };
            let body = Bytes::copy_from_slice(dump.body());
            // FreeSWITCH answers JSON; the simulator answers its plain form.
            let event = if body.first() == Some(&b'{') {
                Event::parse_json(&body)
            } else {
                Event::parse_plain(&body)
            };
            let Ok(event) = event else {
                return Err(Error::protocol(format!(
                    "uuid_dump {uuid}: an answer that is neither JSON nor headers"
                )));
            };
            let mut ch = TrackedChannel::new(&uuid);
            ch.update(&event, &self.variables);
            ch.bridged_to = event
                .variable("bridge_uuid")
                .filter(|v| !v.is_empty())
                .map(str::to_owned);
            out.push(ch);
        }
        Ok(out)
    }

    /// One channel by UUID.
    pub fn get(&self, uuid: &str) -> Option<TrackedChannel> {
        self.lock().channels.get(uuid).cloned()
    }

    /// Every live channel, ordered by UUID.
    pub fn channels(&self) -> Vec<TrackedChannel> {
        let mut v: Vec<TrackedChannel> = self.lock().channels.values().cloned().collect();
        v.sort_by(|a, b| a.uuid.cmp(&b.uuid));
        v
    }

    /// How many live channels.
    pub fn len(&self) -> usize {
        self.lock().channels.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The `uuid` of every row of `show channels as json`
/// (`{"row_count":N,"rows":[{"uuid":...},...]}`, or `{"row_count":0}`).
fn channel_uuids(text: &str) -> Result<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Rows {
        #[serde(default)]
        rows: Vec<Row>,
    }
    #[derive(serde::Deserialize)]
    struct Row {
        uuid: String,
    }
    let rows: Rows = serde_json::from_str(text.trim()).map_err(|e| {
        Error::protocol(format!(
            "`show channels as json` answered something that is not its JSON: {e}"
        ))
    })?;
    Ok(rows
        .rows
        .into_iter()
        .map(|r| r.uuid)
        .filter(|u| !u.is_empty())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(name: &str, uuid: &str, seq: u64, extra: &[(&str, &str)]) -> Event {
        let mut e = Event::new(name)
            .with_header("Unique-ID", uuid)
            .with_header("Event-Sequence", &seq.to_string());
        for (k, v) in extra {
            e.push_header(k, v);
        }
        e
    }

    #[test]
    fn answer_before_create_and_a_late_old_event_do_not_roll_back() {
        let t = ChannelTracker::new().with_variables(["sip_call_id"]);
        t.handle_event(&ev(
            "CHANNEL_ANSWER",
            "a",
            11,
            &[
                ("Channel-Call-State", "ACTIVE"),
                ("Caller-Channel-Answered-Time", "1700000000000000"),
                ("variable_sip_call_id", "cid-1"),
            ],
        ));
        t.handle_event(&ev(
            "CHANNEL_CREATE",
            "a",
            10,
            &[
                ("Channel-Call-State", "DOWN"),
                ("Caller-Caller-ID-Number", "1000"),
            ],
        ));
        let a = t.get("a").unwrap();
        assert_eq!(a.call_state, Some(CallState::from("ACTIVE")));
        assert_eq!(a.caller_number, None, "the older event was not applied");
        assert_eq!(
            a.answered_at,
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        assert_eq!(a.variables["sip_call_id"], "cid-1");
        assert_eq!(a.sequence, 11);
    }

    #[test]
    fn bridge_links_both_legs_and_the_end_forgets_the_channel_for_good() {
        let t = ChannelTracker::new();
        t.handle_event(&ev("CHANNEL_CREATE", "a", 1, &[]));
        t.handle_event(&ev("CHANNEL_CREATE", "b", 2, &[]));
        t.handle_event(&ev(
            "CHANNEL_BRIDGE",
            "a",
            3,
            &[("Other-Leg-Unique-ID", "b")],
        ));
        assert_eq!(t.get("a").unwrap().bridged_to.as_deref(), Some("b"));
        assert_eq!(t.get("b").unwrap().bridged_to.as_deref(), Some("a"));
        t.handle_event(&ev("CHANNEL_HANGUP_COMPLETE", "b", 4, &[]));
        assert_eq!(t.get("b"), None);
        assert_eq!(t.get("a").unwrap().bridged_to, None);
        t.handle_event(&ev("CHANNEL_STATE", "b", 5, &[]));
        assert_eq!(t.get("b"), None, "a late event of a gone channel");
        assert_eq!(t.len(), 1);
        t.handle_event(&Event::new("HEARTBEAT"));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn show_channels_json_both_shapes() {
        assert_eq!(
            channel_uuids("{\"row_count\":0}\n").unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            channel_uuids(
                "{\"row_count\":2,\"rows\":[{\"uuid\":\"x\",\"name\":\"n\"},{\"uuid\":\"y\"}]}"
            )
            .unwrap(),
            ["x", "y"]
        );
        assert!(channel_uuids("-ERR no").is_err());
    }
}
