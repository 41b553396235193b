//! The channel's thread: the state machine from CS_INIT to CS_DESTROY, the
//! dialplan, the private message queue (§6: `sendmsg`, queued
//! `sendevent`), and `switch_core_session_exec` around each application.
//!
//! The applications are not imported here: they run *on* a runner, so they
//! sit above it, and `channel/mod.rs` hands the runner their table.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{sleep, sleep_until, Instant};

use super::model::{ChanMsg, Channel, Receivers, SendMsgData};
use super::switch::Switch;
use crate::protocol::{CallState, ChannelState, HangupCause};
use crate::protocol::{Event, LogLevel};
use crate::simulator::bus::Out;
use crate::simulator::config::Action;
use crate::simulator::core::{Core, Src, TextChannel};
use crate::simulator::order;
use crate::simulator::state::cause_name;
pub(crate) use crate::simulator::sync::BoxFut;

/// An application that finishes at once: the argument in, the
/// `Application-Response` out (`None`: whatever the application set).
pub(crate) type NowFn = fn(&mut Runner, &str) -> Option<String>;

/// An application that waits (media, input, bridge, park, socket). The
/// flag is `nested`: queued messages run while it waits (`event-lock`
/// off).
pub(crate) type WaitFn = for<'a> fn(&'a mut Runner, &'a str, bool) -> BoxFut<'a, Option<String>>;

/// How an application runs.
#[derive(Clone, Copy)]
pub(crate) enum Run {
    Now(NowFn),
    Wait(WaitFn),
}

/// One application the simulator implements.
#[derive(Clone, Copy)]
pub(crate) struct App {
    pub(crate) name: &'static str,
    /// It still runs after hangup ("zombie exec", §6.4).
    pub(crate) zombie: bool,
    pub(crate) run: Run,
}

/// What ended a wait.
pub(crate) enum Wait {
    Elapsed,
    Hangup,
    Dtmf(char),
}

/// The `sendmsg` headers that shape an execution.
#[derive(Default, Clone)]
pub(crate) struct ExecOpts {
    pub(crate) event_uuid: Option<String>,
    pub(crate) uuid_name: Option<String>,
    pub(crate) event_lock: bool,
}

const EXEC_SRC: Src = ("switch_core_session.c", "switch_core_session_exec", 2949);
const COMPLETE_SRC: Src = ("switch_core_session.c", "switch_core_session_exec", 2972);

/// A channel's thread.
pub(crate) struct Runner {
    pub(crate) switch: Arc<Switch>,
    pub(crate) core: Arc<Core>,
    pub(crate) ch: Arc<Channel>,
    apps: &'static [App],
    pub(crate) queue: mpsc::UnboundedReceiver<ChanMsg>,
    pub(crate) dtmf: mpsc::UnboundedReceiver<char>,
    pub(crate) down: watch::Receiver<bool>,
    /// Set by `transfer`: route again to this destination.
    pub(crate) transfer: Option<String>,
    /// How the channel starts (routed by the dialplan, or originated).
    start: Option<Start>,
    depth: usize,
}

/// How a channel's thread starts.
pub(crate) enum Start {
    /// An incoming call: routed by the dialplan.
    Dialplan,
    /// An incoming call with an inline dialplan (a loopback B leg dialled
    /// as `loopback/<apps>/<context>/inline`): these actions, then done.
    Inline(Vec<Action>),
    /// The A leg of an originate.
    Originated(Originated),
}

/// An originated leg: it waits for its partner to answer it.
pub(crate) struct Originated {
    /// What runs once answered.
    pub(crate) then: AfterAnswer,
    /// How long to wait for the answer (`originate_timeout`).
    pub(crate) timeout: Duration,
    /// Answered (`Ok`) or hung up first (`Err`, the cause).
    pub(crate) outcome: oneshot::Sender<Result<(), HangupCause>>,
    /// Told once the leg waits in CS_CONSUME_MEDIA: its partner starts then
    /// (mod_loopback starts the B leg from the A leg's CS_INIT; on
    /// FreeSWITCH 1.11.3 the A leg is usually in CS_CONSUME_MEDIA when the
    /// B leg's answer reaches it, the order the simulator gives).
    pub(crate) waiting: oneshot::Sender<()>,
}

/// What an answered originated leg does: `originate`'s `&app(args)`, or
/// routing to an extension.
pub(crate) enum AfterAnswer {
    App(Action),
    Extension {
        extension: String,
        context: Option<String>,
    },
}

pub(crate) async fn wait_zero(rx: &mut watch::Receiver<usize>) {
    let _ = rx.wait_for(|h| *h == 0).await;
}

pub(crate) async fn wait_true(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|d| *d).await;
}

impl Runner {
    pub(crate) fn new(
        switch: Arc<Switch>,
        ch: Arc<Channel>,
        rx: Receivers,
        apps: &'static [App],
        start: Start,
    ) -> Runner {
        Runner {
            core: switch.core.clone(),
            switch,
            ch,
            apps,
            queue: rx.queue,
            dtmf: rx.dtmf,
            down: rx.down,
            transfer: None,
            start: Some(start),
            depth: 0,
        }
    }

    pub(crate) fn down(&self) -> bool {
        *self.down.borrow()
    }

    fn app(&self, name: &str) -> Option<App> {
        self.apps.iter().find(|a| a.name == name).copied()
    }

    /// The channel's life: created, routed (again after each transfer),
    /// hung up, reported, destroyed.
    pub(crate) async fn run(mut self) {
        let mut inline = None;
        match self.start.take() {
            Some(Start::Originated(o)) => match self.originated(o).await {
                Some(then) => inline = then.map(|action| vec![action]),
                None => return self.finish().await,
            },
            Some(Start::Inline(actions)) => {
                self.create();
                // The inline dialplan consumed the destination: from the
                // channel's next event on the switch sends no
                // `Caller-Destination-Number` (FreeSWITCH 1.11.3).
                self.ch.with(|d| d.destination.clear());
                inline = Some(actions);
            }
            _ => self.create(),
        }
        loop {
            self.ch.set_state(&self.core, ChannelState::Execute);
            match inline.take() {
                Some(actions) => self.run_actions(&actions).await,
                None => self.run_dialplan().await,
            }
            match self.transfer.take() {
                Some(dest) if !self.down() => {
                    let now = self.core.clock.now_us();
                    self.ch.with(|d| {
                        d.destination = dest;
                        d.times.transfer = now;
                    });
                    self.ch.set_state(&self.core, ChannelState::Routing);
                }
                _ => break,
            }
        }
        if !self.down() {
            self.ch
                .hangup(&self.core, HangupCause::NormalClearing, false);
        }
        self.finish().await;
    }

    /// CS_INIT, CHANNEL_CREATE, RINGING, CS_ROUTING.
    fn create(&self) {
        let (core, ch) = (&self.core, &self.ch);
        ch.fire_state(core);
        ch.with(|d| d.state = ChannelState::Routing);
        let src = (
            "switch_core_state_machine.c",
            "switch_core_session_run",
            626,
        );
        ch.fire(core, "CHANNEL_CREATE", src, true, &[]);
        ch.with(|d| {
            d.running = ChannelState::Routing;
            // Set again (so last) once routing, as on the switch.
            d.set_var("call_uuid", &ch.uuid);
        });
        ch.set_callstate(core, CallState::Ringing);
        ch.fire_state(core);
    }

    /// An originated leg: CS_INIT, CHANNEL_CREATE, CHANNEL_ORIGINATE,
    /// CS_ROUTING, CS_CONSUME_MEDIA (the call state stays DOWN), then the
    /// wait for the partner's answer: answered, it reports and returns the
    /// application to run (or routes to the extension: `None`); not
    /// answered in time, it hangs up with NO_ANSWER (`None`: it is down).
    async fn originated(&mut self, o: Originated) -> Option<Option<Action>> {
        let (core, ch) = (self.core.clone(), self.ch.clone());
        ch.fire_state(&core);
        ch.with(|d| d.state = ChannelState::Routing);
        let src = (
            "switch_core_state_machine.c",
            "switch_core_session_run",
            626,
        );
        ch.fire(&core, "CHANNEL_CREATE", src, true, &[]);
        let src = ("switch_ivr_originate.c", "switch_ivr_originate", 2939);
        ch.fire(&core, "CHANNEL_ORIGINATE", src, true, &[]);
        ch.set_state(&core, ChannelState::Routing);
        ch.set_state(&core, ChannelState::ConsumeMedia);
        let _ = o.waiting.send(());
        let mut answered = ch.answered();
        tokio::select! {
            _ = answered.wait_for(|a| *a) => {}
            _ = wait_true(&mut self.down) => {}
            _ = sleep(o.timeout) => { ch.hangup(&core, HangupCause::NoAnswer, false); }
        }
        if !*answered.borrow() {
            let cause = ch.with(|d| d.hangup_cause.clone());
            let _ = o.outcome.send(Err(cause.unwrap_or(HangupCause::None)));
            return None;
        }
        ch.with(|d| {
            let (name, number) = (d.caller_id_name.clone(), d.caller_id_number.clone());
            d.set_var("pre_transfer_caller_id_name", &name);
            d.set_var("pre_transfer_caller_id_number", &number);
            d.set_var("channel_cid_flipped", "yes");
            d.set_var("call_uuid", &ch.uuid);
            d.cid_flipped = true;
        });
        let _ = o.outcome.send(Ok(()));
        Some(match o.then {
            AfterAnswer::App(action) => Some(action),
            AfterAnswer::Extension { extension, context } => {
                ch.with(|d| {
                    d.destination = extension;
                    d.context = context.unwrap_or_else(|| d.context.clone());
                });
                None
            }
        })
    }

    /// The extension for the destination, action by action.
    async fn run_dialplan(&mut self) {
        let dest = self.ch.with(|d| d.destination.clone());
        let Some(ext) = self.core.cfg.dialplan.find(&dest) else {
            self.ch
                .hangup(&self.core, HangupCause::NoRouteDestination, false);
            return;
        };
        let actions = ext.actions.clone();
        self.run_actions(&actions).await;
    }

    /// Runs actions in turn until hangup or transfer.
    async fn run_actions(&mut self, actions: &[Action]) {
        for action in actions {
            if self.down() || self.transfer.is_some() {
                break;
            }
            self.exec_app(&action.app, &action.arg, ExecOpts::default())
                .await;
        }
    }

    /// CS_HANGUP, CS_REPORTING (CHANNEL_HANGUP_COMPLETE), then, once no
    /// socket holds the channel (§5.5), CS_DESTROY.
    async fn finish(&mut self) {
        let (core, ch) = (self.core.clone(), self.ch.clone());
        ch.with(|d| d.running = ChannelState::Hangup);
        ch.fire_state(&core);
        let now = core.clock.now_us();
        ch.with(|d| d.times.hangup = now);
        ch.set_callstate(&core, CallState::Hangup);
        ch.with(|d| {
            d.state = ChannelState::Reporting;
            d.running = ChannelState::Reporting;
        });
        ch.fire_state(&core);
        let cause = ch.with(|d| {
            d.set_hangup_vars(now);
            d.hangup_cause.clone().unwrap_or(HangupCause::None)
        });
        let mut e = core.base_event(
            "CHANNEL_HANGUP_COMPLETE",
            (
                "switch_core_state_machine.c",
                "switch_core_session_reporting_state",
                943,
            ),
        );
        e.push_header("Hangup-Cause", cause.as_str());
        ch.push_channel_data(&mut e, true);
        core.fire(e);
        ch.push_markers(&core);
        wait_zero(&mut ch.holds()).await;
        ch.with(|d| d.state = ChannelState::Destroy);
        let src = (
            "switch_core_session.c",
            "switch_core_session_perform_destroy",
            1588,
        );
        ch.fire(&core, "CHANNEL_DESTROY", src, true, &[]);
        ch.with(|d| d.running = ChannelState::Destroy);
        ch.fire_state(&core);
        ch.set_destroyed();
        self.switch.remove(&ch.uuid);
    }

    /// Waits for a duration (or forever), a hangup, or (with `dtmf`) a
    /// digit. With `nested`, queued messages are executed meanwhile (§6.3).
    pub(crate) async fn wait(&mut self, dur: Option<Duration>, nested: bool, dtmf: bool) -> Wait {
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

    /// The DTMF event of a dequeued digit.
    pub(crate) fn fire_dtmf(&self, d: char) {
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
    pub(crate) fn process(&mut self, msg: ChanMsg) -> BoxFut<'_> {
        Box::pin(async move {
            match msg {
                ChanMsg::Event(queued, name) => self.queued_event(&queued, &name),
                ChanMsg::SendMsg(msg) => self.sendmsg(msg).await,
            }
        })
    }

    /// A `sendevent` queued to the channel: diverted to its session
    /// sockets (`divert_events on`), or fired with the channel data.
    fn queued_event(&self, queued: &Event, name: &str) {
        let diverted: Vec<_> = self
            .core
            .subscribers()
            .into_iter()
            .filter(|l| l.divert_to(&self.ch.uuid))
            .collect();
        if diverted.is_empty() {
            let mut e = self.core.sendevent_form(queued, name);
            self.ch.push_channel_data(&mut e, true);
            self.core.fire(e);
            return;
        }
        for l in diverted {
            if l.events_enabled() {
                l.push(Out::Diverted(queued.clone()));
            }
        }
    }

    /// One `sendmsg` (§6.1); a channel with media reports it with
    /// PRIVATE_COMMAND afterwards.
    pub(crate) async fn sendmsg(&mut self, msg: SendMsgData) {
        let had_media = self.ch.answered_or_early();
        let cc = msg
            .header("call-command")
            .unwrap_or("")
            .to_ascii_lowercase();
        match cc.as_str() {
            "execute" => self.execute_msg(&msg).await,
            "hangup" => {
                let cause = cause_name(msg.header("hangup-cause").unwrap_or(""));
                self.ch.hangup(&self.core, cause, false);
            }
            "xferext" => self.xferext(&msg).await,
            _ => {}
        }
        if had_media {
            self.fire_private_command(&msg);
        }
    }

    /// `call-command: execute`, with `loops`.
    async fn execute_msg(&mut self, msg: &SendMsgData) {
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
        while loops < 0 || i <= loops {
            self.ch.set_var("current_loop", &i.to_string());
            self.ch.set_var("total_loops", &total);
            if self.app(&app).is_none() {
                self.exec_app(&app, &arg, opts.clone()).await;
                break;
            }
            let started = Instant::now();
            self.exec_app(&app, &arg, opts.clone()).await;
            // A loop that does not take time would spin forever.
            if self.down() || (loops != 1 && started.elapsed() < Duration::from_millis(500)) {
                break;
            }
            i += 1;
        }
        self.ch.set_var("current_loop", "");
        self.ch.set_var("total_loops", "");
    }

    /// `call-command: xferext`: each `application: <app> <arg>` header in
    /// turn.
    async fn xferext(&mut self, msg: &SendMsgData) {
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

    fn fire_private_command(&self, msg: &SendMsgData) {
        let mut e = Event::empty();
        e.push_header("Command", &msg.command);
        for (n, v) in &msg.headers {
            e.push_header(n, v);
        }
        e.push_header("Event-Name", "PRIVATE_COMMAND");
        let src = ("switch_ivr.c", "switch_ivr_parse_next_event", 804);
        self.core.push_standard_tail(&mut e, src);
        self.ch.push_channel_data(&mut e, false);
        self.core.fire(e);
    }

    /// `${var}` expansion of an application argument.
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

    /// `switch_core_session_exec`: EXECUTE, the application, COMPLETE. An
    /// unknown application hangs the channel up.
    pub(crate) fn exec_app<'a>(
        &'a mut self,
        app: &'a str,
        arg: &'a str,
        opts: ExecOpts,
    ) -> BoxFut<'a> {
        Box::pin(async move {
            let Some(known) = self.app(app) else {
                self.ch
                    .hangup(&self.core, HangupCause::DestinationOutOfOrder, false);
                return;
            };
            if self.down() && !known.zombie {
                return;
            }
            let data = self.expand(arg);
            let app_uuid = opts
                .event_uuid
                .clone()
                .unwrap_or_else(|| self.core.uuids.next());
            self.start_app(app, &data, &app_uuid, &opts);
            self.depth += 1;
            let response = match known.run {
                Run::Now(f) => f(self, &data),
                Run::Wait(f) => f(self, &data, !opts.event_lock).await,
            };
            self.depth -= 1;
            self.complete_app(app, &data, &app_uuid, &opts, response);
        })
    }

    /// The variables, CHANNEL_EXECUTE and the log line before an
    /// application runs.
    fn start_app(&self, app: &str, data: &str, app_uuid: &str, opts: &ExecOpts) {
        let (core, ch) = (&self.core, &self.ch);
        ch.set_var("current_application_response", "");
        ch.set_var("current_application", app);
        ch.set_var("current_application_data", data);
        let extra = app_headers(app, data, None, app_uuid, opts);
        let call = core.cfg.call_order(&ch.uuid);
        if order::notice_before_execute(call, app, true) {
            // A sync socket's linger notice overtakes the hangup's events.
            core.send_to_session(&ch.uuid, true, || Out::Down);
        }
        if order::notice_before_execute(call, app, false) {
            // An async socket's too, with a dispatch lag.
            ch.push_markers(core);
        }
        ch.fire(core, "CHANNEL_EXECUTE", EXEC_SRC, true, &pairs(&extra));
        let line = format!(
            "EXECUTE [depth={}] {} {app}({data})\n",
            self.depth,
            ch.name()
        );
        core.log(
            LogLevel::Info.number(),
            TextChannel::Clean,
            ("switch_core_session.c", "switch_core_session_exec", 2907),
            &ch.uuid,
            &line,
        );
        ch.set_var("current_application_data", data);
        ch.set_var("current_application", app);
        self.scripted_hangup(app);
    }

    /// The response and CHANNEL_EXECUTE_COMPLETE after an application.
    fn complete_app(
        &self,
        app: &str,
        data: &str,
        app_uuid: &str,
        opts: &ExecOpts,
        response: Option<String>,
    ) {
        if let Some(r) = response {
            self.ch.set_var("current_application_response", &r);
        }
        let resp = self
            .ch
            .var("current_application_response")
            .unwrap_or_else(|| "_none_".into());
        let extra = app_headers(app, data, Some(&resp), app_uuid, opts);
        self.ch.fire(
            &self.core,
            "CHANNEL_EXECUTE_COMPLETE",
            COMPLETE_SRC,
            true,
            &pairs(&extra),
        );
    }

    /// The caller script's `hangup_during`: the first start of the named
    /// application schedules the hangup.
    fn scripted_hangup(&self, app: &str) {
        let plan = self.ch.with(|d| {
            if d.started_apps.iter().any(|a| a == app) {
                return None;
            }
            d.started_apps.push(app.to_owned());
            let (name, after) = d.script.hangup_during.clone()?;
            let cause = cause_name(d.script.hangup_cause.as_deref().unwrap_or(""));
            (name == app).then_some((after, cause))
        });
        if let Some((after, cause)) = plan {
            let (core, ch) = (self.core.clone(), self.ch.clone());
            tokio::spawn(async move {
                sleep(after).await;
                ch.hangup(&core, cause, true);
            });
        }
    }

    /// The park loop: executes queued messages until hangup or transfer (or,
    /// for the async socket, until the socket closed after `resume`).
    /// `fired` is dropped once CHANNEL_PARK is fired.
    pub(crate) async fn park(&mut self, socket: bool, fired: Option<oneshot::Sender<()>>) {
        let (core, ch) = (self.core.clone(), self.ch.clone());
        let park_src = ("switch_ivr.c", "switch_ivr_park", 1002);
        ch.fire(&core, "CHANNEL_PARK", park_src, true, &[]);
        drop(fired);
        let mut holds = ch.holds();
        let mut socket_open = socket;
        while !self.down() && self.transfer.is_none() {
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
        let unpark_src = ("switch_ivr.c", "switch_ivr_park", 1213);
        ch.fire(&core, "CHANNEL_UNPARK", unpark_src, true, &[]);
    }
}

/// `Application`, `Application-Data` (when not empty),
/// `Application-Response` (on completion), `Application-UUID`,
/// `Application-UUID-Name` (when given).
fn app_headers(
    app: &str,
    data: &str,
    response: Option<&str>,
    app_uuid: &str,
    opts: &ExecOpts,
) -> Vec<(&'static str, String)> {
    let mut h = vec![("Application", app.to_owned())];
    if !data.is_empty() {
        h.push(("Application-Data", data.to_owned()));
    }
    if let Some(r) = response {
        h.push(("Application-Response", r.to_owned()));
    }
    h.push(("Application-UUID", app_uuid.to_owned()));
    if let Some(n) = &opts.uuid_name {
        h.push(("Application-UUID-Name", n.clone()));
    }
    h
}

fn pairs<'a>(h: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    h.iter().map(|(n, v)| (*n, v.as_str())).collect()
}
