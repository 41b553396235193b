//! Hangup causes and failed bridges on the simulator, against what a real
//! FreeSWITCH 1.11.3 did with the same originates
//! (`testdata/live/hangup_causes.raw.txt`, `bridge_failures.raw.txt`):
//! `originate {origination_uuid=<u>}loopback/echo_test/default &hangup(<x>)`
//! and `... &bridge(<x>)`, with `<x>` read back from the recorded events.
#![cfg(feature = "simulator")]

use std::path::PathBuf;
use std::time::Duration;

use bytes::BytesMut;
use librevox::protocol::{EslCodec, Event, Message};
use librevox::simulator::{Extension, Simulator, SimulatorConfig};
use librevox::{CommandSocket, ConnectOptions};
use tokio_util::codec::Decoder;

const T: Duration = Duration::from_secs(10);

/// The events FreeSWITCH sent in `testdata/live/<name>.raw.txt`.
fn recorded_events(name: &str) -> Vec<Event> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/live")
        .join(format!("{name}.raw.txt"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (mut codec, mut buf) = (EslCodec::default(), BytesMut::from(&bytes[..]));
    let mut events = Vec::new();
    while let Some(frame) = codec.decode(&mut buf).expect("the vector decodes") {
        if let Message::Event(e) = Message::from_frame(frame).expect("a typed message") {
            events.push(e);
        }
    }
    assert!(buf.is_empty(), "{name}: bytes left over");
    events
}

/// A simulator with the test switch's `echo_test` extension, and a socket.
async fn echo_test_switch() -> (Simulator, CommandSocket) {
    let config = SimulatorConfig::default()
        .in_memory()
        .extension(Extension::new("echo_test", &[("answer", ""), ("echo", "")]));
    let sim = Simulator::start(config).await.unwrap();
    let socket = CommandSocket::connect_io(sim.connect_in_memory(), ConnectOptions::new("sim"))
        .await
        .unwrap();
    (sim, socket)
}

/// Runs `&<app>(<arg>)` on an originated A leg and returns its first event
/// matching `pred`.
async fn run_on_a_leg(
    sim: &Simulator,
    s: &CommandSocket,
    n: usize,
    app: &str,
    arg: &str,
    pred: impl Fn(&Event) -> bool,
) -> Event {
    let uuid = format!("00000000-0000-4000-8000-{n:012}");
    let cmd =
        format!("originate {{origination_uuid={uuid}}}loopback/echo_test/default &{app}({arg})");
    let reply = s.connection().api_raw(&cmd).await.unwrap();
    assert_eq!(reply.text(), format!("+OK {uuid}\n"), "{cmd}");
    sim.wait_event(T, |e| e.unique_id() == Some(uuid.as_str()) && pred(e))
        .await
        .unwrap_or_else(|e| panic!("{cmd}: {e}"))
}

/// The headers a client reads a hangup's cause from, as (name, value) in
/// order (`Hangup-Cause` twice, once for a cause of NONE).
fn cause_headers(e: &Event) -> Vec<(String, String)> {
    let names = [
        "Hangup-Cause",
        "variable_hangup_cause",
        "variable_hangup_cause_q850",
    ];
    e.headers()
        .filter(|(n, _)| names.contains(n))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

/// `hangup(<x>)`: the cause, its Q.850 code and how many `Hangup-Cause`
/// headers CHANNEL_HANGUP_COMPLETE carries, for numbers known and unknown
/// (`503` is UNKNOWN, `703` MANAGER_REQUEST), names in any case, unknown
/// names (NORMAL_CLEARING) and causes past the Q.850 range (code 16).
#[tokio::test]
async fn hangup_causes_are_read_as_the_switch_reads_them() {
    let recorded: Vec<Event> = recorded_events("hangup_causes")
        .into_iter()
        .filter(|e| e.is("CHANNEL_HANGUP_COMPLETE"))
        .filter(|e| e.variable("current_application") == Some("hangup"))
        .collect();
    assert_eq!(recorded.len(), 10, "one A leg per recorded cause");
    let (sim, s) = echo_test_switch().await;
    for (n, want) in recorded.iter().enumerate() {
        let arg = want.variable("current_application_data").unwrap_or("");
        let got = run_on_a_leg(&sim, &s, n, "hangup", arg, |e| {
            e.is("CHANNEL_HANGUP_COMPLETE")
        })
        .await;
        assert_eq!(cause_headers(&got), cause_headers(want), "hangup({arg})");
    }
    s.close().await.unwrap();
}

/// The variables a failed bridge leaves, present or absent.
fn bridge_vars(e: &Event) -> Vec<(&'static str, Option<String>)> {
    [
        "originate_disposition",
        "DIALSTATUS",
        "originate_failed_cause",
        "last_bridge_hangup_cause",
        "bridge_hangup_cause",
    ]
    .into_iter()
    .map(|n| (n, e.variable(n).map(str::to_owned)))
    .collect()
}

/// `bridge` to mod_dptools' `error/<cause>` legs (one, several with `,` and
/// `|`, with `[...]` variables) and to dial strings with an unclosed `{` or
/// `[`: the bridge's CHANNEL_EXECUTE_COMPLETE carries the switch's
/// `originate_disposition`, `DIALSTATUS` (BUSY, NOANSWER, CANCEL,
/// INVALIDARGS renames) and `originate_failed_cause`, and no
/// `last_bridge_hangup_cause`.
#[tokio::test]
async fn failed_bridges_leave_the_switchs_variables() {
    let recorded: Vec<Event> = recorded_events("bridge_failures")
        .into_iter()
        .filter(|e| e.is("CHANNEL_EXECUTE_COMPLETE") && e.application() == Some("bridge"))
        .collect();
    assert_eq!(recorded.len(), 10, "one bridge per recorded dial string");
    let (sim, s) = echo_test_switch().await;
    for (n, want) in recorded.iter().enumerate() {
        let arg = want.application_data().unwrap_or("");
        let got = run_on_a_leg(&sim, &s, n, "bridge", arg, |e| {
            e.is("CHANNEL_EXECUTE_COMPLETE") && e.application() == Some("bridge")
        })
        .await;
        assert_eq!(got.application_data(), Some(arg));
        assert_eq!(bridge_vars(&got), bridge_vars(want), "bridge({arg})");
    }
    s.close().await.unwrap();
}

/// The `api/response` bodies of a `testdata/live/<name>.transcript.txt`, by
/// the `api` command each answers.
fn recorded_api_replies(name: &str) -> Vec<(String, String)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/live")
        .join(format!("{name}.transcript.txt"));
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (mut i, mut last_api, mut out) = (0, String::new(), Vec::new());
    while i < data.len() {
        let end = i + data[i..].iter().position(|&b| b == b'\n').unwrap();
        let marker = std::str::from_utf8(&data[i..end]).unwrap();
        let (dir, len) = marker
            .strip_prefix("### ")
            .and_then(|m| m.split_once(" len="))
            .unwrap_or_else(|| panic!("{name}: not a marker line: {marker:?}"));
        let len: usize = len.parse().unwrap();
        let block = String::from_utf8_lossy(&data[end + 1..end + 1 + len]).into_owned();
        i = end + 1 + len + usize::from(!block.ends_with('\n'));
        match (dir, block.strip_prefix("api ")) {
            ("send", Some(cmd)) => last_api = cmd.trim_end().to_owned(),
            ("recv", _) if block.starts_with("Content-Type: api/response\n") => {
                let body = block.split_once("\n\n").map_or("", |(_, b)| b);
                out.push((last_api.clone(), body.to_owned()));
            }
            _ => {}
        }
    }
    out
}

/// A `show ... as json` row with what differs between two switches or
/// runs replaced: UUIDs, times, the hostname (kept apart from empty).
fn masked_row(row: &serde_json::Value) -> Vec<(String, String)> {
    let obj = row.as_object().expect("a row is an object");
    obj.iter()
        .map(|(k, v)| {
            let v = v.as_str().expect("every column is a string").to_owned();
            let masked = match k.as_str() {
                "uuid" | "call_uuid" | "b_uuid" | "created" | "created_epoch" | "hostname"
                    if !v.is_empty() =>
                {
                    "<masked>".to_owned()
                }
                _ => v,
            };
            (k.clone(), masked)
        })
        .collect()
}

/// `show channels as json` and `show calls as json` with two parked
/// loopback calls (`originate loopback/park_test/default &park()`, the B
/// leg parked and not answered, the A leg waiting): the switch's columns in
/// its order and every value but UUIDs, times and the hostname
/// (`testdata/live/show_channels_parked`).
#[tokio::test]
async fn show_as_json_lists_parked_calls_as_the_switch() {
    let recorded = recorded_api_replies("show_channels_parked");
    let config = SimulatorConfig::default()
        .in_memory()
        .extension(Extension::park("park_test"));
    let sim = Simulator::start(config).await.unwrap();
    let s = CommandSocket::connect_io(sim.connect_in_memory(), ConnectOptions::new("sim"))
        .await
        .unwrap();
    for n in 1..=2 {
        let uuid = format!("5e000000-0000-4000-8000-00000000000{n}");
        s.bgapi(&format!(
            "originate {{origination_uuid={uuid}}}loopback/park_test/default &park()"
        ))
        .await
        .unwrap();
        sim.wait_event(T, |e| e.is("CHANNEL_PARK")).await.unwrap();
    }
    sim.wait_for(T, |s| s.channels().len() == 4).await.unwrap();
    let mut compared = 0;
    for (cmd, want) in recorded.iter().filter(|(c, _)| c.ends_with("as json")) {
        let reply = s.connection().api_raw(cmd).await.unwrap();
        let got = reply.text();
        let got = got.as_ref();
        assert_eq!(
            got.ends_with('}'),
            want.ends_with('}'),
            "{cmd}: the last byte"
        );
        assert_eq!(
            first_row_keys(got),
            first_row_keys(want),
            "{cmd}: column order"
        );
        let parse = |text: &str| -> serde_json::Value { serde_json::from_str(text).unwrap() };
        let (got, want) = (parse(got), parse(want));
        assert_eq!(got["row_count"], want["row_count"], "{cmd}");
        let rows = |v: &serde_json::Value| {
            let mut rows: Vec<_> = v["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(masked_row)
                .collect();
            rows.sort();
            rows
        };
        assert_eq!(rows(&got), rows(&want), "{cmd}");
        compared += 1;
    }
    assert_eq!(compared, 2, "show channels and show calls");
    // The CSV form: the same header line, one line per channel, the total.
    let (_, want) = recorded.iter().find(|(c, _)| c == "show channels").unwrap();
    let reply = s.connection().api_raw("show channels").await.unwrap();
    let got = reply.text().into_owned();
    assert_eq!(got.lines().next(), want.lines().next(), "the header line");
    assert_eq!(got.lines().count(), want.lines().count());
    assert!(got.ends_with("\n\n4 total.\n") && want.ends_with("\n\n4 total.\n"));
    s.api("hupall").await.unwrap();
    s.close().await.unwrap();
}

/// The keys of the first row of a `show ... as json` reply, in the order
/// written (`{"row_count":N,"rows":[{"k":"v",...},...]}`; no value here
/// holds `":"` or `}`).
fn first_row_keys(text: &str) -> Vec<String> {
    let start = text.find("\"rows\":[{").expect("a row") + "\"rows\":[".len();
    let end = start + text[start..].find('}').expect("the row's end");
    let parts: Vec<&str> = text[start..end].split("\":\"").collect();
    parts[..parts.len() - 1]
        .iter()
        .map(|part| part.rsplit_once('"').expect("a key").1.to_owned())
        .collect()
}

/// The (uuid, application, application_data) of the A legs a
/// `show channels as json` lists as running an application.
fn a_leg_apps(text: &str) -> Vec<(String, String, String)> {
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    let field = |row: &serde_json::Value, k: &str| row[k].as_str().unwrap_or("").to_owned();
    let mut apps: Vec<_> = v["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| field(r, "name").ends_with("-a") && !field(r, "application").is_empty())
        .map(|r| {
            (
                field(r, "uuid"),
                field(r, "application"),
                field(r, "application_data"),
            )
        })
        .collect();
    apps.sort();
    apps
}

/// Destinations and timeouts FreeSWITCH reads leniently
/// (`testdata/live/originate_lenient`): `&park(`, `&park`, `&echo(x`,
/// `&echo(a)b)`, a timeout `abc` (the default) and `2x` (2 s, then
/// NO_ANSWER from a parked B leg). The simulator answers each as the switch
/// did, and its A legs run the application the switch ran.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lenient_originates_are_read_as_the_switch_reads_them() {
    let recorded = recorded_api_replies("originate_lenient");
    let (_, show) = recorded
        .iter()
        .find(|(c, _)| c == "show channels as json")
        .unwrap();
    let want_apps = a_leg_apps(show);
    assert_eq!(want_apps.len(), 5, "{want_apps:?}");
    let config = SimulatorConfig::default()
        .in_memory()
        .extension(Extension::new("echo_test", &[("answer", ""), ("echo", "")]))
        .extension(Extension::park("park_test"));
    let sim = Simulator::start(config).await.unwrap();
    let s = CommandSocket::connect_io(sim.connect_in_memory(), ConnectOptions::new("sim"))
        .await
        .unwrap();
    let mut originates = 0;
    for (cmd, want) in recorded.iter().filter(|(c, _)| c.starts_with("originate ")) {
        let reply = s.connection().api_raw(cmd).await.unwrap();
        assert_eq!(reply.text(), want.as_str(), "{cmd}");
        originates += 1;
    }
    assert_eq!(originates, 6);
    for (uuid, app, data) in &want_apps {
        let e = sim
            .wait_event(T, |e| {
                e.unique_id() == Some(uuid.as_str()) && e.is("CHANNEL_EXECUTE")
            })
            .await
            .unwrap_or_else(|e| panic!("{uuid} ran nothing: {e}"));
        assert_eq!(
            (e.application(), e.application_data().unwrap_or("")),
            (Some(app.as_str()), data.as_str()),
            "{uuid}"
        );
    }
    let reply = s
        .connection()
        .api_raw("show channels as json")
        .await
        .unwrap();
    assert_eq!(a_leg_apps(&reply.text()), want_apps);
    s.api("hupall").await.unwrap();
    s.close().await.unwrap();
}
