//! The APIs on calls: `originate`, `hupall` and the `uuid_*` family.

use std::sync::Arc;
use std::time::Duration;

use super::args::Args;
use crate::commands::{Destination, Originate};
use crate::protocol::{Endpoint, HangupCause};
use crate::simulator::channel::{
    originate_pair, AfterAnswer, ChanMsg, Channel, LoopbackDial, SendMsgData, Switch,
};
use crate::simulator::config::{Action, CallSpec};
use crate::simulator::state::cause_name;
use crate::simulator::sync::BoxFut;

const NO_SUCH_CHANNEL: &str = "-ERR No such channel!\n";

/// The channel the first word names, as `switch_core_session_locate`
/// finds it: not once it is hung up (checked on FreeSWITCH 1.11.3: right
/// after `uuid_kill`, every `uuid_*` API answers `No such channel`).
fn channel(switch: &Switch, args: &Args<'_>) -> Option<Arc<Channel>> {
    switch.channel(args.word(0)).filter(|c| !c.is_down())
}

/// The usage line FreeSWITCH answers an `originate` without a destination.
const ORIGINATE_USAGE: &str = "-USAGE: <call url> <exten>|&<application_name>(<app_args>) \
     [<dialplan>] [<context>] [<cid_name>] [<cid_num>] [<timeout_sec>]\n";

/// How long an originate waits for an answer unless told.
const ORIGINATE_TIMEOUT_SECS: u64 = 60;

/// `originate <dial> <&app(args) | extension [dialplan [context]]> [<cid
/// name> <cid number> [<timeout>]]`, read with the public
/// [`Originate::parse`]. A `loopback/<ext>[/<context>]` (or `sim/<ext>`)
/// endpoint makes the two loopback legs as FreeSWITCH does: the B leg
/// (`loopback/<ext>-b`) routed to `<ext>` in the simulated dialplan, and
/// the A leg (`loopback/<ext>-a`) answered when the B leg answers and then
/// running the `&app(args)` (or routed to the extension). The reply waits
/// for that: `+OK <A leg UUID>` (`origination_uuid` when the dial string
/// sets it), or `-ERR <cause>` when the B leg hangs up first or nothing
/// answers within `originate_timeout` (`NO_ANSWER`).
pub(super) fn originate<'a>(
    switch: &'a Arc<Switch>,
    args: &'a Args<'a>,
) -> BoxFut<'a, Option<String>> {
    Box::pin(async move {
        if args.line.split_whitespace().nth(1).is_none() {
            return Some(ORIGINATE_USAGE.to_owned());
        }
        let (legs, dial, then, timeout) = match originate_legs(switch, args.line) {
            Ok(legs) => legs,
            Err(reply) => return Some(format!("-ERR {reply}\n")),
        };
        Some(
            match originate_pair(switch, legs, dial, then, timeout).await {
                Ok(ch) => format!("+OK {}\n", ch.uuid),
                Err(cause) => format!("-ERR {cause}\n"),
            },
        )
    })
}

/// The two legs of an originate, what the dial string gives them, what the
/// A leg does once answered and how long it waits; or the error FreeSWITCH
/// answers.
type Legs = ((CallSpec, CallSpec), LoopbackDial, AfterAnswer, Duration);

/// See [`Legs`].
fn originate_legs(switch: &Switch, line: &str) -> Result<Legs, &'static str> {
    let cmd =
        Originate::parse(&format!("originate {line}")).map_err(|_| "DESTINATION_OUT_OF_ORDER")?;
    let dial = cmd.dial();
    let leg = dial.groups.first().and_then(|g| g.first());
    let (ext, context, dialplan) = leg
        .and_then(|l| loopback_target(&l.endpoint))
        .ok_or("CHAN_NOT_IMPLEMENTED")?;
    if ext.is_empty() {
        return Err("NO_ROUTE_DESTINATION");
    }
    let leg_vars = leg.map_or(&[][..], |l| &l.vars[..]);
    let vars: Vec<(String, String)> = dial.vars.iter().chain(leg_vars).cloned().collect();
    let var = |name: &str| {
        vars.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let core = &switch.core;
    let a_uuid = var("origination_uuid").map_or_else(|| core.uuids.next(), str::to_owned);
    let b_uuid = core.uuids.next();
    let mut b = CallSpec::new(&ext).uuid(&b_uuid);
    let loopback = LoopbackDial {
        // The number beside `Outbound Call`: the dial string's last part.
        outbound_number: dialplan.clone().or(context.clone()).unwrap_or(ext.clone()),
        inline: dialplan
            .as_deref()
            .filter(|d| d.eq_ignore_ascii_case("inline"))
            .map(|_| inline_actions(&ext)),
        dialplan: dialplan.unwrap_or_else(|| "xml".to_owned()),
    };
    if let Some(ctx) = context {
        b.context = ctx;
    }
    if let Some(number) = var("origination_caller_id_number").or(cmd.caller_id_number()) {
        b.caller_id_number = number.to_owned();
    }
    if let Some(name) = var("origination_caller_id_name").or(cmd.caller_id_name()) {
        b.caller_id_name = name.to_owned();
    }
    let mut a = b.clone().uuid(&a_uuid);
    a.channel_name = Some(format!("loopback/{ext}-a"));
    b.variables = vars.clone();
    a.variables = vars.clone();
    a.variables.extend(
        [
            ("originate_early_media", "true"),
            ("originate_endpoint", "loopback"),
        ]
        .map(|(n, v)| (n.to_owned(), v.to_owned())),
    );
    for (spec, leg, other) in [(&mut a, "A", &b_uuid), (&mut b, "B", &a_uuid)] {
        spec.variables
            .push(("other_loopback_leg_uuid".into(), other.clone()));
        spec.variables.push(("loopback_leg".into(), leg.into()));
    }
    let then = match cmd.destination() {
        Destination::App { app, args } => AfterAnswer::App(Action::new(app, args)),
        Destination::Extension {
            extension, context, ..
        } => AfterAnswer::Extension {
            extension: extension.clone(),
            context: context.clone(),
        },
    };
    // 0 (or a timeout without digits, which parses as unset) is the
    // default, as on the switch.
    let secs = var("originate_timeout")
        .and_then(|t| t.parse().ok())
        .or(cmd.timeout_secs().map(u64::from))
        .filter(|&s| s > 0)
        .unwrap_or(ORIGINATE_TIMEOUT_SECS);
    Ok(((a, b), loopback, then, Duration::from_secs(secs)))
}

/// The extension, context and dialplan a simulated endpoint routes to.
fn loopback_target(endpoint: &Endpoint) -> Option<(String, Option<String>, Option<String>)> {
    match endpoint {
        Endpoint::Loopback {
            extension,
            context,
            dialplan,
        } => Some((extension.clone(), context.clone(), dialplan.clone())),
        Endpoint::Raw(text) => {
            let mut parts = text.split('/');
            let (tech, ext) = (parts.next()?, parts.next().unwrap_or(""));
            let mut rest = parts.map(str::to_owned);
            matches!(tech, "sim" | "loopback").then(|| (ext.to_owned(), rest.next(), rest.next()))
        }
        _ => None,
    }
}

/// The applications of an inline dialplan's extension, as mod_dptools'
/// `inline` dialplan reads it: `app[:arg]` separated by `,`, or by the
/// character after a leading `^^` (`^^;answer;park`), or after `m:` in a
/// leading `m:<c>:`; leading spaces of a name are dropped.
fn inline_actions(extension: &str) -> Vec<Action> {
    let (delim, list) = match extension.as_bytes() {
        [b'^', b'^', d, ..] if d.is_ascii() => (char::from(*d), &extension[3..]),
        [b'm', b':', d, b':', ..] if d.is_ascii() => (char::from(*d), &extension[4..]),
        _ => (',', extension),
    };
    list.split(delim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            let (app, arg) = item.split_once(':').unwrap_or((item, ""));
            Action::new(app.trim_start_matches(' '), arg)
        })
        .collect()
}

/// `hupall [<cause>]`: MANAGER_REQUEST when no cause is given, else the
/// cause read as `uuid_kill` reads it (as 1.11.3 answers).
pub(super) fn hupall(switch: &Arc<Switch>, args: &Args<'_>) -> Option<String> {
    let cause = match args.word(0) {
        "" => HangupCause::ManagerRequest,
        given => cause_name(given),
    };
    for ch in switch.channels() {
        ch.hangup(&switch.core, cause.clone(), true);
    }
    Some(format!("+OK hangup all channels with cause {cause}\n"))
}

/// `uuid_dump <uuid>`: the channel data as a plain event.
pub(super) fn uuid_dump(switch: &Arc<Switch>, args: &Args<'_>) -> Option<String> {
    Some(match channel(switch, args) {
        Some(ch) => {
            let e = ch.channel_data_event(&switch.core);
            String::from_utf8_lossy(&e.to_plain()).into_owned()
        }
        None => NO_SUCH_CHANNEL.to_owned(),
    })
}

pub(super) fn uuid_exists(switch: &Arc<Switch>, args: &Args<'_>) -> Option<String> {
    let exists = channel(switch, args).is_some();
    Some(exists.to_string())
}

/// `uuid_kill <uuid> [<cause>]`.
pub(super) fn uuid_kill(switch: &Arc<Switch>, args: &Args<'_>) -> Option<String> {
    Some(match channel(switch, args) {
        Some(ch) if !ch.is_down() => {
            ch.hangup(&switch.core, cause_name(args.word(1)), true);
            "+OK\n".to_owned()
        }
        _ => NO_SUCH_CHANNEL.to_owned(),
    })
}

/// `uuid_park <uuid>`: queues `park` to the channel.
pub(super) fn uuid_park(switch: &Arc<Switch>, args: &Args<'_>) -> Option<String> {
    let Some(ch) = channel(switch, args) else {
        return Some(NO_SUCH_CHANNEL.to_owned());
    };
    ch.queue(ChanMsg::SendMsg(SendMsgData {
        command: format!("uuid_park {}", ch.uuid),
        headers: vec![
            ("call-command".into(), "execute".into()),
            ("execute-app-name".into(), "park".into()),
        ],
        body: None,
    }));
    Some("+OK\n".to_owned())
}

/// `uuid_bridge <a> <b>`: records the bridge (no media is modelled).
pub(super) fn uuid_bridge(switch: &Arc<Switch>, args: &Args<'_>) -> Option<String> {
    let a = switch.channel(args.word(0));
    let b = switch.channel(args.word(1));
    Some(match (a, b) {
        (Some(a), Some(b)) => {
            a.set_var("bridge_to", &b.uuid);
            b.set_var("bridge_to", &a.uuid);
            format!("+OK {}\n", b.uuid)
        }
        _ => "-ERR Invalid uuid\n".to_owned(),
    })
}

/// `uuid_send_dtmf <uuid> <digits>[@<duration>]`.
pub(super) fn uuid_send_dtmf(switch: &Arc<Switch>, args: &Args<'_>) -> Option<String> {
    Some(match channel(switch, args) {
        Some(ch) => {
            ch.send_dtmf(args.word(1).split('@').next().unwrap_or(""));
            "+OK Success\n".to_owned()
        }
        None => "-ERR no such session\n".to_owned(),
    })
}

/// `uuid_getvar <uuid> <name>`: the value, or `_undef_`.
pub(super) fn uuid_getvar(switch: &Arc<Switch>, args: &Args<'_>) -> Option<String> {
    Some(match channel(switch, args) {
        Some(ch) => ch.var(args.word(1)).unwrap_or_else(|| "_undef_".into()),
        None => NO_SUCH_CHANNEL.to_owned(),
    })
}

/// `uuid_setvar <uuid> <name> [<value>]` (the value may hold spaces).
pub(super) fn uuid_setvar(switch: &Arc<Switch>, args: &Args<'_>) -> Option<String> {
    Some(match channel(switch, args) {
        Some(ch) => {
            let value = args.line.splitn(3, ' ').nth(2).unwrap_or("");
            ch.set_var(args.word(1), value);
            "+OK\n".to_owned()
        }
        None => NO_SUCH_CHANNEL.to_owned(),
    })
}
