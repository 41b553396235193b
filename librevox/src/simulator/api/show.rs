//! `show channels` / `show calls`.

use std::sync::Arc;

use super::args::Args;
use crate::simulator::channel::{ChannelSnapshot, Switch};

/// `show channels|calls [count] [as json]`; anything else `show` can
/// list is not simulated ("Command not found").
pub(super) fn show(switch: &Arc<Switch>, args: &Args<'_>) -> Option<String> {
    let what = args.word(0);
    if what.starts_with("channels") || what.starts_with("calls") {
        let json = args.line.to_ascii_lowercase().contains("as json");
        if args.word(1).eq_ignore_ascii_case("count") {
            return Some(count(switch.channels().len(), json));
        }
        return Some(show_channels(switch, json));
    }
    None
}

/// `show channels count`: `\nN total.\n`, or with `as json`
/// `{"row_count":N,"rows":[]}` (both as FreeSWITCH 1.11.3 writes them for
/// no channels; that switch's test configuration lists none).
fn count(n: usize, json: bool) -> String {
    if json {
        format!("{{\"row_count\":{n},\"rows\":[]}}")
    } else {
        format!("\n{n} total.\n")
    }
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

/// One column of a channel's row.
fn column(col: &str, s: &ChannelSnapshot, hostname: &str) -> String {
    let var = |n: &str| s.variable(n).unwrap_or("").to_owned();
    match col {
        "uuid" | "call_uuid" => s.uuid.clone(),
        "direction" => var("direction"),
        "created_epoch" if s.created_us > 0 => (s.created_us / 1_000_000).to_string(),
        "name" => s.name.clone(),
        "state" => s.state.clone(),
        "cid_name" | "initial_cid_name" => s.caller_id_name.clone(),
        "cid_num" | "initial_cid_num" => s.caller_id_number.clone(),
        "dest" | "initial_dest" => s.destination.clone(),
        "application" => var("current_application"),
        "application_data" => var("current_application_data"),
        "context" | "initial_context" => s.context.clone(),
        "dialplan" | "initial_dialplan" => "XML".to_owned(),
        "read_codec" | "read_rate" | "write_codec" | "write_rate" => var(col),
        "callstate" => s.call_state.clone(),
        "hostname" => hostname.to_owned(),
        _ => String::new(),
    }
}

/// `{"row_count":N,"rows":[{...}]}`, or when empty `{"row_count": 0}`
/// and a newline (FreeSWITCH 1.11.3's bytes).
fn as_json(rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        return "{\"row_count\": 0}\n".to_owned();
    }
    let objects: Vec<String> = rows
        .iter()
        .map(|row| {
            let fields: Vec<String> = SHOW_COLUMNS
                .iter()
                .zip(row)
                .map(|(col, value)| {
                    format!(
                        "{}:{}",
                        serde_json::Value::from(*col),
                        serde_json::Value::from(value.as_str())
                    )
                })
                .collect();
            format!("{{{}}}", fields.join(","))
        })
        .collect();
    format!(
        "{{\"row_count\":{},\"rows\":[{}]}}",
        rows.len(),
        objects.join(",")
    )
}

/// The header line, one line per row, an empty line, `N total.`; with no
/// rows no header either (FreeSWITCH writes it with the first row).
fn as_csv(rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        return count(0, false);
    }
    let mut out = SHOW_COLUMNS.join(",");
    out.push('\n');
    for row in rows {
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out.push_str(&format!("\n{} total.\n", rows.len()));
    out
}

/// `show channels` / `show calls`, as CSV (FreeSWITCH's default) or, with
/// `as json`, as JSON.
fn show_channels(switch: &Switch, json: bool) -> String {
    let hostname = &switch.core.cfg.hostname;
    let rows: Vec<Vec<String>> = switch
        .channels()
        .iter()
        .map(|ch| {
            let s = ch.snapshot();
            SHOW_COLUMNS
                .iter()
                .map(|col| column(col, &s, hostname))
                .collect()
        })
        .collect();
    if json {
        as_json(&rows)
    } else {
        as_csv(&rows)
    }
}
