//! Built-in API commands (`api` / `bgapi`) and the API event.

use std::sync::Arc;
use std::time::Duration;

use super::channel::{cause_name, spawn_call, Switch};
use super::config::CallSpec;
use super::core::{level_by_name, Core};
use super::lock::lock;
use super::serialize;

/// Fires the `API` event of an API execution.
pub(crate) fn fire_api_event(core: &Core, command: &str, args: &str) {
    let mut e = core.base_event(
        "API",
        "switch_loadable_module.c",
        "switch_api_execute",
        3140,
    );
    e.push_header("API-Command", command);
    if !args.is_empty() {
        e.push_header("API-Command-Argument", args);
    }
    core.fire(e);
}

/// Runs an API. `None` means "Command not found".
pub(crate) async fn execute(
    switch: &Arc<Switch>,
    command: &str,
    args: &str,
    _session: Option<&str>,
) -> Option<String> {
    let core = &switch.core;
    let user = lock(&core.state).apis.get(command).cloned();
    if let Some(f) = user {
        return Some(f(args));
    }
    let arg_words: Vec<&str> = args.split(' ').filter(|w| !w.is_empty()).collect();
    Some(match command {
        "echo" => args.to_owned(),
        "version" => format!("FreeSWITCH Version {} ( 64bit)\n", core.cfg.version),
        "uptime" => format!("{}\n", core.clock.uptime().as_secs()),
        "status" => {
            let up = core.clock.uptime();
            let secs = up.as_secs();
            let counts = switch.counts();
            let (since, peak, now) = (counts.since_start, counts.peak, counts.now);
            format!(
                "UP 0 years, {} days, {} hours, {} minutes, {} seconds, {} milliseconds, {} microseconds\n\
                 FreeSWITCH (Version {} 64bit) is ready\n\
                 {since} session(s) since startup\n\
                 {now} session(s) - peak {peak}, last 5min {peak} \n\
                 0 session(s) per Sec out of max 100, peak 0, last 5min 0 \n\
                 1000 session(s) max\n\
                 min idle cpu 0.00/99.00\n\
                 Current Stack Size/Max 240K/8192K\n",
                secs / 86400,
                (secs / 3600) % 24,
                (secs / 60) % 60,
                secs % 60,
                up.subsec_millis(),
                up.subsec_micros() % 1000,
                core.cfg.version.split('~').next().unwrap_or("") .to_owned() + " ",
            )
        }
        "global_getvar" => {
            let st = lock(&core.state);
            if args.is_empty() {
                st.globals
                    .iter()
                    .map(|(n, v)| format!("{n}={v}\n"))
                    .collect()
            } else {
                st.globals
                    .iter()
                    .find(|(n, _)| n == args)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            }
        }
        "global_setvar" => {
            let (n, v) = args.split_once('=').unwrap_or((args, ""));
            let mut st = lock(&core.state);
            st.globals.retain(|(x, _)| x != n.trim());
            if !v.is_empty() {
                st.globals.push((n.trim().to_owned(), v.to_owned()));
            }
            "+OK\n".to_owned()
        }
        "uuid_dump" => match arg_words.first().and_then(|u| switch.channel(u)) {
            Some(ch) => {
                let e = ch.channel_data_event(core);
                String::from_utf8_lossy(&serialize::to_plain(&e)).into_owned()
            }
            None => "-ERR No such channel!\n".to_owned(),
        },
        "uuid_exists" => {
            let exists = arg_words
                .first()
                .and_then(|u| switch.channel(u))
                .is_some_and(|c| !c.is_destroyed());
            exists.to_string()
        }
        "originate" => return originate(switch, &arg_words),
        "hupall" => {
            let cause = cause_name(arg_words.first().copied().unwrap_or(""));
            for ch in switch.channels() {
                ch.hangup(core, &cause, true);
            }
            "+OK hangup all channels with cause ".to_owned() + &cause + "\n"
        }
        "uuid_kill" => match arg_words.first().and_then(|u| switch.channel(u)) {
            Some(ch) if !ch.is_down() => {
                let cause = cause_name(arg_words.get(1).copied().unwrap_or(""));
                ch.hangup(core, &cause, true);
                "+OK\n".to_owned()
            }
            _ => "-ERR No such channel!\n".to_owned(),
        },
        "uuid_park" => match arg_words.first().and_then(|u| switch.channel(u)) {
            Some(ch) => {
                ch.queue(super::channel::ChanMsg::SendMsg(
                    super::channel::SendMsgData {
                        command: format!("uuid_park {}", ch.uuid),
                        headers: vec![
                            ("call-command".into(), "execute".into()),
                            ("execute-app-name".into(), "park".into()),
                        ],
                        body: None,
                    },
                ));
                "+OK\n".to_owned()
            }
            None => "-ERR No such channel!\n".to_owned(),
        },
        "uuid_bridge" => {
            let a = arg_words.first().and_then(|u| switch.channel(u));
            let b = arg_words.get(1).and_then(|u| switch.channel(u));
            match (a, b) {
                (Some(a), Some(b)) => {
                    a.set_var("bridge_to", &b.uuid);
                    b.set_var("bridge_to", &a.uuid);
                    format!("+OK {}\n", b.uuid)
                }
                _ => "-ERR Invalid uuid\n".to_owned(),
            }
        }
        "uuid_send_dtmf" => match arg_words.first().and_then(|u| switch.channel(u)) {
            Some(ch) => {
                let digits = arg_words.get(1).copied().unwrap_or("");
                ch.send_dtmf(digits.split('@').next().unwrap_or(""));
                "+OK Success\n".to_owned()
            }
            None => "-ERR no such session\n".to_owned(),
        },
        "uuid_getvar" => match arg_words.first().and_then(|u| switch.channel(u)) {
            Some(ch) => ch
                .var(arg_words.get(1).copied().unwrap_or(""))
                .unwrap_or_else(|| "_undef_".into()),
            None => "-ERR No such channel!\n".to_owned(),
        },
        "uuid_setvar" => match arg_words.first().and_then(|u| switch.channel(u)) {
            Some(ch) => {
                let name = arg_words.get(1).copied().unwrap_or("");
                let value = args.splitn(3, ' ').nth(2).unwrap_or("");
                ch.set_var(name, value);
                "+OK\n".to_owned()
            }
            None => "-ERR No such channel!\n".to_owned(),
        },
        "hash" => {
            // hash insert|select|delete/realm/key[/value]
            let mut parts = args.splitn(4, '/');
            let op = parts.next().unwrap_or("");
            let realm = parts.next().unwrap_or("");
            let key = parts.next().unwrap_or("");
            let value = parts.next().unwrap_or("");
            let k = format!("{realm}/{key}");
            let mut st = lock(&core.state);
            match op {
                "insert" => {
                    st.hash.insert(k, value.to_owned());
                    "+OK\n".to_owned()
                }
                "select" => st.hash.get(&k).cloned().unwrap_or_default(),
                "delete" => {
                    st.hash.remove(&k);
                    "+OK\n".to_owned()
                }
                _ => "-ERR Usage: hash [insert|delete|select]/<realm>/<key>/<value>\n".to_owned(),
            }
        }
        "fsctl" => "+OK\n".to_owned(),
        "show" => {
            let what = arg_words.first().copied().unwrap_or("");
            if what.starts_with("channels") || what.starts_with("calls") {
                let json = args.to_ascii_lowercase().contains("as json");
                show_channels(switch, json)
            } else {
                return None;
            }
        }
        "log" => {
            let (level, text) = match args.split_once(' ') {
                Some((l, t)) => (level_by_name(l).unwrap_or(7), t),
                None => (7, args),
            };
            core.log(
                level,
                3,
                "mod_commands.c",
                "log_function",
                7247,
                "",
                &format!("{text}\n"),
            );
            "+OK\n".to_owned()
        }
        "msleep" => {
            let ms: u64 = args.trim().parse().unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            "+OK\n".to_owned()
        }
        _ => return None,
    })
}

/// `originate <url> <app-or-extension>`: `loopback/<ext>[/<context>]` (or
/// `sim/<ext>`) creates an inbound channel routed to `<ext>` in the
/// simulated dialplan.
fn originate(switch: &Arc<Switch>, words: &[&str]) -> Option<String> {
    let url = words.first().copied().unwrap_or("");
    let mut parts = url.split('/');
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

/// The columns of FreeSWITCH's channels table, as `show channels` prints
/// them (from FreeSWITCH's core database schema; not compared with a
/// capture). `show calls` is answered with the same rows, since the
/// simulator has no bridged second legs to join.
const SHOW_COLUMNS: &[&str] = &[
    "uuid",
    "direction",
    "created",
    "created_epoch",
    "name",
    "state",
    "cid_name",
    "cid_num",
    "ip_addr",
    "dest",
    "application",
    "application_data",
    "dialplan",
    "context",
    "read_codec",
    "read_rate",
    "read_bit_rate",
    "write_codec",
    "write_rate",
    "write_bit_rate",
    "secure",
    "hostname",
    "presence_id",
    "presence_data",
    "accountcode",
    "callstate",
    "callee_name",
    "callee_num",
    "callee_direction",
    "call_uuid",
    "sent_callee_name",
    "sent_callee_num",
    "initial_cid_name",
    "initial_cid_num",
    "initial_ip_addr",
    "initial_dest",
    "initial_dialplan",
    "initial_context",
];

/// `show channels` / `show calls`, as CSV (FreeSWITCH's default) or, with
/// `as json`, as `{"row_count":N,"rows":[{...}]}` (`{"row_count":0}` when
/// there is none).
fn show_channels(switch: &Switch, json: bool) -> String {
    let core = &switch.core;
    let rows: Vec<Vec<String>> = switch
        .channels()
        .iter()
        .map(|ch| {
            let s = ch.snapshot();
            let var = |n: &str| s.variable(n).unwrap_or("").to_owned();
            let created_us = s.created_us;
            SHOW_COLUMNS
                .iter()
                .map(|col| match *col {
                    "uuid" | "call_uuid" => s.uuid.clone(),
                    "direction" => var("direction"),
                    "created_epoch" => {
                        if created_us > 0 {
                            (created_us / 1_000_000).to_string()
                        } else {
                            String::new()
                        }
                    }
                    "name" => s.name.clone(),
                    "state" => s.state.clone(),
                    "cid_name" | "initial_cid_name" => s.caller_id_name.clone(),
                    "cid_num" | "initial_cid_num" => s.caller_id_number.clone(),
                    "dest" | "initial_dest" => s.destination.clone(),
                    "application" => var("current_application"),
                    "application_data" => var("current_application_data"),
                    "context" | "initial_context" => s.context.clone(),
                    "dialplan" | "initial_dialplan" => "XML".to_owned(),
                    "read_codec" => var("read_codec"),
                    "read_rate" => var("read_rate"),
                    "write_codec" => var("write_codec"),
                    "write_rate" => var("write_rate"),
                    "callstate" => s.call_state.clone(),
                    "hostname" => core.cfg.hostname.clone(),
                    _ => String::new(),
                })
                .collect()
        })
        .collect();
    if json {
        if rows.is_empty() {
            return "{\"row_count\":0}".to_owned();
        }
        let mut out = format!("{{\"row_count\":{},\"rows\":[", rows.len());
        for (i, row) in rows.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('{');
            for (j, (col, value)) in SHOW_COLUMNS.iter().zip(row).enumerate() {
                if j > 0 {
                    out.push(',');
                }
                out.push_str(&format!(
                    "{}:{}",
                    serde_json::Value::from(*col),
                    serde_json::Value::from(value.as_str())
                ));
            }
            out.push('}');
        }
        out.push_str("]}");
        return out;
    }
    let mut out = SHOW_COLUMNS.join(",");
    out.push('\n');
    for row in &rows {
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out.push_str(&format!("\n{} total.\n", rows.len()));
    out
}
