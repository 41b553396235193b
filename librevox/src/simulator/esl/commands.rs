//! The command dispatch of mod_event_socket's `parse_command` (§3.1): one
//! table, in FreeSWITCH's order of prefix tests, of who may run a command
//! and the function that runs it; and the commands small enough to live
//! here.

use std::time::Duration;

use tokio::sync::oneshot;

use super::conn::{starts_ci, Conn, Phase, Reply};
use super::{api, auth, events, sendmsg};
use crate::protocol::packet::Packet;
use crate::protocol::server;
use crate::protocol::LogLevel;
use crate::simulator::core::level_by_name;
use crate::simulator::sync::{lock, BoxFut};
use crate::simulator::telemetry;

/// Who may run a command.
#[derive(Clone, Copy)]
enum Gate {
    /// Any authenticated connection.
    Authed,
    /// A connection controlling a session.
    Session,
    /// A session socket, or `myevents <uuid>` on an inbound one.
    MyEvents,
    /// Authenticated and, on an outbound socket, `full`.
    Full,
}

type SyncFn = fn(&mut Conn, &Packet) -> Reply;
type AsyncFn = for<'a> fn(&'a mut Conn, &'a Packet) -> BoxFut<'a, Reply>;

#[derive(Clone, Copy)]
enum Handler {
    Sync(SyncFn),
    Async(AsyncFn),
}

/// A command: its prefix (ASCII case-insensitive, as FreeSWITCH tests it),
/// its gate, its function.
struct Command {
    prefix: &'static str,
    gate: Gate,
    run: Handler,
}

const fn sync(prefix: &'static str, gate: Gate, f: SyncFn) -> Command {
    Command {
        prefix,
        gate,
        run: Handler::Sync(f),
    }
}

const fn later(prefix: &'static str, gate: Gate, f: AsyncFn) -> Command {
    Command {
        prefix,
        gate,
        run: Handler::Async(f),
    }
}

/// The authenticated commands, in the order FreeSWITCH tests them; the
/// first whose prefix and gate match runs.
const COMMANDS: &[Command] = &[
    sync("filter ", Gate::Authed, events::filter),
    sync("resume", Gate::Session, resume),
    later("connect", Gate::Session, connect),
    sync("getvar", Gate::Session, getvar),
    sync("myevents", Gate::MyEvents, events::myevents),
    sync("divert_events", Gate::Authed, events::divert_events),
    later("sendmsg", Gate::Authed, sendmsg::sendmsg),
    sync("sendevent", Gate::Full, sendmsg::sendevent),
    later("api ", Gate::Full, api::api),
    sync("bgapi ", Gate::Full, api::bgapi),
    sync("log", Gate::Full, log),
    sync("linger", Gate::Full, linger),
    sync("nolinger", Gate::Full, nolinger),
    sync("nolog", Gate::Full, nolog),
    sync("event", Gate::Full, events::event),
    sync("nixevent", Gate::Full, events::nixevent),
    sync("noevents", Gate::Full, events::noevents),
];

impl Conn {
    fn full(&self) -> bool {
        self.outbound.as_ref().is_none_or(|o| o.full)
    }

    fn passes(&self, gate: Gate, cmd: &str) -> bool {
        match gate {
            Gate::Authed => true,
            Gate::Session => self.session.is_some(),
            Gate::MyEvents => self.session.is_some() || starts_ci(cmd, "myevents "),
            Gate::Full => self.full(),
        }
    }
}

/// Runs one packet's command.
pub(super) async fn dispatch(conn: &mut Conn, pkt: &Packet) -> Reply {
    let cmd = pkt.command.as_str();
    if starts_ci(cmd, "exit") || cmd.starts_with("...") {
        telemetry::command("exit");
        return Reply::Close(vec![server::command_reply("+OK bye"), conn.goodbye_frame()]);
    }
    if conn.phase == Phase::Unauthenticated {
        telemetry::command(auth::kind(cmd));
        return auth::unauthenticated(conn, cmd);
    }
    let found = COMMANDS
        .iter()
        .find(|c| starts_ci(cmd, c.prefix) && conn.passes(c.gate, cmd));
    // The table's prefix without its trailing space: a fixed verb.
    telemetry::command(found.map_or("other", |c| c.prefix.trim_end()));
    match found.map(|c| c.run) {
        Some(Handler::Sync(f)) => f(conn, pkt),
        Some(Handler::Async(f)) => f(conn, pkt).await,
        None => Reply::Text("-ERR command not found".into()),
    }
}

/// `resume`: the channel continues its dialplan when the socket closes.
fn resume(conn: &mut Conn, _: &Packet) -> Reply {
    if let Some(ch) = &conn.session {
        ch.set_var("socket_resume", "true");
    }
    Reply::Text("+OK".into())
}

/// How long `connect` waits for the channel's thread to take it in (it
/// does at once; bounded all the same).
const CONNECT_TAKEN: Duration = Duration::from_secs(5);

/// `connect`: the channel data, in the reply's header block (§5.2). The
/// reply waits until the channel's thread took the `connect` in (see
/// `OutboundCtx::on_connect`).
fn connect<'a>(conn: &'a mut Conn, _: &'a Packet) -> BoxFut<'a, Reply> {
    Box::pin(async move {
        let Some(ch) = conn.session.clone() else {
            return Reply::Text("-ERR command not found".into());
        };
        let (async_mode, full) = conn
            .outbound
            .as_ref()
            .map_or((true, true), |o| (o.async_mode, o.full));
        let data = ch.channel_data_event(&conn.core);
        if let Some(tx) = conn.outbound.as_mut().and_then(|o| o.on_connect.take()) {
            let (taken, taken_in) = oneshot::channel();
            if tx.send(taken).is_ok() {
                // Resolves (with an error) when the thread drops it.
                let _ = tokio::time::timeout(CONNECT_TAKEN, taken_in).await;
            }
        }
        Reply::Frame(server::connect_reply(&data, async_mode, full))
    })
}

/// `getvar <name>`: the value, or `-ERR command not found` for an unset
/// or empty one.
fn getvar(conn: &mut Conn, pkt: &Packet) -> Reply {
    let name = pkt.command[6..].trim();
    let value = match &conn.session {
        Some(ch) if !name.is_empty() => ch.var(name),
        _ => None,
    };
    Reply::Text(match value {
        Some(v) if !v.is_empty() => v,
        _ => "-ERR command not found".into(),
    })
}

/// `linger [<seconds>]` (no number: forever).
fn linger(conn: &mut Conn, pkt: &Packet) -> Reply {
    if conn.session.is_none() {
        return Reply::Text("-ERR not controlling a session".into());
    }
    let arg = pkt.command[6..].trim();
    Reply::Text(match arg.parse::<i64>() {
        Ok(n) if !arg.is_empty() => {
            conn.linger = Some(n);
            format!("+OK will linger {n} seconds")
        }
        _ => {
            conn.linger = Some(-1);
            "+OK will linger".into()
        }
    })
}

fn nolinger(conn: &mut Conn, _: &Packet) -> Reply {
    if conn.session.is_none() {
        return Reply::Text("-ERR not controlling a session".into());
    }
    conn.linger = None;
    Reply::Text("+OK will not linger".into())
}

/// `log [<level>]`: a name or a number (clamped to 0..=63); none is DEBUG.
fn log(conn: &mut Conn, pkt: &Packet) -> Reply {
    if conn.perms.as_ref().is_some_and(|p| !p.allowed_log) {
        return Reply::Text("-ERR permission denied".into());
    }
    let text = pkt.command[3..].trim_start_matches(' ');
    let word = text.split(' ').next().unwrap_or("");
    let level = if word.is_empty() {
        Some(LogLevel::Debug.number())
    } else if let Ok(n) = word.parse::<i64>() {
        Some(if n > 64 { 63 } else { n.clamp(0, 64) as u8 })
    } else {
        level_by_name(word).map(LogLevel::number)
    };
    Reply::Text(match level {
        Some(l) => {
            lock(&conn.shared.subs).log_level = Some(l);
            format!("+OK log level {word} [{l}]")
        }
        None => "-ERR invalid log level".into(),
    })
}

/// `nolog`: stops logging and drops the log lines not yet written.
fn nolog(conn: &mut Conn, _: &Packet) -> Reply {
    let was = lock(&conn.shared.subs).log_level.take().is_some();
    if !was {
        return Reply::Text("-ERR not loging".into());
    }
    conn.drain(|o| matches!(o, crate::simulator::bus::Out::Log(_)));
    Reply::Text("+OK no longer logging".into())
}
