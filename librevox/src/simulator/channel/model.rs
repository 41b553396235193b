//! A channel as the rest of the switch sees it: its data behind a lock, its
//! private message queue, and the state changes it announces with events
//! (§4.1). The channel's own thread is the runner (`runner.rs`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};

use super::data::ChanData;
use crate::protocol::{AnswerState, CallState, ChannelState, Event, HangupCause};
use crate::simulator::bus::Out;
use crate::simulator::core::{Core, Src};
use crate::simulator::order;
use crate::simulator::state::number_text;
use crate::simulator::sync::lock;

pub(crate) const STATE_SRC: Src = (
    "switch_channel.c",
    "switch_channel_perform_set_running_state",
    2409,
);

/// A `sendmsg` as queued to a channel.
#[derive(Debug, Clone)]
pub(crate) struct SendMsgData {
    /// The `Command` header value (§1.2).
    pub(crate) command: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Option<Bytes>,
}

impl SendMsgData {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Items of a channel's private queue.
pub(crate) enum ChanMsg {
    SendMsg(SendMsgData),
    /// A `sendevent` with this channel's `Unique-ID` (queued form, name).
    Event(Event, String),
}

/// A sendmsg run inline by a sync socket, and who waits for it.
pub(crate) type Inline = (SendMsgData, oneshot::Sender<()>);

/// The receiving ends a channel's runner owns.
pub(crate) struct Receivers {
    pub(crate) queue: mpsc::UnboundedReceiver<ChanMsg>,
    pub(crate) dtmf: mpsc::UnboundedReceiver<char>,
    pub(crate) down: watch::Receiver<bool>,
}

/// A simulated channel.
pub(crate) struct Channel {
    pub(crate) uuid: String,
    data: Mutex<ChanData>,
    queue_tx: mpsc::UnboundedSender<ChanMsg>,
    inline_tx: Mutex<Option<mpsc::UnboundedSender<Inline>>>,
    down_tx: watch::Sender<bool>,
    dtmf_tx: mpsc::UnboundedSender<char>,
    /// Sockets holding the channel (it is destroyed once none does, §5.5).
    holds: watch::Sender<usize>,
    markers_sent: AtomicBool,
    destroyed: AtomicBool,
    /// Set once answered (an originated loopback A leg waits for it).
    answered_tx: watch::Sender<bool>,
    /// The other leg of a loopback pair: hangup and answer spread to it.
    partner: OnceLock<Weak<Channel>>,
}

/// What a channel looks like from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSnapshot {
    /// `Unique-ID`.
    pub uuid: String,
    /// `Channel-Name`.
    pub name: String,
    /// The running state (`CS_EXECUTE`, ...).
    pub state: String,
    /// The call state (`RINGING`, `ACTIVE`, ...).
    pub call_state: String,
    /// `Answer-State`.
    pub answer_state: String,
    /// The hangup cause, once hung up.
    pub hangup_cause: Option<String>,
    /// Channel variables in order.
    pub variables: Vec<(String, String)>,
    /// Caller ID name of the caller profile.
    pub caller_id_name: String,
    /// Caller ID number of the caller profile.
    pub caller_id_number: String,
    /// Destination number of the caller profile.
    pub destination: String,
    /// Dialplan context.
    pub context: String,
    /// Creation time, microseconds since the Unix epoch.
    pub created_us: u64,
}

impl ChannelSnapshot {
    /// A channel variable.
    pub fn variable(&self, name: &str) -> Option<&str> {
        self.variables
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Channel {
    /// A channel with this data, and the receivers its runner owns.
    pub(crate) fn new(uuid: String, data: ChanData) -> (Arc<Channel>, Receivers) {
        let (queue_tx, queue) = mpsc::unbounded_channel();
        let (dtmf_tx, dtmf) = mpsc::unbounded_channel();
        let (down_tx, down) = watch::channel(false);
        let (holds, _) = watch::channel(0usize);
        let (answered_tx, _) = watch::channel(false);
        let ch = Arc::new(Channel {
            uuid,
            data: Mutex::new(data),
            queue_tx,
            inline_tx: Mutex::new(None),
            down_tx,
            dtmf_tx,
            holds,
            markers_sent: AtomicBool::new(false),
            destroyed: AtomicBool::new(false),
            answered_tx,
            partner: OnceLock::new(),
        });
        (ch, Receivers { queue, dtmf, down })
    }

    /// Pairs two loopback legs: from now on, a hangup of either hangs the
    /// other up with the same cause, and answering one answers the other
    /// (as `mod_loopback` does).
    pub(crate) fn pair(a: &Arc<Channel>, b: &Arc<Channel>) {
        let _ = a.partner.set(Arc::downgrade(b));
        let _ = b.partner.set(Arc::downgrade(a));
    }

    /// The other loopback leg, while it exists.
    fn partner(&self) -> Option<Arc<Channel>> {
        self.partner.get().and_then(Weak::upgrade)
    }

    /// Watches whether the channel has been answered.
    pub(crate) fn answered(&self) -> watch::Receiver<bool> {
        self.answered_tx.subscribe()
    }

    /// Runs `f` on the channel's data, under its lock.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut ChanData) -> R) -> R {
        f(&mut lock(&self.data))
    }

    pub(crate) fn name(&self) -> String {
        self.with(|d| d.name.clone())
    }

    pub(crate) fn snapshot(&self) -> ChannelSnapshot {
        let d = lock(&self.data);
        ChannelSnapshot {
            uuid: self.uuid.clone(),
            name: d.name.clone(),
            state: d.running.as_str().to_owned(),
            call_state: d.callstate.as_str().to_owned(),
            answer_state: d.answer_state.as_str().to_owned(),
            hangup_cause: d.hangup_cause.as_ref().map(HangupCause::to_string),
            variables: d.vars.clone(),
            caller_id_name: d.caller_id_name.clone(),
            caller_id_number: d.caller_id_number.clone(),
            destination: d.destination.clone(),
            context: d.context.clone(),
            created_us: d.times.created,
        }
    }

    pub(crate) fn is_down(&self) -> bool {
        *self.down_tx.borrow()
    }

    pub(crate) fn is_destroyed(&self) -> bool {
        self.destroyed.load(Ordering::SeqCst)
    }

    pub(crate) fn set_destroyed(&self) {
        self.destroyed.store(true, Ordering::SeqCst);
    }

    /// A socket holds the channel (its destruction waits for the release).
    pub(crate) fn hold(&self) {
        self.holds.send_modify(|h| *h += 1);
    }

    pub(crate) fn release(&self) {
        self.holds.send_modify(|h| *h = h.saturating_sub(1));
    }

    /// Watches the number of sockets holding the channel.
    pub(crate) fn holds(&self) -> watch::Receiver<usize> {
        self.holds.subscribe()
    }

    pub(crate) fn queue(&self, msg: ChanMsg) {
        let _ = self.queue_tx.send(msg);
    }

    /// Runs a sendmsg inline on a sync socket; false when no sync socket
    /// application is running.
    pub(crate) fn inline(&self, msg: SendMsgData, done: oneshot::Sender<()>) -> bool {
        match lock(&self.inline_tx).as_ref() {
            Some(tx) => tx.send((msg, done)).is_ok(),
            None => false,
        }
    }

    /// Where a sync socket's inline sendmsgs go (`None`: none runs).
    pub(crate) fn set_inline(&self, tx: Option<mpsc::UnboundedSender<Inline>>) {
        *lock(&self.inline_tx) = tx;
    }

    pub(crate) fn send_dtmf(&self, digits: &str) {
        for c in digits.chars() {
            let _ = self.dtmf_tx.send(c);
        }
    }

    pub(crate) fn var(&self, name: &str) -> Option<String> {
        self.with(|d| d.var(name).map(str::to_owned))
    }

    /// Sets a variable (moving it to the end); an empty value unsets it.
    pub(crate) fn set_var(&self, name: &str, value: &str) {
        self.with(|d| d.set_var(name, value));
    }

    /// Appends the channel data of §4.1 to an event.
    pub(crate) fn push_channel_data(&self, e: &mut Event, with_vars: bool) {
        lock(&self.data).push_channel_data(&self.uuid, e, with_vars);
    }

    /// A channel event: standard headers, channel data, and the extra
    /// headers after it.
    pub(crate) fn event(
        &self,
        core: &Core,
        name: &str,
        src: Src,
        vars: bool,
        extra: &[(&str, &str)],
    ) -> Event {
        let mut e = core.base_event(name, src);
        self.push_channel_data(&mut e, vars);
        for (n, v) in extra {
            e.push_header(n, v);
        }
        e
    }

    /// Fires a channel event (see [`Channel::event`]).
    pub(crate) fn fire(
        &self,
        core: &Core,
        name: &str,
        src: Src,
        vars: bool,
        extra: &[(&str, &str)],
    ) {
        core.fire(self.event(core, name, src, vars, extra));
    }

    /// The CHANNEL_DATA event of the `connect` reply (§5.2).
    pub(crate) fn channel_data_event(&self, core: &Core) -> Event {
        let mut e = core.base_event(
            "CHANNEL_DATA",
            ("mod_event_socket.c", "parse_command", 2029),
        );
        {
            let d = lock(&self.data);
            d.push_profile(&self.uuid, "Channel-", &mut e);
            d.push_channel_data(&self.uuid, &mut e, true);
        }
        e
    }

    /// Sets the state and the running state, and fires CHANNEL_STATE.
    pub(crate) fn set_state(&self, core: &Core, state: ChannelState) {
        self.with(|d| {
            d.state = state.clone();
            d.running = state;
        });
        self.fire_state(core);
    }

    /// Fires CHANNEL_STATE for the state as it is.
    pub(crate) fn fire_state(&self, core: &Core) {
        self.fire(core, "CHANNEL_STATE", STATE_SRC, false, &[]);
    }

    /// Sets the call state and fires CHANNEL_CALLSTATE.
    pub(crate) fn set_callstate(&self, core: &Core, callstate: CallState) {
        let number = number_text(callstate.number());
        let orig = self.with(|d| std::mem::replace(&mut d.callstate, callstate));
        let mut e = core.base_event(
            "CHANNEL_CALLSTATE",
            (
                "switch_channel.c",
                "switch_channel_perform_set_callstate",
                302,
            ),
        );
        e.push_header("Original-Channel-Call-State", orig.as_str());
        e.push_header("Channel-Call-State-Number", &number);
        self.push_channel_data(&mut e, false);
        core.fire(e);
    }

    /// Hangs the channel up. `external`: called from another thread than the
    /// channel's own (uuid_kill, the caller), so a controlling socket notices
    /// at once; otherwise it notices after the channel finished hanging up.
    pub(crate) fn hangup(&self, core: &Core, cause: HangupCause, external: bool) -> bool {
        let first = self.with(|d| {
            if d.hangup_cause.is_some() {
                return false;
            }
            d.hangup_cause = Some(cause.clone());
            d.state = ChannelState::Hangup;
            d.answer_state = AnswerState::Hangup;
            true
        });
        if !first {
            return false;
        }
        let call = core.cfg.call_order(&self.uuid);
        if order::notice_at_hangup(call, true) {
            // The sync socket's notice overtakes the hangup's events.
            core.send_to_session(&self.uuid, true, || Out::Down);
        }
        if order::notice_at_hangup(call, false) {
            // So does the async socket's, with a dispatch lag.
            self.push_markers(core);
        }
        self.fire(
            core,
            "CHANNEL_HANGUP",
            ("switch_channel.c", "switch_channel_perform_hangup", 3447),
            true,
            &[],
        );
        if external {
            self.push_markers(core);
        }
        let _ = self.down_tx.send(true);
        if let Some(other) = self.partner() {
            // Hung up from this leg's thread: external to the other's.
            other.hangup(core, cause, true);
        }
        true
    }

    /// Tells the async sockets controlling the channel that it is down
    /// (once).
    pub(crate) fn push_markers(&self, core: &Core) {
        if !self.markers_sent.swap(true, Ordering::SeqCst) {
            core.send_to_session(&self.uuid, false, || Out::Down);
        }
    }

    /// Answers (once): CHANNEL_ANSWER, call state ACTIVE.
    pub(crate) fn mark_answered(&self, core: &Core) -> bool {
        let now = core.clock.now_us();
        let first = self.with(|d| {
            if d.times.answered != 0 || d.hangup_cause.is_some() {
                return false;
            }
            d.times.answered = now;
            d.answer_state = AnswerState::Answered;
            true
        });
        if !first {
            return false;
        }
        if let Some(other) = self.partner() {
            // The loopback leg that answers answers its partner first.
            other.mark_answered(core);
        }
        let src = (
            "switch_channel.c",
            "switch_channel_perform_mark_answered",
            3848,
        );
        self.fire(core, "CHANNEL_ANSWER", src, true, &[]);
        self.set_callstate(core, CallState::Active);
        self.set_var("endpoint_disposition", "ANSWER");
        // Stored even before anyone watches (`send` would drop it then).
        self.answered_tx.send_replace(true);
        true
    }

    /// Early media (once, before answer): CHANNEL_PROGRESS_MEDIA, call
    /// state EARLY.
    pub(crate) fn mark_pre_answered(&self, core: &Core) {
        let now = core.clock.now_us();
        let first = self.with(|d| {
            if d.times.progress_media != 0 || d.times.answered != 0 {
                return false;
            }
            d.times.progress_media = now;
            d.answer_state = AnswerState::Early;
            true
        });
        if first {
            let src = (
                "switch_channel.c",
                "switch_channel_perform_mark_pre_answered",
                3611,
            );
            self.fire(core, "CHANNEL_PROGRESS_MEDIA", src, true, &[]);
            self.set_callstate(core, CallState::Early);
        }
    }

    /// True once the channel has media (answered or early).
    pub(crate) fn answered_or_early(&self) -> bool {
        self.with(|d| d.times.answered != 0 || d.times.progress_media != 0)
    }
}
