//! The channel model: state, caller profile, variables, the events a call
//! fires (§4.1), the channel thread with its private message queue, and the
//! applications (§6).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{sleep, sleep_until, Instant};

mod switch;

pub(crate) use self::switch::{OutboundCtx, SocketHost, Switch};

use super::bus::Out;
use super::clock::date_local;
use super::config::{CallSpec, CallerScript, SyncHangupOrder};
use super::core::{level_by_name, Core};
use super::lock::lock;
use super::regex::Regex;
use crate::protocol::{Event, ARRAY_PREFIX, ARRAY_SEPARATOR};

const STATES: [&str; 14] = [
    "CS_NEW",
    "CS_INIT",
    "CS_ROUTING",
    "CS_SOFT_EXECUTE",
    "CS_EXECUTE",
    "CS_EXCHANGE_MEDIA",
    "CS_PARK",
    "CS_CONSUME_MEDIA",
    "CS_HIBERNATE",
    "CS_RESET",
    "CS_HANGUP",
    "CS_REPORTING",
    "CS_DESTROY",
    "CS_NONE",
];
const CS_INIT: usize = 1;
const CS_ROUTING: usize = 2;
const CS_EXECUTE: usize = 4;
const CS_HANGUP: usize = 10;
const CS_REPORTING: usize = 11;
const CS_DESTROY: usize = 12;

const CALLSTATES: [&str; 9] = [
    "DOWN",
    "DIALING",
    "RINGING",
    "EARLY",
    "ACTIVE",
    "HELD",
    "RING_WAIT",
    "HANGUP",
    "UNHELD",
];

/// Applications that still run after hangup ("zombie exec", §6.4).
const ZOMBIE_APPS: &[&str] = &[
    "set", "export", "multiset", "log", "info", "event", "unset", "push",
];

/// Applications the simulator implements.
const KNOWN_APPS: &[&str] = &[
    "answer",
    "pre_answer",
    "playback",
    "play_and_get_digits",
    "read",
    "set",
    "multiset",
    "export",
    "unset",
    "push",
    "bridge",
    "transfer",
    "park",
    "hangup",
    "record",
    "sleep",
    "log",
    "socket",
    "info",
    "event",
    // mod_dptools applications whose media or signalling effect is not
    // modelled: they run (EXECUTE / EXECUTE_COMPLETE) and return at once,
    // except the ones that hold the call until it ends (see `run_app`).
    "att_xfer",
    "bind_meta_app",
    "unbind_meta_app",
    "deflect",
    "redirect",
    "respond",
    "gentones",
    "say",
    "speak",
    "phrase",
    "send_dtmf",
    "record_session",
    "stop_record_session",
    "ring_ready",
    "limit",
    "echo",
    "conference",
    "eavesdrop",
    "intercept",
];

/// Q.850 code of a hangup cause.
pub(crate) fn q850(cause: &str) -> u32 {
    match cause {
        "UNALLOCATED_NUMBER" => 1,
        "NO_ROUTE_DESTINATION" => 3,
        "NORMAL_CLEARING" => 16,
        "USER_BUSY" => 17,
        "NO_USER_RESPONSE" => 18,
        "NO_ANSWER" => 19,
        "CALL_REJECTED" => 21,
        "DESTINATION_OUT_OF_ORDER" => 27,
        "INVALID_NUMBER_FORMAT" => 28,
        "NORMAL_TEMPORARY_FAILURE" => 41,
        "ORIGINATOR_CANCEL" => 487,
        "MANAGER_REQUEST" => 503,
        _ => 0,
    }
}

/// A hangup cause given by name (any case) or Q.850 number.
pub(crate) fn cause_name(given: &str) -> String {
    const ALL: &[&str] = &[
        "UNALLOCATED_NUMBER",
        "NO_ROUTE_DESTINATION",
        "NORMAL_CLEARING",
        "USER_BUSY",
        "NO_USER_RESPONSE",
        "NO_ANSWER",
        "CALL_REJECTED",
        "DESTINATION_OUT_OF_ORDER",
        "INVALID_NUMBER_FORMAT",
        "NORMAL_TEMPORARY_FAILURE",
        "ORIGINATOR_CANCEL",
        "MANAGER_REQUEST",
    ];
    let g = given.trim();
    if let Ok(n) = g.parse::<u32>() {
        if let Some(c) = ALL.iter().find(|c| q850(c) == n) {
            return (*c).to_owned();
        }
        return "NORMAL_CLEARING".to_owned();
    }
    if g.is_empty() {
        return "NORMAL_CLEARING".to_owned();
    }
    g.to_ascii_uppercase()
}

/// A `sendmsg` as queued to a channel.
#[derive(Debug, Clone)]
pub(crate) struct SendMsgData {
    /// The `Command` header value (§1.2).
    pub(crate) command: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Option<Bytes>,
}

impl SendMsgData {
    fn header(&self, name: &str) -> Option<&str> {
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

type Inline = (SendMsgData, oneshot::Sender<()>);

struct ChanData {
    name: String,
    state: usize,
    running: usize,
    callstate: usize,
    answer_state: &'static str,
    hangup_cause: Option<String>,
    caller_id_name: String,
    caller_id_number: String,
    destination: String,
    context: String,
    vars: Vec<(String, String)>,
    created_us: u64,
    answered_us: u64,
    progress_us: u64,
    progress_media_us: u64,
    hangup_us: u64,
    bridged_us: u64,
    transfer_us: u64,
    script: CallerScript,
    inputs_used: usize,
    started_apps: Vec<String>,
}

/// A simulated channel.
pub(crate) struct Channel {
    pub(crate) uuid: String,
    data: Mutex<ChanData>,
    queue_tx: mpsc::UnboundedSender<ChanMsg>,
    inline_tx: Mutex<Option<mpsc::UnboundedSender<Inline>>>,
    down_tx: watch::Sender<bool>,
    dtmf_tx: mpsc::UnboundedSender<char>,
    holds: watch::Sender<usize>,
    markers_sent: AtomicBool,
    destroyed: AtomicBool,
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
    pub(crate) fn name(&self) -> String {
        lock(&self.data).name.clone()
    }

    pub(crate) fn snapshot(&self) -> ChannelSnapshot {
        let d = lock(&self.data);
        ChannelSnapshot {
            uuid: self.uuid.clone(),
            name: d.name.clone(),
            state: STATES[d.running].to_owned(),
            call_state: CALLSTATES[d.callstate].to_owned(),
            answer_state: d.answer_state.to_owned(),
            hangup_cause: d.hangup_cause.clone(),
            variables: d.vars.clone(),
            caller_id_name: d.caller_id_name.clone(),
            caller_id_number: d.caller_id_number.clone(),
            destination: d.destination.clone(),
            context: d.context.clone(),
            created_us: d.created_us,
        }
    }

    pub(crate) fn is_down(&self) -> bool {
        *self.down_tx.borrow()
    }

    pub(crate) fn is_destroyed(&self) -> bool {
        self.destroyed.load(Ordering::SeqCst)
    }

    pub(crate) fn hold(&self) {
        self.holds.send_modify(|h| *h += 1);
    }

    pub(crate) fn release(&self) {
        self.holds.send_modify(|h| *h = h.saturating_sub(1));
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

    pub(crate) fn send_dtmf(&self, digits: &str) {
        for c in digits.chars() {
            let _ = self.dtmf_tx.send(c);
        }
    }

    pub(crate) fn var(&self, name: &str) -> Option<String> {
        lock(&self.data)
            .vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    /// Sets a variable (moving it to the end); an empty value unsets it.
    pub(crate) fn set_var(&self, name: &str, value: &str) {
        let mut d = lock(&self.data);
        d.vars.retain(|(n, _)| n != name);
        if !value.is_empty() {
            d.vars.push((name.to_owned(), value.to_owned()));
        }
    }

    fn push_var(&self, name: &str, value: &str) {
        let mut d = lock(&self.data);
        let existing = d.vars.iter().position(|(n, _)| n == name);
        match existing {
            Some(i) => {
                let old = d.vars[i].1.clone();
                let new = match old.strip_prefix(ARRAY_PREFIX) {
                    Some(_) => format!("{old}{ARRAY_SEPARATOR}{value}"),
                    None => format!("{ARRAY_PREFIX}{old}{ARRAY_SEPARATOR}{value}"),
                };
                d.vars[i].1 = new;
            }
            None => d.vars.push((name.to_owned(), value.to_owned())),
        }
    }

    /// Appends the channel data of §4.1: state, caller profile, variables.
    pub(crate) fn push_channel_data(&self, e: &mut Event, with_vars: bool) {
        let d = lock(&self.data);
        e.push_header("Channel-State", STATES[d.running]);
        e.push_header("Channel-Call-State", CALLSTATES[d.callstate]);
        e.push_header("Channel-State-Number", &d.state.to_string());
        e.push_header("Channel-Name", &d.name);
        e.push_header("Unique-ID", &self.uuid);
        e.push_header("Call-Direction", "inbound");
        e.push_header("Presence-Call-Direction", "inbound");
        e.push_header("Channel-HIT-Dialplan", "true");
        e.push_header("Channel-Call-UUID", &self.uuid);
        e.push_header("Answer-State", d.answer_state);
        if let Some(c) = &d.hangup_cause {
            e.push_header("Hangup-Cause", c);
        }
        for (n, v) in [
            ("Channel-Read-Codec-Name", "L16"),
            ("Channel-Read-Codec-Rate", "8000"),
            ("Channel-Read-Codec-Bit-Rate", "128000"),
            ("Channel-Write-Codec-Name", "L16"),
            ("Channel-Write-Codec-Rate", "8000"),
            ("Channel-Write-Codec-Bit-Rate", "128000"),
        ] {
            e.push_header(n, v);
        }
        Self::push_profile(&self.uuid, &d, "Caller-", e);
        if with_vars {
            for (n, v) in &d.vars {
                e.push_header(&format!("variable_{n}"), v);
            }
        }
    }

    fn push_profile(uuid: &str, d: &ChanData, prefix: &str, e: &mut Event) {
        let mut p = |n: &str, v: &str| {
            if !v.is_empty() {
                e.push_header(&format!("{prefix}{n}"), v);
            }
        };
        p("Direction", "inbound");
        p("Logical-Direction", "inbound");
        p("Dialplan", "xml");
        p("Caller-ID-Name", &d.caller_id_name);
        p("Caller-ID-Number", &d.caller_id_number);
        p("Orig-Caller-ID-Name", &d.caller_id_name);
        p("Orig-Caller-ID-Number", &d.caller_id_number);
        p("Callee-ID-Name", "Outbound Call");
        p("Callee-ID-Number", &d.context);
        p("ANI", &d.caller_id_number);
        p("Destination-Number", &d.destination);
        p("Unique-ID", uuid);
        p("Source", "mod_loopback");
        p("Context", &d.context);
        p("Channel-Name", &d.name);
        p("Profile-Index", "1");
        let t = |v: u64| v.to_string();
        p("Profile-Created-Time", &t(d.created_us));
        p("Channel-Created-Time", &t(d.created_us));
        p("Channel-Answered-Time", &t(d.answered_us));
        p("Channel-Progress-Time", &t(d.progress_us));
        p("Channel-Progress-Media-Time", &t(d.progress_media_us));
        p("Channel-Hangup-Time", &t(d.hangup_us));
        p("Channel-Transfer-Time", &t(d.transfer_us));
        p("Channel-Resurrect-Time", "0");
        p("Channel-Bridged-Time", &t(d.bridged_us));
        p("Channel-Last-Hold", "0");
        p("Channel-Hold-Accum", "0");
        p("Screen-Bit", "true");
        p("Privacy-Hide-Name", "false");
        p("Privacy-Hide-Number", "false");
    }

    /// A channel event: standard headers, channel data, and the extra
    /// headers after it.
    fn event(
        &self,
        core: &Core,
        name: &str,
        src: (&str, &str, u32),
        vars: bool,
        extra: &[(&str, &str)],
    ) -> Event {
        let mut e = core.base_event(name, src.0, src.1, src.2);
        self.push_channel_data(&mut e, vars);
        for (n, v) in extra {
            e.push_header(n, v);
        }
        e
    }

    fn fire(
        &self,
        core: &Core,
        name: &str,
        src: (&str, &str, u32),
        vars: bool,
        extra: &[(&str, &str)],
    ) {
        let e = self.event(core, name, src, vars, extra);
        core.fire(e);
    }

    /// The CHANNEL_DATA event of the `connect` reply (§5.2).
    pub(crate) fn channel_data_event(&self, core: &Core) -> Event {
        let mut e = core.base_event("CHANNEL_DATA", "mod_event_socket.c", "parse_command", 2029);
        {
            let d = lock(&self.data);
            Self::push_profile(&self.uuid, &d, "Channel-", &mut e);
        }
        self.push_channel_data(&mut e, true);
        e
    }

    fn set_state(&self, core: &Core, state: usize) {
        {
            let mut d = lock(&self.data);
            d.state = state;
            d.running = state;
        }
        self.fire(core, "CHANNEL_STATE", STATE_SRC, false, &[]);
    }

    fn set_callstate(&self, core: &Core, callstate: usize) {
        let orig = {
            let mut d = lock(&self.data);
            let orig = d.callstate;
            d.callstate = callstate;
            orig
        };
        let num = callstate.to_string();
        let mut e = core.base_event(
            "CHANNEL_CALLSTATE",
            "switch_channel.c",
            "switch_channel_perform_set_callstate",
            302,
        );
        e.push_header("Original-Channel-Call-State", CALLSTATES[orig]);
        e.push_header("Channel-Call-State-Number", &num);
        self.push_channel_data(&mut e, false);
        core.fire(e);
    }

    /// Hangs the channel up. `external`: called from another thread than the
    /// channel's own (uuid_kill, the caller), so a controlling socket notices
    /// at once; otherwise it notices after the channel finished hanging up.
    pub(crate) fn hangup(&self, core: &Core, cause: &str, external: bool) -> bool {
        {
            let mut d = lock(&self.data);
            if d.hangup_cause.is_some() {
                return false;
            }
            d.hangup_cause = Some(cause.to_owned());
            d.state = CS_HANGUP;
            d.answer_state = "hangup";
        }
        if core.cfg.sync_hangup_order == SyncHangupOrder::NoticeFirst {
            // The sync socket's notice overtakes the hangup's events.
            core.send_to_session(&self.uuid, true, || Out::Down);
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
        true
    }

    fn push_markers(&self, core: &Core) {
        if !self.markers_sent.swap(true, Ordering::SeqCst) {
            core.send_to_session(&self.uuid, false, || Out::Down);
        }
    }

    fn mark_answered(&self, core: &Core) -> bool {
        {
            let mut d = lock(&self.data);
            if d.answered_us != 0 || d.hangup_cause.is_some() {
                return false;
            }
            d.answered_us = core.clock.now_us();
            d.answer_state = "answered";
        }
        self.fire(
            core,
            "CHANNEL_ANSWER",
            (
                "switch_channel.c",
                "switch_channel_perform_mark_answered",
                3848,
            ),
            true,
            &[],
        );
        self.set_callstate(core, 4);
        self.set_var("endpoint_disposition", "ANSWER");
        true
    }

    fn answered_or_early(&self) -> bool {
        let d = lock(&self.data);
        d.answered_us != 0 || d.progress_media_us != 0
    }
}

const STATE_SRC: (&str, &str, u32) = (
    "switch_channel.c",
    "switch_channel_perform_set_running_state",
    2409,
);
const EXEC_SRC: (&str, &str, u32) = ("switch_core_session.c", "switch_core_session_exec", 2949);
const COMPLETE_SRC: (&str, &str, u32) = ("switch_core_session.c", "switch_core_session_exec", 2972);

/// Creates a channel for `spec` and starts its thread.
pub(crate) fn spawn_call(switch: &Arc<Switch>, spec: CallSpec) -> Arc<Channel> {
    let core = &switch.core;
    let uuid = spec.uuid.clone().unwrap_or_else(|| core.uuids.next());
    let name = spec
        .channel_name
        .clone()
        .unwrap_or_else(|| format!("loopback/{}-b", spec.destination));
    let session_id = switch.next_session_id();
    let mut vars: Vec<(String, String)> = vec![
        ("direction".into(), "inbound".into()),
        ("uuid".into(), uuid.clone()),
        ("session_id".into(), session_id.to_string()),
        ("channel_name".into(), name.clone()),
        ("read_codec".into(), "L16".into()),
        ("read_rate".into(), "8000".into()),
        ("write_codec".into(), "L16".into()),
        ("write_rate".into(), "8000".into()),
        ("call_uuid".into(), uuid.clone()),
    ];
    for (n, v) in &spec.variables {
        vars.retain(|(x, _)| x != n);
        vars.push((n.clone(), v.clone()));
    }
    let (queue_tx, queue_rx) = mpsc::unbounded_channel();
    let (dtmf_tx, dtmf_rx) = mpsc::unbounded_channel();
    let (down_tx, down_rx) = watch::channel(false);
    let (holds, _) = watch::channel(0usize);
    let ch = Arc::new(Channel {
        uuid,
        data: Mutex::new(ChanData {
            name,
            state: CS_INIT,
            running: CS_INIT,
            callstate: 0,
            answer_state: "ringing",
            hangup_cause: None,
            caller_id_name: spec.caller_id_name.clone(),
            caller_id_number: spec.caller_id_number.clone(),
            destination: spec.destination.clone(),
            context: spec.context.clone(),
            vars,
            created_us: core.clock.now_us(),
            answered_us: 0,
            progress_us: 0,
            progress_media_us: 0,
            hangup_us: 0,
            bridged_us: 0,
            transfer_us: 0,
            script: spec.script.clone(),
            inputs_used: 0,
            started_apps: Vec::new(),
        }),
        queue_tx,
        inline_tx: Mutex::new(None),
        down_tx,
        dtmf_tx,
        holds,
        markers_sent: AtomicBool::new(false),
        destroyed: AtomicBool::new(false),
    });
    switch.add(ch.clone());
    if let Some(after) = spec.script.hangup_after {
        let cause = cause_name(spec.script.hangup_cause.as_deref().unwrap_or(""));
        let (core2, ch2) = (core.clone(), ch.clone());
        tokio::spawn(async move {
            sleep(after).await;
            ch2.hangup(&core2, &cause, true);
        });
    }
    let runner = Runner {
        switch: switch.clone(),
        core: core.clone(),
        ch: ch.clone(),
        queue: queue_rx,
        dtmf: dtmf_rx,
        down: down_rx,
        transfer: None,
        depth: 0,
    };
    tokio::spawn(runner.run());
    core.notify();
    ch
}

async fn wait_zero(rx: &mut watch::Receiver<usize>) {
    let _ = rx.wait_for(|h| *h == 0).await;
}

async fn wait_true(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|d| *d).await;
}

enum Wait {
    Elapsed,
    Hangup,
    Dtmf(char),
}

type BoxFut<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

#[derive(Default, Clone)]
struct ExecOpts {
    event_uuid: Option<String>,
    uuid_name: Option<String>,
    event_lock: bool,
}

struct Runner {
    switch: Arc<Switch>,
    core: Arc<Core>,
    ch: Arc<Channel>,
    queue: mpsc::UnboundedReceiver<ChanMsg>,
    dtmf: mpsc::UnboundedReceiver<char>,
    down: watch::Receiver<bool>,
    transfer: Option<String>,
    depth: usize,
}

impl Runner {
    fn down(&self) -> bool {
        *self.down.borrow()
    }

    async fn run(mut self) {
        let core = self.core.clone();
        let ch = self.ch.clone();
        // CS_INIT, CHANNEL_CREATE, RINGING, CS_ROUTING, CS_EXECUTE.
        ch.fire(&core, "CHANNEL_STATE", STATE_SRC, false, &[]);
        lock(&ch.data).state = CS_ROUTING;
        ch.fire(
            &core,
            "CHANNEL_CREATE",
            (
                "switch_core_state_machine.c",
                "switch_core_session_run",
                626,
            ),
            true,
            &[],
        );
        lock(&ch.data).running = CS_ROUTING;
        ch.set_callstate(&core, 2);
        ch.fire(&core, "CHANNEL_STATE", STATE_SRC, false, &[]);
        loop {
            ch.set_state(&core, CS_EXECUTE);
            let dest = lock(&ch.data).destination.clone();
            let ext = core.cfg.dialplan.find(&dest).cloned();
            match ext {
                None => {
                    ch.hangup(&core, "NO_ROUTE_DESTINATION", false);
                }
                Some(ext) => {
                    for action in &ext.actions {
                        if self.down() || self.transfer.is_some() {
                            break;
                        }
                        self.exec_app(&action.app, &action.arg, ExecOpts::default())
                            .await;
                    }
                }
            }
            match self.transfer.take() {
                Some(dest) if !self.down() => {
                    {
                        let mut d = lock(&ch.data);
                        d.destination = dest;
                        d.transfer_us = core.clock.now_us();
                    }
                    ch.set_state(&core, CS_ROUTING);
                    continue;
                }
                _ => break,
            }
        }
        if !self.down() {
            ch.hangup(&core, "NORMAL_CLEARING", false);
        }
        self.finish().await;
    }

    async fn finish(&mut self) {
        let core = self.core.clone();
        let ch = self.ch.clone();
        lock(&ch.data).running = CS_HANGUP;
        ch.fire(&core, "CHANNEL_STATE", STATE_SRC, false, &[]);
        let now = core.clock.now_us();
        lock(&ch.data).hangup_us = now;
        ch.set_callstate(&core, 7);
        {
            let mut d = lock(&ch.data);
            d.state = CS_REPORTING;
            d.running = CS_REPORTING;
        }
        ch.fire(&core, "CHANNEL_STATE", STATE_SRC, false, &[]);
        self.add_hangup_vars(now);
        let cause = lock(&ch.data).hangup_cause.clone().unwrap_or_default();
        let mut e = core.base_event(
            "CHANNEL_HANGUP_COMPLETE",
            "switch_core_state_machine.c",
            "switch_core_session_reporting_state",
            943,
        );
        e.push_header("Hangup-Cause", &cause);
        ch.push_channel_data(&mut e, true);
        core.fire(e);
        ch.push_markers(&core);
        // The channel is destroyed only once no socket holds it (§5.5).
        let mut holds = ch.holds.subscribe();
        wait_zero(&mut holds).await;
        lock(&ch.data).state = CS_DESTROY;
        ch.fire(
            &core,
            "CHANNEL_DESTROY",
            (
                "switch_core_session.c",
                "switch_core_session_perform_destroy",
                1588,
            ),
            true,
            &[],
        );
        lock(&ch.data).running = CS_DESTROY;
        ch.fire(&core, "CHANNEL_STATE", STATE_SRC, false, &[]);
        ch.destroyed.store(true, Ordering::SeqCst);
        self.switch.remove(&ch.uuid);
    }

    fn add_hangup_vars(&self, end: u64) {
        let (created, answered, cause, last_app, last_arg, cid) = {
            let d = lock(&self.ch.data);
            let last_app = d
                .vars
                .iter()
                .find(|(n, _)| n == "current_application")
                .map(|(_, v)| v.clone());
            let last_arg = d
                .vars
                .iter()
                .find(|(n, _)| n == "current_application_data")
                .map(|(_, v)| v.clone());
            (
                d.created_us,
                d.answered_us,
                d.hangup_cause.clone().unwrap_or_default(),
                last_app,
                last_arg,
                d.caller_id_number.clone(),
            )
        };
        let s = |us: u64| (us / 1_000_000).to_string();
        let mut v: Vec<(String, String)> = vec![
            ("hangup_cause".into(), cause.clone()),
            ("hangup_cause_q850".into(), q850(&cause).to_string()),
            ("digits_dialed".into(), "none".into()),
            ("start_stamp".into(), date_local(created)),
            ("profile_start_stamp".into(), date_local(created)),
        ];
        if answered != 0 {
            v.push(("answer_stamp".into(), date_local(answered)));
        }
        v.push(("end_stamp".into(), date_local(end)));
        let ans_epoch = if answered != 0 {
            s(answered)
        } else {
            "0".into()
        };
        for (n, val) in [
            ("start_epoch", s(created)),
            ("start_uepoch", created.to_string()),
            ("profile_start_epoch", s(created)),
            ("profile_start_uepoch", created.to_string()),
            ("answer_epoch", ans_epoch),
            ("answer_uepoch", answered.to_string()),
            ("bridge_epoch", "0".into()),
            ("bridge_uepoch", "0".into()),
            ("last_hold_epoch", "0".into()),
            ("last_hold_uepoch", "0".into()),
            ("hold_accum_seconds", "0".into()),
            ("hold_accum_usec", "0".into()),
            ("hold_accum_ms", "0".into()),
            ("resurrect_epoch", "0".into()),
            ("resurrect_uepoch", "0".into()),
            ("progress_epoch", "0".into()),
            ("progress_uepoch", "0".into()),
            ("progress_media_epoch", "0".into()),
            ("progress_media_uepoch", "0".into()),
            ("end_epoch", s(end)),
            ("end_uepoch", end.to_string()),
        ] {
            v.push((n.into(), val));
        }
        if let Some(a) = last_app {
            v.push(("last_app".into(), a));
        }
        if let Some(a) = last_arg {
            v.push(("last_arg".into(), a));
        }
        v.push(("caller_id".into(), cid));
        let dur = end.saturating_sub(created);
        let bill = if answered != 0 {
            end.saturating_sub(answered)
        } else {
            0
        };
        let answer = if answered != 0 {
            answered.saturating_sub(created)
        } else {
            0
        };
        for (unit, div) in [("sec", 1_000_000u64), ("msec", 1000), ("usec", 1)] {
            let suffix_first = unit == "sec";
            let name = |base: &str| {
                if suffix_first {
                    match base {
                        "duration" => "duration".to_owned(),
                        b => format!("{b}sec"),
                    }
                } else {
                    match base {
                        "duration" => format!("{}duration", &unit[..1]),
                        b => format!("{b}{unit}"),
                    }
                }
            };
            for (base, val) in [
                ("duration", dur),
                ("bill", bill),
                ("progress", 0),
                ("answer", answer),
                ("wait", 0),
                ("progress_media", 0),
                ("flow_bill", dur),
            ] {
                v.push((name(base), (val / div).to_string()));
            }
        }
        let mut d = lock(&self.ch.data);
        for (n, val) in v {
            d.vars.retain(|(x, _)| *x != n);
            d.vars.push((n, val));
        }
    }

    /// Waits for a duration (or forever), a hangup, or (with `dtmf`) a
    /// digit. With `nested`, queued messages are executed meanwhile (§6.3).
    async fn wait(&mut self, dur: Option<Duration>, nested: bool, dtmf: bool) -> Wait {
        let deadline = dur.map(|d| Instant::now() + d);
        loop {
            if self.down() {
                return Wait::Hangup;
            }
            tokio::select! {
                biased;
                r = self.down.changed() => {
                    if r.is_err() {
                        return Wait::Hangup;
                    }
                }
                d = self.dtmf.recv(), if dtmf => {
                    if let Some(d) = d {
                        self.fire_dtmf(d);
                        return Wait::Dtmf(d);
                    }
                }
                m = self.queue.recv(), if nested => {
                    if let Some(m) = m {
                        self.process(m).await;
                    }
                }
                _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    return Wait::Elapsed;
                }
            }
        }
    }

    fn fire_dtmf(&self, d: char) {
        let digit = d.to_string();
        self.ch.fire(
            &self.core,
            "DTMF",
            ("switch_channel.c", "switch_channel_dequeue_dtmf", 678),
            false,
            &[
                ("DTMF-Digit", &digit),
                ("DTMF-Duration", "2000"),
                ("DTMF-Source", "UNKNOWN"),
            ],
        );
    }

    /// Processes one message of the private queue (§6).
    fn process(&mut self, msg: ChanMsg) -> BoxFut<'_> {
        Box::pin(async move {
            match msg {
                ChanMsg::Event(queued, name) => {
                    let diverted: Vec<_> = self
                        .core
                        .subscribers()
                        .into_iter()
                        .filter(|l| l.divert_to(&self.ch.uuid))
                        .collect();
                    if diverted.is_empty() {
                        let mut e = self.core.sendevent_form(&queued, &name);
                        self.ch.push_channel_data(&mut e, true);
                        self.core.fire(e);
                    } else {
                        for l in diverted {
                            if l.events_enabled() {
                                l.push(Out::Diverted(queued.clone()));
                            }
                        }
                    }
                }
                ChanMsg::SendMsg(msg) => self.sendmsg(msg).await,
            }
        })
    }

    async fn sendmsg(&mut self, msg: SendMsgData) {
        let had_media = self.ch.answered_or_early();
        let cc = msg
            .header("call-command")
            .unwrap_or("")
            .to_ascii_lowercase();
        match cc.as_str() {
            "execute" => {
                let app = msg.header("execute-app-name").unwrap_or("").to_owned();
                let arg = match msg.header("execute-app-arg") {
                    Some(a) => a.to_owned(),
                    None => match (&msg.body, msg.header("content-type")) {
                        (Some(b), Some(ct)) if ct.eq_ignore_ascii_case("text/plain") => {
                            String::from_utf8_lossy(b).into_owned()
                        }
                        _ => String::new(),
                    },
                };
                let loops: i64 = msg
                    .header("loops")
                    .and_then(|l| l.trim().parse().ok())
                    .unwrap_or(1);
                let opts = ExecOpts {
                    event_uuid: msg.header("event-uuid").map(str::to_owned),
                    uuid_name: msg.header("event-uuid-name").map(str::to_owned),
                    event_lock: msg
                        .header("event-lock")
                        .is_some_and(|v| v.eq_ignore_ascii_case("true")),
                };
                let total = loops.to_string();
                let mut i: i64 = 1;
                loop {
                    if loops >= 0 && i > loops {
                        break;
                    }
                    self.ch.set_var("current_loop", &i.to_string());
                    self.ch.set_var("total_loops", &total);
                    if !KNOWN_APPS.contains(&app.as_str()) {
                        self.exec_app(&app, &arg, opts.clone()).await;
                        break;
                    }
                    let started = Instant::now();
                    self.exec_app(&app, &arg, opts.clone()).await;
                    if self.down() || (loops != 1 && started.elapsed() < Duration::from_millis(500))
                    {
                        break;
                    }
                    i += 1;
                }
                self.ch.set_var("current_loop", "");
                self.ch.set_var("total_loops", "");
            }
            "hangup" => {
                let cause = cause_name(msg.header("hangup-cause").unwrap_or(""));
                self.ch.hangup(&self.core, &cause, false);
            }
            "xferext" => {
                let apps: Vec<(String, String)> = msg
                    .headers
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case("application"))
                    .map(|(_, v)| match v.split_once(' ') {
                        Some((a, b)) => (a.to_owned(), b.to_owned()),
                        None => (v.clone(), String::new()),
                    })
                    .collect();
                for (a, b) in apps {
                    if self.down() {
                        break;
                    }
                    self.exec_app(&a, &b, ExecOpts::default()).await;
                }
            }
            _ => {}
        }
        if had_media {
            let mut e = Event::empty();
            e.push_header("Command", &msg.command);
            for (n, v) in &msg.headers {
                e.push_header(n, v);
            }
            e.push_header("Event-Name", "PRIVATE_COMMAND");
            self.core.push_standard_tail(
                &mut e,
                "switch_ivr.c",
                "switch_ivr_parse_next_event",
                804,
            );
            self.ch.push_channel_data(&mut e, false);
            self.core.fire(e);
        }
    }

    fn expand(&self, arg: &str) -> String {
        let mut out = String::new();
        let mut rest = arg;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            match after.find('}') {
                Some(end) => {
                    out.push_str(&self.ch.var(&after[..end]).unwrap_or_default());
                    rest = &after[end + 1..];
                }
                None => {
                    out.push_str(&rest[start..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// `switch_core_session_exec`: EXECUTE, the application, COMPLETE.
    fn exec_app<'a>(&'a mut self, app: &'a str, arg: &'a str, opts: ExecOpts) -> BoxFut<'a> {
        Box::pin(async move {
            let core = self.core.clone();
            let ch = self.ch.clone();
            if !KNOWN_APPS.contains(&app) {
                ch.hangup(&core, "DESTINATION_OUT_OF_ORDER", false);
                return;
            }
            if self.down() && !ZOMBIE_APPS.contains(&app) {
                return;
            }
            let data = self.expand(arg);
            let app_uuid = opts.event_uuid.clone().unwrap_or_else(|| core.uuids.next());
            ch.set_var("current_application_response", "");
            ch.set_var("current_application", app);
            ch.set_var("current_application_data", &data);
            let mut extra: Vec<(&str, &str)> = vec![("Application", app)];
            if !data.is_empty() {
                extra.push(("Application-Data", &data));
            }
            extra.push(("Application-UUID", &app_uuid));
            if let Some(n) = &opts.uuid_name {
                extra.push(("Application-UUID-Name", n));
            }
            ch.fire(&core, "CHANNEL_EXECUTE", EXEC_SRC, true, &extra);
            let name = ch.name();
            core.log(
                6,
                1,
                "switch_core_session.c",
                "switch_core_session_exec",
                2907,
                &ch.uuid,
                &format!("EXECUTE [depth={}] {name} {app}({data})\n", self.depth),
            );
            ch.set_var("current_application_data", &data);
            ch.set_var("current_application", app);
            self.scripted_hangup(app);
            self.depth += 1;
            let response = self.run_app(app, &data, &opts).await;
            self.depth -= 1;
            if let Some(r) = response {
                ch.set_var("current_application_response", &r);
            }
            let resp = ch
                .var("current_application_response")
                .unwrap_or_else(|| "_none_".into());
            let mut extra: Vec<(&str, &str)> = vec![("Application", app)];
            if !data.is_empty() {
                extra.push(("Application-Data", &data));
            }
            extra.push(("Application-Response", &resp));
            extra.push(("Application-UUID", &app_uuid));
            if let Some(n) = &opts.uuid_name {
                extra.push(("Application-UUID-Name", n));
            }
            ch.fire(
                &core,
                "CHANNEL_EXECUTE_COMPLETE",
                COMPLETE_SRC,
                true,
                &extra,
            );
        })
    }

    fn scripted_hangup(&self, app: &str) {
        let mut d = lock(&self.ch.data);
        if d.started_apps.iter().any(|a| a == app) {
            return;
        }
        d.started_apps.push(app.to_owned());
        if let Some((name, after)) = d.script.hangup_during.clone() {
            if name == app {
                let cause = cause_name(d.script.hangup_cause.as_deref().unwrap_or(""));
                let (core, ch) = (self.core.clone(), self.ch.clone());
                tokio::spawn(async move {
                    sleep(after).await;
                    ch.hangup(&core, &cause, true);
                });
            }
        }
    }

    fn file_duration(&self, file: &str) -> Option<Duration> {
        if let Some(d) = self.core.cfg.file_durations.get(file) {
            return (*d != Duration::MAX).then_some(*d);
        }
        if let Some(rest) = file.strip_prefix("silence_stream://") {
            let ms: i64 = rest.split([',', ';']).next()?.trim().parse().ok()?;
            return (ms >= 0).then(|| Duration::from_millis(ms as u64));
        }
        if let Some(rest) = file.strip_prefix("tone_stream://") {
            if rest.contains("loops=-1") {
                return None;
            }
            let mut total = 0u64;
            let mut s = rest;
            while let Some(i) = s.find("%(") {
                let inner = &s[i + 2..];
                let end = inner.find(')').unwrap_or(inner.len());
                let nums: Vec<u64> = inner[..end]
                    .split(',')
                    .filter_map(|n| n.trim().parse().ok())
                    .collect();
                total += nums.first().copied().unwrap_or(0) + nums.get(1).copied().unwrap_or(0);
                s = &inner[end..];
            }
            let loops: u64 = rest
                .split(';')
                .find_map(|p| p.strip_prefix("loops="))
                .and_then(|l| l.parse().ok())
                .unwrap_or(1);
            return Some(Duration::from_millis(total * loops.max(1)));
        }
        Some(self.core.cfg.playback_duration)
    }

    /// Plays a file; true when it played to the end.
    async fn play(&mut self, file: &str, nested: bool) -> bool {
        let ftype = file
            .split_once("://")
            .map(|(s, _)| s.to_owned())
            .or_else(|| file.rsplit_once('.').map(|(_, e)| e.to_owned()))
            .unwrap_or_default();
        let src = ("switch_ivr_play_say.c", "switch_ivr_play_file", 1649);
        self.ch.fire(
            &self.core,
            "PLAYBACK_START",
            src,
            true,
            &[("Playback-File-Type", &ftype), ("Playback-File-Path", file)],
        );
        let dur = self.file_duration(file);
        let started = Instant::now();
        let done = matches!(self.wait(dur, nested, false).await, Wait::Elapsed);
        self.set_playback_vars(started.elapsed());
        self.ch.fire(
            &self.core,
            "PLAYBACK_STOP",
            ("switch_ivr_play_say.c", "switch_ivr_play_file", 2023),
            true,
            &[
                ("Playback-File-Type", &ftype),
                ("Playback-File-Path", file),
                ("Playback-Status", if done { "done" } else { "break" }),
            ],
        );
        done
    }

    fn set_playback_vars(&self, played: Duration) {
        let ms = played.as_millis() as u64;
        let samples = ms * 8;
        self.ch
            .set_var("playback_last_offset_pos", &samples.to_string());
        self.ch
            .set_var("playback_seconds", &(ms / 1000).to_string());
        self.ch.set_var("playback_ms", &ms.to_string());
        self.ch.set_var("playback_samples", &samples.to_string());
    }

    /// Starts feeding the caller's next scripted input.
    fn feed_input(&self) {
        let (input, interval) = {
            let mut d = lock(&self.ch.data);
            let i = d.inputs_used;
            d.inputs_used += 1;
            (d.script.inputs.get(i).cloned(), d.script.digit_interval)
        };
        if let Some(digits) = input.filter(|s| !s.is_empty()) {
            if interval.is_zero() {
                // Typed ahead: every digit is in the buffer at once.
                self.ch.send_dtmf(&digits);
                return;
            }
            let ch = self.ch.clone();
            tokio::spawn(async move {
                for c in digits.chars() {
                    sleep(interval).await;
                    ch.send_dtmf(&c.to_string());
                }
            });
        }
    }

    /// Plays a prompt interruptible by DTMF, then collects digits. Returns
    /// (digits, terminator, hung up).
    async fn collect(
        &mut self,
        prompt: &str,
        max: usize,
        first_timeout: Duration,
        digit_timeout: Duration,
        terminators: &str,
        nested: bool,
    ) -> (String, Option<char>, bool) {
        let mut digits = String::new();
        let mut term = None;
        // The prompt: stops at the first digit.
        let started = Instant::now();
        let dur = self.file_duration(prompt);
        let mut first = match self.wait(dur, nested, true).await {
            Wait::Hangup => {
                self.set_playback_vars(started.elapsed());
                return (digits, None, true);
            }
            Wait::Dtmf(d) => Some(d),
            Wait::Elapsed => None,
        };
        self.set_playback_vars(started.elapsed());
        let mut timeout = first_timeout;
        while digits.len() < max {
            let d = match first.take() {
                Some(d) => d,
                None => match self.wait(Some(timeout), nested, true).await {
                    Wait::Dtmf(d) => d,
                    Wait::Elapsed => break,
                    Wait::Hangup => return (digits, term, true),
                },
            };
            if terminators.contains(d) {
                term = Some(d);
                break;
            }
            digits.push(d);
            timeout = digit_timeout;
        }
        (digits, term, false)
    }

    async fn run_app(&mut self, app: &str, data: &str, opts: &ExecOpts) -> Option<String> {
        let core = self.core.clone();
        let ch = self.ch.clone();
        let nested = !opts.event_lock;
        match app {
            "answer" => {
                ch.mark_answered(&core);
                None
            }
            "pre_answer" => {
                let fire = {
                    let mut d = lock(&ch.data);
                    if d.progress_media_us == 0 && d.answered_us == 0 {
                        d.progress_media_us = core.clock.now_us();
                        d.answer_state = "early";
                        true
                    } else {
                        false
                    }
                };
                if fire {
                    ch.fire(
                        &core,
                        "CHANNEL_PROGRESS_MEDIA",
                        (
                            "switch_channel.c",
                            "switch_channel_perform_mark_pre_answered",
                            3611,
                        ),
                        true,
                        &[],
                    );
                    ch.set_callstate(&core, 3);
                }
                None
            }
            "playback" => {
                let done = self.play(data, nested).await;
                Some(
                    if done {
                        "FILE PLAYED"
                    } else {
                        "PLAYBACK ERROR"
                    }
                    .into(),
                )
            }
            "read" => {
                // read <min> <max> <file> <var> <timeout> <terminators>
                let w: Vec<&str> = data.split(' ').collect();
                let min: usize = w.first().and_then(|v| v.parse().ok()).unwrap_or(0);
                let max: usize = w.get(1).and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
                let file = w.get(2).copied().unwrap_or("");
                let var = w.get(3).copied().unwrap_or("");
                let timeout = w
                    .get(4)
                    .and_then(|v| v.parse().ok())
                    .map(Duration::from_millis)
                    .unwrap_or(Duration::from_secs(5));
                let terms = w.get(5).copied().unwrap_or("#");
                if !var.is_empty() {
                    ch.set_var(var, "");
                }
                self.feed_input();
                let (digits, term, _) = self
                    .collect(file, max, timeout, timeout, terms, nested)
                    .await;
                if let Some(t) = term {
                    ch.set_var("read_terminator_used", &t.to_string());
                }
                let ok = !digits.is_empty() && digits.len() >= min;
                ch.set_var("read_result", if ok { "success" } else { "failure" });
                if ok && !var.is_empty() {
                    ch.set_var(var, &digits);
                }
                None
            }
            "play_and_get_digits" => {
                let w: Vec<&str> = data.split(' ').collect();
                let num = |i: usize, d: u64| w.get(i).and_then(|v| v.parse().ok()).unwrap_or(d);
                let min = num(0, 1) as usize;
                let max = (num(1, 1) as usize).max(1);
                let tries = num(2, 1).max(1);
                let timeout = Duration::from_millis(num(3, 5000));
                let terms = w.get(4).copied().unwrap_or("#").to_owned();
                let file = w.get(5).copied().unwrap_or("").to_owned();
                let invalid = w.get(6).copied().unwrap_or("").to_owned();
                let var = w.get(7).copied().unwrap_or("").to_owned();
                let re = w.get(8).and_then(|r| Regex::new(r, false, false));
                let digit_timeout = Duration::from_millis(num(9, timeout.as_millis() as u64));
                if !var.is_empty() {
                    ch.set_var(&var, "");
                }
                for _ in 0..tries {
                    self.feed_input();
                    let (digits, term, hung) = self
                        .collect(&file, max, timeout, digit_timeout, &terms, nested)
                        .await;
                    if let Some(t) = term {
                        ch.set_var("read_terminator_used", &t.to_string());
                    }
                    if hung {
                        break;
                    }
                    let got = !digits.is_empty();
                    ch.set_var("read_result", if got { "success" } else { "failure" });
                    let valid = got
                        && digits.len() >= min
                        && digits.len() <= max
                        && re.as_ref().is_none_or(|r| r.is_match(&digits));
                    if valid {
                        ch.set_var(&var, &digits);
                        break;
                    }
                    if got {
                        ch.set_var(&format!("{var}_invalid"), &digits);
                    }
                    if !invalid.is_empty() && self.play(&invalid, nested).await {
                        continue;
                    }
                    if self.down() {
                        break;
                    }
                }
                None
            }
            "set" | "export" => {
                if let Some((n, v)) = data.split_once('=') {
                    ch.set_var(n.trim(), v);
                    if app == "export" {
                        let list = ch.var("export_vars").unwrap_or_default();
                        let list = if list.is_empty() {
                            n.trim().to_owned()
                        } else {
                            format!("{list},{}", n.trim())
                        };
                        ch.set_var("export_vars", &list);
                    }
                }
                None
            }
            "multiset" => {
                let (delim, rest) = match data.strip_prefix("^^") {
                    Some(r) if !r.is_empty() => {
                        let d = r.chars().next().unwrap_or(' ');
                        (d, &r[d.len_utf8()..])
                    }
                    _ => (' ', data),
                };
                for part in rest.split(delim).filter(|p| !p.is_empty()) {
                    if let Some((n, v)) = part.split_once('=') {
                        ch.set_var(n, v);
                    }
                }
                None
            }
            "unset" => {
                ch.set_var(data.trim(), "");
                None
            }
            "push" => {
                if let Some((n, v)) = data.split_once('=') {
                    ch.push_var(n, v);
                }
                None
            }
            "bridge" => {
                let (failure, duration) = {
                    let d = lock(&ch.data);
                    (d.script.bridge_failure.clone(), d.script.bridge_duration)
                };
                match failure {
                    Some(cause) => {
                        ch.set_var("originate_disposition", &cause);
                        ch.set_var("DIALSTATUS", &cause);
                        ch.set_var("originate_failed_cause", &cause);
                        ch.set_var("last_bridge_hangup_cause", &cause);
                    }
                    None => {
                        ch.mark_answered(&core);
                        let other = core.uuids.next();
                        lock(&ch.data).bridged_us = core.clock.now_us();
                        let src = (
                            "switch_ivr_bridge.c",
                            "switch_ivr_multi_threaded_bridge",
                            1728,
                        );
                        ch.fire(
                            &core,
                            "CHANNEL_BRIDGE",
                            src,
                            true,
                            &[
                                ("Bridge-A-Unique-ID", &ch.uuid),
                                ("Bridge-B-Unique-ID", &other),
                            ],
                        );
                        ch.set_var("bridge_to", &other);
                        ch.set_var("last_bridge_to", &other);
                        let _ = self.wait(Some(duration), false, false).await;
                        ch.fire(
                            &core,
                            "CHANNEL_UNBRIDGE",
                            (
                                "switch_ivr_bridge.c",
                                "switch_ivr_multi_threaded_bridge",
                                1846,
                            ),
                            true,
                            &[
                                ("Bridge-A-Unique-ID", &ch.uuid),
                                ("Bridge-B-Unique-ID", &other),
                            ],
                        );
                        ch.set_var("originate_disposition", "SUCCESS");
                        ch.set_var("DIALSTATUS", "SUCCESS");
                        ch.set_var("last_bridge_hangup_cause", "NORMAL_CLEARING");
                    }
                }
                None
            }
            "transfer" => {
                let dest = data.split(' ').next().unwrap_or("").to_owned();
                if !dest.is_empty() {
                    self.transfer = Some(dest);
                }
                None
            }
            "park" => {
                self.park(false).await;
                None
            }
            "hangup" => {
                let cause = cause_name(data);
                ch.hangup(&core, &cause, false);
                None
            }
            "record" => {
                let mut w = data.split(' ');
                let path = w.next().unwrap_or("").to_owned();
                let limit = w.next().and_then(|l| l.parse::<u64>().ok());
                let src = ("switch_ivr_async.c", "record_callback", 1250);
                ch.fire(
                    &core,
                    "RECORD_START",
                    src,
                    true,
                    &[("Record-File-Path", &path)],
                );
                let started = Instant::now();
                let _ = self
                    .wait(limit.map(Duration::from_secs), nested, false)
                    .await;
                let ms = started.elapsed().as_millis() as u64;
                ch.set_var("record_ms", &ms.to_string());
                ch.set_var("record_seconds", &(ms / 1000).to_string());
                ch.set_var("record_samples", &(ms * 8).to_string());
                ch.fire(
                    &core,
                    "RECORD_STOP",
                    ("switch_ivr_async.c", "record_callback", 1350),
                    true,
                    &[("Record-File-Path", &path)],
                );
                None
            }
            "sleep" => {
                let ms: u64 = data.trim().parse().unwrap_or(0);
                let _ = self
                    .wait(Some(Duration::from_millis(ms)), nested, false)
                    .await;
                None
            }
            "log" => {
                let (level, text) = match data.split_once(' ') {
                    Some((l, t)) if level_by_name(l).is_some() => {
                        (level_by_name(l).unwrap_or(7), t)
                    }
                    _ => (7, data),
                };
                core.log(
                    level,
                    3,
                    "mod_dptools.c",
                    "log_function",
                    1584,
                    &ch.uuid,
                    &format!("{text}\n"),
                );
                None
            }
            "socket" => {
                self.socket(data).await;
                None
            }
            // These hold the call until it ends (or, nested, until a queued
            // message runs), as on a real switch.
            "echo" | "conference" | "eavesdrop" | "intercept" => {
                let _ = self.wait(None, nested, false).await;
                None
            }
            _ => None,
        }
    }

    /// The park loop: executes queued messages until hangup or transfer (or,
    /// for the async socket, until the socket closed after `resume`).
    async fn park(&mut self, socket: bool) {
        let core = self.core.clone();
        let ch = self.ch.clone();
        ch.fire(
            &core,
            "CHANNEL_PARK",
            ("switch_ivr.c", "switch_ivr_park", 1002),
            true,
            &[],
        );
        let mut holds = ch.holds.subscribe();
        let mut socket_open = socket;
        loop {
            if self.down() || self.transfer.is_some() {
                break;
            }
            tokio::select! {
                biased;
                r = self.down.changed() => {
                    if r.is_err() {
                        break;
                    }
                }
                m = self.queue.recv() => {
                    if let Some(m) = m {
                        self.process(m).await;
                    }
                }
                d = self.dtmf.recv() => {
                    // The park loop dequeues pending DTMF (and fires DTMF).
                    if let Some(d) = d {
                        self.fire_dtmf(d);
                    }
                }
                _ = wait_zero(&mut holds), if socket_open => {
                    socket_open = false;
                    if ch.var("socket_resume").as_deref() == Some("true") {
                        break;
                    }
                }
            }
        }
        if self.down() {
            // Queued messages: zombie-exec applications still run.
            while let Ok(m) = self.queue.try_recv() {
                self.process(m).await;
            }
        }
        ch.fire(
            &core,
            "CHANNEL_UNPARK",
            ("switch_ivr.c", "switch_ivr_park", 1213),
            true,
            &[],
        );
    }

    /// The `socket` application (§5.1).
    async fn socket(&mut self, data: &str) {
        let core = self.core.clone();
        let ch = self.ch.clone();
        let mut words = data.split(' ').filter(|w| !w.is_empty());
        let targets = words.next().unwrap_or("").to_owned();
        let rest: Vec<&str> = words.collect();
        let async_mode = rest.iter().any(|w| w.eq_ignore_ascii_case("async"));
        let full = rest.iter().any(|w| w.eq_ignore_ascii_case("full"));
        let mut port: u16 = 8084;
        let mut stream = None;
        for target in targets.split('|') {
            let (hostport, path) = match target.find('/') {
                Some(i) => (&target[..i], Some(&target[i + 1..])),
                None => (target, None),
            };
            let host = match hostport.rsplit_once(':') {
                Some((h, p)) => {
                    port = p.parse().unwrap_or(port);
                    h
                }
                None => hostport,
            };
            ch.set_var("socket_host", host);
            if let Some(p) = path {
                ch.set_var("socket_path", p);
            }
            if let Ok(s) = TcpStream::connect((host, port)).await {
                let _ = s.set_nodelay(true);
                stream = Some((s, format!("{host}:{port}")));
                break;
            }
        }
        let Some((stream, target)) = stream else {
            core.log(
                3,
                3,
                "mod_event_socket.c",
                "socket_function",
                2580,
                &ch.uuid,
                "Socket Error!\n",
            );
            return;
        };
        let (tx, rx) = oneshot::channel();
        let (itx, mut irx) = mpsc::unbounded_channel::<Inline>();
        if !async_mode {
            *lock(&ch.inline_tx) = Some(itx);
        }
        ch.hold();
        let ctx = OutboundCtx {
            async_mode,
            full,
            on_connect: Some(tx),
        };
        self.switch
            .sockets()
            .serve(self.switch.clone(), stream, ch.clone(), target, ctx);
        if async_mode {
            tokio::select! {
                _ = rx => {}
                _ = wait_true(&mut self.down) => {}
            }
            if !self.down() && !core.cfg.park_delay.is_zero() {
                let _ = self.wait(Some(core.cfg.park_delay), false, false).await;
            }
            self.park(true).await;
            return;
        }
        // Sync: the socket is served from the channel thread; sendmsg runs
        // inline and its +OK is written after the application returned.
        let mut holds = ch.holds.subscribe();
        let mut marked = false;
        loop {
            if self.down() && !marked {
                marked = true;
                core.send_to_session(&ch.uuid, true, || Out::Down);
            }
            tokio::select! {
                biased;
                r = self.down.changed(), if !marked => {
                    if r.is_err() {
                        break;
                    }
                }
                req = irx.recv() => {
                    let Some((msg, done)) = req else { break };
                    if !self.down() {
                        self.sendmsg(msg).await;
                    }
                    if self.down() && !marked {
                        marked = true;
                        core.send_to_session(&ch.uuid, true, || Out::Down);
                    }
                    let _ = done.send(());
                }
                _ = wait_zero(&mut holds) => break,
            }
        }
        *lock(&ch.inline_tx) = None;
    }
}
