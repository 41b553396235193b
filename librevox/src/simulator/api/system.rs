//! The switch's own APIs: `echo`, `version`, `uptime`, `status`, global
//! variables, `hash`, `fsctl`, `log`, `msleep`.

use std::sync::Arc;
use std::time::Duration;

use super::args::Args;
use crate::protocol::LogLevel;
use crate::simulator::channel::Switch;
use crate::simulator::core::{level_by_name, TextChannel};
use crate::simulator::sync::{lock, BoxFut};

pub(super) fn echo(_: &Arc<Switch>, args: &Args<'_>) -> Option<String> {
    Some(args.line.to_owned())
}

pub(super) fn version(switch: &Arc<Switch>, _: &Args<'_>) -> Option<String> {
    let v = &switch.core.cfg.version;
    Some(format!("FreeSWITCH Version {v} ( 64bit)\n"))
}

pub(super) fn uptime(switch: &Arc<Switch>, _: &Args<'_>) -> Option<String> {
    Some(format!("{}\n", switch.core.clock.uptime().as_secs()))
}

/// FreeSWITCH's `status` text, with the simulator's uptime and counters.
pub(super) fn status(switch: &Arc<Switch>, _: &Args<'_>) -> Option<String> {
    let core = &switch.core;
    let up = core.clock.uptime();
    let secs = up.as_secs();
    let counts = switch.counts();
    let (since, peak, now) = (counts.since_start, counts.peak, counts.now);
    let version = core.cfg.version.split('~').next().unwrap_or("");
    Some(format!(
        "UP 0 years, {} days, {} hours, {} minutes, {} seconds, {} milliseconds, {} microseconds\n\
         FreeSWITCH (Version {version}  64bit) is ready\n\
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
    ))
}

/// `global_getvar [<name>]`: one value, or every `name=value` line.
pub(super) fn global_getvar(switch: &Arc<Switch>, args: &Args<'_>) -> Option<String> {
    let st = lock(&switch.core.state);
    Some(if args.line.is_empty() {
        st.globals
            .iter()
            .map(|(n, v)| format!("{n}={v}\n"))
            .collect()
    } else {
        st.globals
            .iter()
            .find(|(n, _)| n == args.line)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    })
}

/// `global_setvar <name>=<value>` (an empty value unsets); the switch
/// answers `+OK` without a newline (`testdata/live/eval.transcript.txt`).
pub(super) fn global_setvar(switch: &Arc<Switch>, args: &Args<'_>) -> Option<String> {
    let (n, v) = args.line.split_once('=').unwrap_or((args.line, ""));
    let mut st = lock(&switch.core.state);
    st.globals.retain(|(x, _)| x != n.trim());
    if !v.is_empty() {
        st.globals.push((n.trim().to_owned(), v.to_owned()));
    }
    Some("+OK".to_owned())
}

/// `hash insert|select|delete/<realm>/<key>[/<value>]`.
pub(super) fn hash(switch: &Arc<Switch>, args: &Args<'_>) -> Option<String> {
    let mut parts = args.line.splitn(4, '/');
    let op = parts.next().unwrap_or("");
    let realm = parts.next().unwrap_or("");
    let key = parts.next().unwrap_or("");
    let value = parts.next().unwrap_or("");
    let k = format!("{realm}/{key}");
    let mut st = lock(&switch.core.state);
    Some(match op {
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
    })
}

pub(super) fn fsctl(_: &Arc<Switch>, _: &Args<'_>) -> Option<String> {
    Some("+OK\n".to_owned())
}

/// `log [<level>] <text>`: a first word that names a level is the level.
pub(super) fn log(switch: &Arc<Switch>, args: &Args<'_>) -> Option<String> {
    let (level, text) = match args.line.split_once(' ') {
        Some((l, t)) => (level_by_name(l).unwrap_or(LogLevel::Debug), t),
        None => (LogLevel::Debug, args.line),
    };
    switch.core.log(
        level.number(),
        TextChannel::Session,
        ("mod_commands.c", "log_function", 7247),
        "",
        &format!("{text}\n"),
    );
    Some("+OK\n".to_owned())
}

/// `msleep <ms>`: answers after that long.
pub(super) fn msleep<'a>(_: &'a Arc<Switch>, args: &'a Args<'a>) -> BoxFut<'a, Option<String>> {
    Box::pin(async move {
        let ms: u64 = args.line.trim().parse().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Some("+OK\n".to_owned())
    })
}
