//! The subscription commands (§3.2): `event`, `nixevent`, `noevents`,
//! `myevents`, `filter`, `divert_events`. They read the command's words;
//! the state they change, and how it selects events, is the bus's.

use super::conn::{starts_ci, Conn, Reply};
use crate::protocol::names::canonical;
use crate::protocol::packet::Packet;
use crate::protocol::EventFormat;
use crate::simulator::bus::{Filter, Out};
use crate::simulator::sync::lock;

/// The words after the command name.
fn words(cmd: &str) -> impl Iterator<Item = &str> {
    let rest = cmd.split_once(' ').map_or("", |(_, r)| r);
    rest.split(' ').filter(|t| !t.is_empty())
}

/// `ALL` or `SWITCH_EVENT_ALL`.
fn is_all(tok: &str) -> bool {
    let bare = if starts_ci(tok, "SWITCH_EVENT_") {
        &tok[13..]
    } else {
        tok
    };
    bare.eq_ignore_ascii_case("ALL")
}

/// `event [plain|json|xml] <names...> [CUSTOM <subclasses...>]`.
pub(super) fn event(conn: &mut Conn, pkt: &Packet) -> Reply {
    let denied = || Reply::Text("-ERR permission denied".into());
    let mut custom = false;
    let mut keys = 0;
    let mut s = lock(&conn.shared.subs);
    for (i, tok) in words(&pkt.command).enumerate() {
        if custom {
            if !conn.allowed_event(tok) {
                return denied();
            }
            s.subclasses.insert(tok.to_owned());
            continue;
        }
        if i == 0 {
            if let Ok(f) = tok.parse::<EventFormat>() {
                s.format = f;
                continue;
            }
        }
        if is_all(tok) {
            if !conn.allowed_event("ALL") {
                return denied();
            }
            keys += 1;
            s.all = true;
            s.set_every(true);
            let registered = conn.core.cfg.registered_subclasses.clone();
            s.subclasses.extend(registered);
        } else if let Some(name) = canonical(tok) {
            if !conn.allowed_event(name) {
                return denied();
            }
            keys += 1;
            custom = name == "CUSTOM";
            s.set(name, true);
        }
    }
    if keys == 0 {
        return Reply::Text("-ERR no keywords supplied".into());
    }
    s.events_on = true;
    Reply::Text(format!("+OK event listener enabled {}", s.format))
}

/// `nixevent <names...> [CUSTOM <subclasses...>]`: after `event ALL`, the
/// other types stay subscribed one by one.
pub(super) fn nixevent(conn: &mut Conn, pkt: &Packet) -> Reply {
    let mut custom = false;
    let mut keys = 0;
    let mut s = lock(&conn.shared.subs);
    for tok in words(&pkt.command) {
        if custom {
            s.subclasses.remove(tok);
            continue;
        }
        if is_all(tok) {
            keys += 1;
            s.all = false;
            s.set_every(false);
        } else if let Some(name) = canonical(tok) {
            keys += 1;
            if name == "CUSTOM" {
                custom = true;
                continue;
            }
            if s.all {
                s.all = false;
                s.set_every(true);
            }
            s.set(name, false);
        }
    }
    Reply::Text(if keys == 0 {
        "-ERR no keywords supplied".into()
    } else {
        "+OK events nixed".into()
    })
}

/// `noevents`: unsubscribes everything and drops the events not yet
/// written.
pub(super) fn noevents(conn: &mut Conn, _: &Packet) -> Reply {
    let was_on = {
        let mut s = lock(&conn.shared.subs);
        let was = s.events_on;
        if was {
            s.events_on = false;
            s.all = false;
            s.set_every(false);
            s.subclasses.clear();
        }
        was
    };
    if !was_on {
        return Reply::Text("-ERR not listening for events".into());
    }
    conn.drain(|o| matches!(o, Out::Event(_) | Out::Diverted(_)));
    Reply::Text("+OK no longer listening for events".into())
}

/// `myevents [plain|json|xml]` on a session socket; `myevents <uuid>
/// [<format>]` on an inbound one makes it that channel's session socket.
pub(super) fn myevents(conn: &mut Conn, pkt: &Packet) -> Reply {
    let cmd = pkt.command.as_str();
    let mut s = lock(&conn.shared.subs);
    if s.myevents {
        return Reply::Text("-ERR aready enabled.".into());
    }
    if conn.session.is_some() {
        if cmd.contains("json") || cmd.contains("JSON") {
            s.format = EventFormat::Json;
        } else if cmd.contains("xml") || cmd.contains("XML") {
            s.format = EventFormat::Xml;
        }
        s.subscribe_myevents();
        return Reply::Text("+OK Events Enabled".into());
    }
    let mut words = cmd[9..].split(' ').filter(|w| !w.is_empty());
    let uuid = words.next().unwrap_or("");
    let has_format = words.next().is_some();
    let reply = match conn.switch.channel(uuid) {
        Some(ch) => {
            s.session = Some(ch.uuid.clone());
            s.subscribe_myevents();
            drop(s);
            conn.session = Some(ch);
            "+OK Events Enabled"
        }
        None if has_format => "-ERR invalid uuid",
        None => {
            s.subscribe_myevents();
            "+OK Events Enabled"
        }
    };
    Reply::Text(reply.into())
}

/// `filter [add] <header> <value>`, `filter delete <header> [<value>]`,
/// `filter delete all`.
pub(super) fn filter(conn: &mut Conn, pkt: &Packet) -> Reply {
    let rest = &pkt.command[7..];
    let mut s = lock(&conn.shared.subs);
    if starts_ci(rest, "delete") {
        let args = rest[6..].trim_start();
        if args.is_empty() {
            return Reply::Text("-ERR invalid syntax".into());
        }
        let (header, value) = match args.split_once(' ') {
            Some((h, v)) => (h, Some(v)),
            None => (args, None),
        };
        if header.eq_ignore_ascii_case("all") {
            s.filters.clear();
        } else {
            s.filters.retain(|f| {
                !(f.header.eq_ignore_ascii_case(header) && value.is_none_or(|v| f.raw == v))
            });
        }
        let value = value.unwrap_or("");
        return Reply::Text(format!("+OK filter deleted. [{header}][{value}]"));
    }
    let rest = if starts_ci(rest, "add ") {
        &rest[4..]
    } else {
        rest
    };
    Reply::Text(match rest.split_once(' ') {
        Some((header, value)) if !header.is_empty() && !value.is_empty() => {
            s.filters.push(Filter::new(header, value));
            format!("+OK filter added. [{header}]=[{value}]")
        }
        _ => "-ERR invalid syntax".into(),
    })
}

/// `divert_events on|off` (session sockets): queued `sendevent`s come to
/// this socket instead of being fired.
pub(super) fn divert_events(conn: &mut Conn, pkt: &Packet) -> Reply {
    if conn.session.is_none() {
        return Reply::Text("-ERR not controlling a session.".into());
    }
    let arg = pkt.command[13..].trim();
    if arg.is_empty() {
        return Reply::Text("-ERR missing value.".into());
    }
    let on = arg.eq_ignore_ascii_case("on");
    lock(&conn.shared.subs).divert = on;
    Reply::Text(
        if on {
            "+OK events diverted"
        } else {
            "+OK events not diverted"
        }
        .into(),
    )
}
