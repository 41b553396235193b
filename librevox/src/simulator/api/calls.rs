//! The APIs on calls: `originate`, `hupall` and the `uuid_*` family.

use std::sync::Arc;

use super::args::Args;
use crate::simulator::channel::{spawn_call, ChanMsg, Channel, SendMsgData, Switch};
use crate::simulator::config::CallSpec;
use crate::simulator::state::cause_name;

const NO_SUCH_CHANNEL: &str = "-ERR No such channel!\n";

/// The channel the first word names.
fn channel(switch: &Switch, args: &Args<'_>) -> Option<Arc<Channel>> {
    switch.channel(args.word(0))
}

/// `originate <url> <app-or-extension>`: `loopback/<ext>[/<context>]` (or
/// `sim/<ext>`) creates an inbound channel routed to `<ext>` in the
/// simulated dialplan.
pub(super) fn originate(switch: &Arc<Switch>, args: &Args<'_>) -> Option<String> {
    let mut parts = args.word(0).split('/');
    let tech = parts.next().unwrap_or("");
    let ext = parts.next().unwrap_or("");
    if !(tech == "loopback" || tech == "sim") || ext.is_empty() {
        return Some("-ERR DESTINATION_OUT_OF_ORDER\n".to_owned());
    }
    let mut spec = CallSpec::new(ext);
    if let Some(ctx) = parts.next() {
        spec.context = ctx.to_owned();
    }
    let ch = spawn_call(switch, spec);
    Some(format!("+OK {}\n", ch.uuid))
}

/// `hupall [<cause>]`.
pub(super) fn hupall(switch: &Arc<Switch>, args: &Args<'_>) -> Option<String> {
    let cause = cause_name(args.word(0));
    for ch in switch.channels() {
        ch.hangup(&switch.core, &cause, true);
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
    let exists = channel(switch, args).is_some_and(|c| !c.is_destroyed());
    Some(exists.to_string())
}

/// `uuid_kill <uuid> [<cause>]`.
pub(super) fn uuid_kill(switch: &Arc<Switch>, args: &Args<'_>) -> Option<String> {
    Some(match channel(switch, args) {
        Some(ch) if !ch.is_down() => {
            ch.hangup(&switch.core, &cause_name(args.word(1)), true);
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
