//! Authentication (§2): `auth <password>`, `userauth <user>@<domain>:<password>`
//! against the configured users, and what a `userauth` user may do
//! (`esl-allowed-events`, `-api`, `-log`).

use super::conn::{starts_ci, Conn, Phase, Reply};
use crate::protocol::server::{self, GOODBYE};
use crate::simulator::config::EslUser;

/// The verb of a command read before authentication, as
/// [`unauthenticated`] tells them apart (`other`: refused).
pub(super) fn kind(cmd: &str) -> &'static str {
    if starts_ci(cmd, "auth ") {
        "auth"
    } else if starts_ci(cmd, "userauth ") {
        "userauth"
    } else {
        "other"
    }
}

/// Before authentication only `auth` and `userauth` are understood.
pub(super) fn unauthenticated(conn: &mut Conn, cmd: &str) -> Reply {
    if starts_ci(cmd, "auth ") {
        if cmd[5..] == conn.core.cfg.password {
            conn.phase = Phase::Ready;
            return Reply::Text("+OK accepted".into());
        }
        return auth_failed();
    }
    if starts_ci(cmd, "userauth ") {
        return match find_user(conn, &cmd[9..]) {
            Some(user) => userauth_accepted(conn, user),
            None => auth_failed(),
        };
    }
    Reply::Text("-ERR command not found".into())
}

/// The closing frames of a refused login.
fn auth_failed() -> Reply {
    Reply::Close(vec![
        server::command_reply("-ERR invalid"),
        server::disconnect_notice(GOODBYE),
    ])
}

/// `user@domain:password` or `user:password@domain`.
fn find_user(conn: &Conn, arg: &str) -> Option<EslUser> {
    let (user, pass) = arg.split_once(':').and_then(|(a, b)| {
        if a.contains('@') {
            Some((a.to_owned(), b.to_owned()))
        } else {
            let (pass, domain) = b.rsplit_once('@')?;
            Some((format!("{a}@{domain}"), pass.to_owned()))
        }
    })?;
    conn.core
        .cfg
        .users
        .iter()
        .find(|u| {
            u.user == user
                && u.password
                    .as_deref()
                    .is_some_and(|p| !p.is_empty() && p == pass)
        })
        .cloned()
}

/// `+OK accepted` with the user's rights echoed.
fn userauth_accepted(conn: &mut Conn, user: EslUser) -> Reply {
    conn.phase = Phase::Ready;
    let events = user.allowed_events.clone().unwrap_or_else(|| "all".into());
    let api = user.allowed_api.clone().unwrap_or_else(|| "all".into());
    let log = if user.allowed_log { "true" } else { "false" };
    let frame = server::command_reply_with(
        "+OK accepted",
        &[
            ("Allowed-Events", &events),
            ("Allowed-API", &api),
            ("Allowed-LOG", log),
        ],
    );
    conn.perms = Some(user);
    Reply::Frame(frame)
}

/// True when `list` (comma or space separated) names `what` or `all`.
fn listed(list: &str, what: &str) -> bool {
    list.split([',', ' '])
        .any(|x| x.eq_ignore_ascii_case(what) || x.eq_ignore_ascii_case("all"))
}

impl Conn {
    /// May this connection subscribe to `what` (an event name or a CUSTOM
    /// subclass)?
    pub(super) fn allowed_event(&self, what: &str) -> bool {
        match self
            .perms
            .as_ref()
            .and_then(|p| p.allowed_events.as_deref())
        {
            None => true,
            Some(list) => listed(list, what),
        }
    }

    /// May this connection run API `command`? For the commands that run
    /// another (`bgapi`, `sched_api`, `eval`, `expand`, `xml_wrap`), that
    /// one must be allowed too.
    pub(super) fn allowed_api(&self, command: &str, args: &str) -> bool {
        let Some(list) = self.perms.as_ref().and_then(|p| p.allowed_api.as_deref()) else {
            return true;
        };
        if !listed(list, command) {
            return false;
        }
        let wraps = ["bgapi", "sched_api", "eval", "expand", "xml_wrap"]
            .iter()
            .any(|w| w.eq_ignore_ascii_case(command));
        !wraps || listed(list, args.split(' ').next().unwrap_or(""))
    }
}
