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

use tokio::time::sleep;

pub use self::model::ChannelSnapshot;
pub(crate) use self::model::{ChanMsg, Channel, SendMsgData};
pub(crate) use self::switch::{OutboundCtx, SocketHost, Switch};

use self::data::{ChanData, Times};
use self::runner::Runner;
use super::config::{Action, CallSpec};
use super::state::{cause_name, AnswerState, CallState, ChannelState};

/// The variables a new loopback channel starts with, then the call's own.
fn initial_vars(uuid: &str, session_id: u64, name: &str, spec: &CallSpec) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = [
        ("direction", "inbound"),
        ("uuid", uuid),
        ("session_id", &session_id.to_string()),
        ("channel_name", name),
        ("read_codec", "L16"),
        ("read_rate", "8000"),
        ("write_codec", "L16"),
        ("write_rate", "8000"),
        ("call_uuid", uuid),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_owned(), v.to_owned()))
    .collect();
    for (n, v) in &spec.variables {
        vars.retain(|(x, _)| x != n);
        vars.push((n.clone(), v.clone()));
    }
    vars
}

/// Creates a channel for `spec`, registers it and starts its thread.
pub(crate) fn spawn_call(switch: &Arc<Switch>, spec: CallSpec) -> Arc<Channel> {
    spawn_leg(switch, spec, None)
}

/// Creates a channel for `spec` that runs `inline` (when given) instead of
/// the dialplan's extension for its destination.
pub(crate) fn spawn_leg(
    switch: &Arc<Switch>,
    spec: CallSpec,
    inline: Option<Vec<Action>>,
) -> Arc<Channel> {
    let core = &switch.core;
    let uuid = spec.uuid.clone().unwrap_or_else(|| core.uuids.next());
    let name = spec
        .channel_name
        .clone()
        .unwrap_or_else(|| format!("loopback/{}-b", spec.destination));
    let session_id = switch.next_session_id();
    let data = ChanData {
        vars: initial_vars(&uuid, session_id, &name, &spec),
        name,
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
    if let Some(after) = spec.script.hangup_after {
        let cause = cause_name(spec.script.hangup_cause.as_deref().unwrap_or(""));
        let (core, ch) = (core.clone(), ch.clone());
        tokio::spawn(async move {
            sleep(after).await;
            ch.hangup(&core, &cause, true);
        });
    }
    let mut runner = Runner::new(switch.clone(), ch.clone(), receivers, apps::APPS);
    if let Some(actions) = inline {
        runner = runner.with_inline(actions);
    }
    tokio::spawn(runner.run());
    core.notify();
    ch
}
