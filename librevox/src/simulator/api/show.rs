//! `show channels` / `show calls`.

use std::sync::Arc;

use super::args::Args;
use crate::simulator::channel::{ChannelSnapshot, Switch};
use crate::simulator::clock::date_local;

/// `show channels|calls [count] [as json]`; anything else `show` can
/// list is not simulated ("Command not found").
pub(super) fn show(switch: &Arc<Switch>, args: &Args<'_>) -> Option<String> {
    let what = args.word(0);
    if what.starts_with("channels") || what.starts_with("calls") {
        let json = args.line.to_ascii_lowercase().contains("as json");
        if args.word(1).eq_ignore_ascii_case("count") {
            return Some(count(switch.channels().len(), json));
        }
        let columns = if what.starts_with("calls") {
            CALLS_COLUMNS
        } else {
            CHANNELS_COLUMNS
        };
        return Some(show_channels(switch, json, columns));
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

/// The columns of `show channels`, as FreeSWITCH 1.11.3 prints them
/// (`testdata/live/show_channels_parked`).
const CHANNELS_COLUMNS: &[&str] = &[
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

/// The columns of `show calls`, as FreeSWITCH 1.11.3 prints them: a
/// channel's own, then its bridged leg's (`b_*`), which the simulator
/// never has (its bridges have no second channel), so those stay empty.
const CALLS_COLUMNS: &[&str] = &[
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
    "presence_id",
    "presence_data",
    "accountcode",
    "callstate",
    "callee_name",
    "callee_num",
    "callee_direction",
    "call_uuid",
    "hostname",
    "sent_callee_name",
    "sent_callee_num",
    "b_uuid",
    "b_direction",
    "b_created",
    "b_created_epoch",
    "b_name",
    "b_state",
    "b_cid_name",
    "b_cid_num",
    "b_ip_addr",
    "b_dest",
    "b_presence_id",
    "b_presence_data",
    "b_accountcode",
    "b_callstate",
    "b_callee_name",
    "b_callee_num",
    "b_callee_direction",
    "b_sent_callee_name",
    "b_sent_callee_num",
    "call_created_epoch",
];

/// The callee FreeSWITCH's loopback legs show before the A leg is
/// answered: `Outbound Call` and the context (the dial string's last part
/// in `loopback/<ext>/<context>`).
const CALLEE_NAME: &str = "Outbound Call";

/// One column of a channel's row, as 1.11.3 fills it for loopback legs: an
/// originated (outbound) leg that is not answered yet has no codec columns;
/// only an outbound leg lists its `call_uuid`.
fn column(col: &str, s: &ChannelSnapshot, hostname: &str) -> String {
    let var = |n: &str| s.variable(n).unwrap_or("").to_owned();
    let outbound = s.variable("direction") == Some("outbound");
    let has_codec = !outbound || s.call_state != "DOWN";
    let codec = |v: String| if has_codec { v } else { String::new() };
    match col {
        "uuid" => s.uuid.clone(),
        "call_uuid" if outbound => s.uuid.clone(),
        "direction" => var("direction"),
        "created" if s.created_us > 0 => date_local(s.created_us),
        "created_epoch" if s.created_us > 0 => (s.created_us / 1_000_000).to_string(),
        "name" => s.name.clone(),
        "state" => s.state.clone(),
        "cid_name" | "initial_cid_name" => s.caller_id_name.clone(),
        "cid_num" | "initial_cid_num" => s.caller_id_number.clone(),
        "dest" | "initial_dest" => s.destination.clone(),
        "application" => var("current_application"),
        "application_data" => var("current_application_data"),
        "context" | "initial_context" => s.context.clone(),
        "dialplan" | "initial_dialplan" => "xml".to_owned(),
        "read_codec" | "read_rate" | "write_codec" | "write_rate" => codec(var(col)),
        "read_bit_rate" | "write_bit_rate" => codec(LOOPBACK_BIT_RATE.to_owned()),
        "callstate" => s.call_state.clone(),
        "callee_name" => CALLEE_NAME.to_owned(),
        "callee_num" => s.context.clone(),
        "hostname" => hostname.to_owned(),
        _ => String::new(),
    }
}

/// The bit rate of a loopback channel's L16 codec at 8 kHz.
const LOOPBACK_BIT_RATE: &str = "128000";

/// `{"row_count":N,"rows":[{...}]}`, or when empty `{"row_count": 0}`
/// and a newline (FreeSWITCH 1.11.3's bytes).
fn as_json(columns: &[&str], rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        return "{\"row_count\": 0}\n".to_owned();
    }
    let objects: Vec<String> = rows
        .iter()
        .map(|row| {
            let fields: Vec<String> = columns
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
fn as_csv(columns: &[&str], rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        return count(0, false);
    }
    let mut out = columns.join(",");
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
fn show_channels(switch: &Switch, json: bool, columns: &[&str]) -> String {
    let hostname = &switch.core.cfg.hostname;
    let rows: Vec<Vec<String>> = switch
        .channels()
        .iter()
        .map(|ch| {
            let s = ch.snapshot();
            columns
                .iter()
                .map(|col| column(col, &s, hostname))
                .collect()
        })
        .collect();
    if json {
        as_json(columns, &rows)
    } else {
        as_csv(columns, &rows)
    }
}
