//! Channels: their data and events (`data.rs`, `model.rs`), the registry
//! (`switch.rs`), the channel thread (`runner.rs`, `media.rs`) and the
//! applications that run on it (`apps/`). This file only wires them: it
//! creates a channel for a call and starts its runner with the
//! application table.

mod apps;
mod data;
mod media;
mod model;
mod runner;
mod switch;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::sleep;

pub use self::model::ChannelSnapshot;
pub(crate) use self::model::{ChanMsg, Channel, SendMsgData};
pub(crate) use self::switch::{OutboundCtx, SocketHost, Switch};

pub(crate) use self::runner::AfterAnswer;

use self::data::{ChanData, Times};
use self::model::Receivers;
use self::runner::{Originated, Runner, Start};
use super::config::{Action, CallSpec};
use super::state::cause_name;
use crate::protocol::{AnswerState, CallState, ChannelState, HangupCause};

/// The variables a new loopback channel starts with, then the call's own.
/// An outgoing leg starts as FreeSWITCH's originated loopback A leg does.
fn initial_vars(
    uuid: &str,
    session_id: u64,
    name: &str,
    spec: &CallSpec,
    outbound: bool,
) -> Vec<(String, String)> {
    let session_id = session_id.to_string();
    let codecs = [
        ("read_codec", "L16"),
        ("read_rate", "8000"),
        ("write_codec", "L16"),
        ("write_rate", "8000"),
    ];
    // In FreeSWITCH's order, which differs between the two legs.
    let mut vars: Vec<(&str, &str)> = Vec::new();
    if outbound {
        vars.extend([
            ("direction", "outbound"),
            ("is_outbound", "true"),
            ("session_id", &session_id),
        ]);
        vars.extend(codecs);
        vars.extend([("channel_name", name), ("uuid", uuid), ("call_uuid", uuid)]);
    } else {
        // `call_uuid` moves to the end once the channel routes (`create`).
        vars.extend([
            ("direction", "inbound"),
            ("uuid", uuid),
            ("call_uuid", uuid),
            ("session_id", &session_id),
            ("channel_name", name),
        ]);
        vars.extend(codecs);
    }
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    for (n, v) in &spec.variables {
        vars.retain(|(x, _)| x != n);
        vars.push((n.clone(), v.clone()));
    }
    vars
}

/// Creates a channel for `spec` (an incoming call, or with `outbound` an
/// originated leg) and registers it; its runner is not started yet.
fn build(switch: &Arc<Switch>, spec: &CallSpec, outbound: bool) -> (Arc<Channel>, Receivers) {
    let core = &switch.core;
    let uuid = spec.uuid.clone().unwrap_or_else(|| core.uuids.next());
    let name = spec
        .channel_name
        .clone()
        .unwrap_or_else(|| format!("loopback/{}-b", spec.destination));
    let session_id = switch.next_session_id();
    let data = ChanData {
        vars: initial_vars(&uuid, session_id, &name, spec, outbound),
        name,
        outbound,
        cid_flipped: false,
        dialplan: "xml".to_owned(),
        outbound_number: spec.context.clone(),
        state: ChannelState::Init,
        running: ChannelState::Init,
        callstate: CallState::Down,
        answer_state: AnswerState::Ringing,
        hangup_cause: None,
        caller_id_name: spec.caller_id_name.clone(),
        caller_id_number: spec.caller_id_number.clone(),
        destination: spec.destination.clone(),
        context: spec.context.clone(),
        times: Times {
            created: core.clock.now_us(),
            ..Times::default()
        },
        script: spec.script.clone(),
        inputs_used: 0,
        started_apps: Vec::new(),
    };
    let (ch, receivers) = Channel::new(uuid, data);
    switch.add(ch.clone());
    (ch, receivers)
}

/// Starts the channel's thread (and the scripted caller's hangup).
fn start(switch: &Arc<Switch>, ch: &Arc<Channel>, rx: Receivers, how: Start) {
    let core = &switch.core;
    let script = ch.with(|d| d.script.clone());
    if let Some(after) = script.hangup_after {
        let cause = cause_name(script.hangup_cause.as_deref().unwrap_or(""));
        let (core, ch) = (core.clone(), ch.clone());
        tokio::spawn(async move {
            sleep(after).await;
            ch.hangup(&core, cause, true);
        });
    }
    let runner = Runner::new(switch.clone(), ch.clone(), rx, apps::APPS, how);
    tokio::spawn(runner.run());
    core.notify();
}

/// Creates a channel for `spec`, registers it and starts its thread.
pub(crate) fn spawn_call(switch: &Arc<Switch>, spec: CallSpec) -> Arc<Channel> {
    let (ch, rx) = build(switch, &spec, false);
    start(switch, &ch, rx, Start::Dialplan);
    ch
}

/// What a loopback dial string (`loopback/<ext>[/<context>[/<dialplan>]]`)
/// gives both legs of an originate.
pub(crate) struct LoopbackDial {
    /// `Caller-Dialplan` (`xml` unless the dial string names one).
    pub(crate) dialplan: String,
    /// The number beside `Outbound Call` (see `ChanData::outbound_number`).
    pub(crate) outbound_number: String,
    /// The B leg's applications when the dialplan is `inline`; `None`: the
    /// B leg is routed by the simulated dialplan.
    pub(crate) inline: Option<Vec<Action>>,
}

/// Originates a loopback pair as `mod_loopback` does: the B leg (`b`, an
/// incoming call routed by the dialplan, or running `dial`'s inline
/// applications) and the A leg (`a`, outgoing), paired so that answer and
/// hangup spread between them. The A leg waits up to `timeout` for the B
/// leg to answer, then runs `then`; the B leg starts once the A leg waits.
/// Resolves once the A leg is answered (`Ok`, with it) or hung up (`Err`,
/// the cause).
pub(crate) async fn originate_pair(
    switch: &Arc<Switch>,
    (a, b): (CallSpec, CallSpec),
    dial: LoopbackDial,
    then: AfterAnswer,
    timeout: Duration,
) -> Result<Arc<Channel>, HangupCause> {
    let (a_ch, a_rx) = build(switch, &a, true);
    let (b_ch, b_rx) = build(switch, &b, false);
    for ch in [&a_ch, &b_ch] {
        ch.with(|d| {
            d.dialplan.clone_from(&dial.dialplan);
            d.outbound_number.clone_from(&dial.outbound_number);
        });
    }
    Channel::pair(&a_ch, &b_ch);
    let (tx, outcome) = oneshot::channel();
    let (waiting, a_waits) = oneshot::channel();
    let how = Start::Originated(Originated {
        then,
        timeout,
        outcome: tx,
        waiting,
    });
    start(switch, &a_ch, a_rx, how);
    // A dropped sender: the A leg ended first; the B leg still runs (and
    // is hung up with it).
    let _ = a_waits.await;
    let b_start = match dial.inline {
        Some(actions) => Start::Inline(actions),
        None => Start::Dialplan,
    };
    start(switch, &b_ch, b_rx, b_start);
    match outcome.await {
        Ok(Ok(())) => Ok(a_ch),
        Ok(Err(cause)) => Err(cause),
        // The runner always reports; a dropped sender is a hangup.
        Err(_) => Err(HangupCause::NormalClearing),
    }
}
