//! `sendmsg` (§6: a message to a channel's private queue, or, on a sync
//! socket, run inline) and `sendevent` (fired, or queued to the channel it
//! names).

use tokio::sync::oneshot;

use super::conn::{Conn, Phase, Reply};
use crate::protocol::names::canonical;
use crate::protocol::packet::Packet;
use crate::protocol::Event;
use crate::simulator::channel::{ChanMsg, SendMsgData};
use crate::simulator::sync::BoxFut;

/// The target channel and the `Command` value of a sendmsg: `sendmsg
/// <uuid>` names it (the command line is the value), otherwise
/// `Session-ID` or the controlled channel (the whole header block is).
fn target(conn: &Conn, pkt: &Packet) -> (String, String) {
    let arg = pkt.command[7..].trim();
    if !arg.is_empty() {
        return (arg.to_owned(), pkt.command.clone());
    }
    let head_len = pkt.raw.len() - pkt.body.as_ref().map_or(0, |b| b.len());
    let raw = String::from_utf8_lossy(&pkt.raw[..head_len]).into_owned();
    let t = pkt
        .header("Session-ID")
        .map(str::to_owned)
        .or_else(|| conn.session.as_ref().map(|c| c.uuid.clone()))
        .unwrap_or_default();
    (t, raw)
}

pub(super) fn sendmsg<'a>(conn: &'a mut Conn, pkt: &'a Packet) -> BoxFut<'a, Reply> {
    Box::pin(async move {
        let (target, command) = target(conn, pkt);
        let Some(ch) = conn.switch.channel(&target).filter(|c| !c.is_destroyed()) else {
            return Reply::Text(format!("-ERR invalid session id [{target}]"));
        };
        let own = conn.session.as_ref().is_some_and(|s| s.uuid == ch.uuid);
        let data = SendMsgData {
            command,
            headers: pkt.headers.clone(),
            body: pkt.body.clone(),
        };
        let async_header = pkt
            .header("async")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let sync_socket = conn.outbound.as_ref().is_some_and(|o| !o.async_mode);
        if own && sync_socket && !async_header {
            let (tx, rx) = oneshot::channel();
            if ch.inline(data, tx) {
                let _ = rx.await;
            }
            if ch.is_down() && conn.linger.is_none() {
                conn.phase = Phase::Closing;
            }
        } else {
            ch.queue(ChanMsg::SendMsg(data));
        }
        Reply::Text("+OK".into())
    })
}

/// `sendevent [<name>]` with headers and a body: an unknown name is
/// CUSTOM; a `Unique-ID` of an existing channel queues the event to it.
pub(super) fn sendevent(conn: &mut Conn, pkt: &Packet) -> Reply {
    let name = pkt.command[9..].trim().split(' ').next().unwrap_or("");
    let ev_name = canonical(name).unwrap_or("CUSTOM");
    let subclass = if ev_name == "CUSTOM" {
        pkt.header("Event-Subclass").map(str::to_owned)
    } else {
        None
    };
    let event_uuid = conn.core.uuids.next();
    let mut queued = Event::empty();
    queued.push_header("Command", &pkt.command);
    for (n, v) in &pkt.headers {
        if subclass.is_some() && n.eq_ignore_ascii_case("Event-Subclass") {
            continue;
        }
        queued.push_header(n, v);
    }
    queued.push_header("Event-UUID", &event_uuid);
    if let Some(sub) = &subclass {
        queued.push_header("Event-Subclass", sub);
    }
    if let Some(b) = &pkt.body {
        queued.set_body(b.clone());
    }
    let target = pkt
        .header("Unique-ID")
        .and_then(|u| conn.switch.channel(u))
        .filter(|c| !c.is_destroyed());
    match target {
        Some(ch) => ch.queue(ChanMsg::Event(queued, ev_name.to_owned())),
        None => conn.core.fire(conn.core.sendevent_form(&queued, ev_name)),
    }
    Reply::Text(format!("+OK {event_uuid}"))
}
