//! The differential test: the same ESL scripts run against the real switch
//! and against the embedded simulator, the replies and events compared after
//! masking what legitimately differs.
//!
//! Each script is a list of exchanges: raw bytes the client writes, and the
//! number of frames it then reads. Each frame is turned into lines a client
//! can depend on: the outer headers in order (`Content-Type`, `Reply-Text`,
//! ...), and for an event the event's headers in order and its body. Values
//! that differ between any two switches are masked (see [`mask`]): UUIDs,
//! times, sequence numbers, host names and addresses, versions, counters,
//! lengths. Everything else must be equal, byte for byte.
//!
//! The real switch is multi-threaded: the order of frames after one write
//! may differ between runs. Each script runs [`REAL_RUNS`] times against the
//! switch; the simulator's transcript must be one of the transcripts the
//! switch produced. A failure prints the simulator's transcript beside the
//! closest real one, with the first difference marked. The outbound scripts
//! (`outbound.rs`) vary more: the orders the switch produced in earlier runs
//! are kept in `testdata/live/differential/` and count as the switch's too.
//!
//! Known differences are listed in [`KNOWN`], each with its reason: a line
//! the switch writes and the line the simulator writes instead, in one
//! script. They are asserted, not hidden: the simulator's transcript with
//! exactly those lines put back must be one the switch produced, and a
//! simulator that no longer differs fails the test until the entry is
//! removed.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::BytesMut;
use librevox::protocol::{EslCodec, Event, EventFormat, Frame};
use librevox::simulator::{Extension, Order, Simulator, SimulatorConfig};
use librevox_live_tests::{within, Switch, WAIT};
use outbound::{seeded_uuid, SIM_SEEDS};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

mod channel_data;
mod outbound;
mod wire;

use wire::{fresh_uuid, mask_uuids, Conn};

/// How many times each script runs against the real switch.
const REAL_RUNS: usize = 5;

/// How many times each outbound script runs against the real switch
/// (`LIBREVOX_DIFF_OUTBOUND_RUNS` overrides it, to collect rare orders): its
/// event order varies more, and the orders seen before are kept in
/// `testdata/live/differential/` (see [`saved_transcripts`]).
const REAL_OUTBOUND_RUNS: usize = 5;

/// [`REAL_OUTBOUND_RUNS`], or `LIBREVOX_DIFF_OUTBOUND_RUNS` when set.
fn real_outbound_runs() -> usize {
    match std::env::var("LIBREVOX_DIFF_OUTBOUND_RUNS") {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("LIBREVOX_DIFF_OUTBOUND_RUNS={v:?} is not a count")),
        Err(_) => REAL_OUTBOUND_RUNS,
    }
}

/// Scripts whose simulator transcript is known to differ as a whole (the
/// simulator does not get far enough for a line-by-line entry in
/// [`KNOWN`]): asserted to still differ, so a fix says to remove the entry.
/// None now: the last two (the outbound scripts, whose inline-dialplan far
/// end the simulator's originate did not route) were fixed in session 6.
const KNOWN_SCRIPTS: &[(&str, &str)] = &[];

/// Headers whose value differs between two switches (or two runs of one)
/// and is replaced by a placeholder; the header itself and its position are
/// still compared. Each with the reason.
const MASKED: &[(&str, &str)] = &[
    ("Core-UUID", "a new UUID per switch process"),
    ("FreeSWITCH-Hostname", "the machine's name"),
    ("FreeSWITCH-Switchname", "the machine's name"),
    ("FreeSWITCH-IPv4", "the machine's address"),
    ("FreeSWITCH-IPv6", "the machine's address"),
    ("Event-Date-Local", "the time"),
    ("Event-Date-GMT", "the time"),
    ("Event-Date-Timestamp", "the time"),
    ("Event-Sequence", "a counter of all events since start"),
    (
        "Event-Calling-Line-Number",
        "a line in FreeSWITCH's C source: a build detail",
    ),
    ("Content-Length", "lengths follow the masked values"),
];

/// A known difference: in `script`, in the reply to the write `write` (its
/// transcript line, `> ...`), the simulator writes `simulator` where the
/// switch writes `switch` (transcript lines, as [`frame_lines`] makes them).
struct Known {
    script: &'static str,
    write: &'static str,
    switch: &'static str,
    simulator: &'static str,
    /// Why it stays: an open entry of `/work/notes/sim-mismatches.md`
    /// (to be fixed in the simulator, then removed here), or the reason it
    /// cannot be avoided.
    why: &'static str,
}

/// The known differences (see [`Known`]).
const KNOWN: &[Known] = &[];

const ORIGINATE: &str = "originate, parked, then killed";

/// Checks the simulator's transcript of `script` against the switch's:
/// equal to one of them once the known differences of `script` are put
/// back, and each of those differences still present.
fn compare(script: &str, sim: &[String], real: &BTreeSet<Vec<String>>) -> Result<(), String> {
    if let Some((_, why)) = KNOWN_SCRIPTS.iter().find(|(s, _)| *s == script) {
        return if real.contains(sim) {
            Err(format!(
                "script {script:?}: the known difference ({why}) is gone: the simulator's \
                 transcript is one of the switch's. Remove the entry from KNOWN_SCRIPTS."
            ))
        } else {
            eprintln!("known difference, {why}:\n{}", explain(script, sim, real));
            Ok(())
        };
    }
    let known: Vec<&Known> = KNOWN.iter().filter(|k| k.script == script).collect();
    if known.is_empty() {
        return if real.contains(sim) {
            Ok(())
        } else {
            Err(explain(script, sim, real))
        };
    }
    let mut failures = Vec::new();
    // Each line of a transcript with the write it answers.
    let mut write = "";
    let answering: Vec<(&str, &String)> = sim
        .iter()
        .map(|line| {
            if line.starts_with("> ") {
                write = line;
            }
            (write, line)
        })
        .collect();
    let entry = |write: &str, line: &str| {
        known
            .iter()
            .find(|k| k.write == write && k.simulator == line)
    };
    for k in &known {
        if !answering
            .iter()
            .any(|(w, line)| *w == k.write && *line == k.simulator)
        {
            failures.push(format!(
                "script {script:?}: the known difference {:?} -> {:?} ({}) is gone: the \
                 simulator no longer writes {:?}. Remove the entry from KNOWN (and close it in \
                 sim-mismatches.md).",
                k.switch, k.simulator, k.why, k.simulator
            ));
        }
    }
    let restored: Vec<String> = answering
        .iter()
        .map(|(w, line)| match entry(w, line) {
            Some(k) => k.switch.to_owned(),
            None => (*line).clone(),
        })
        .collect();
    if !real.contains(&restored) {
        failures.push(explain(script, &restored, real));
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

/// The value a client may depend on: UUIDs become `<uuid>`, masked headers
/// `<masked>`.
fn mask(name: &str, value: &str) -> String {
    if MASKED.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
        return "<masked>".to_owned();
    }
    mask_uuids(value)
}

/// A frame as lines: outer headers, then (events) the event's headers and
/// body, (others) the body.
fn frame_lines(frame: &Frame, out: &mut Vec<String>) {
    for (name, value) in frame.headers() {
        out.push(format!("{name}: {}", mask(name, value)));
    }
    let body = frame.body();
    if body.is_empty() {
        return;
    }
    let format = frame
        .content_type()
        .and_then(EventFormat::from_content_type);
    match format {
        Some(format) => match Event::parse(format, body) {
            Ok(event) => {
                out.push(format!("  [{} event]", format.as_str()));
                for (name, value) in event.headers() {
                    out.push(format!("  {name}: {}", mask(name, value)));
                }
                if let Some(body) = event.body_str() {
                    out.push(format!("  [body] {:?}", mask("", &body)));
                }
            }
            Err(e) => out.push(format!("  [undecodable event: {e}]")),
        },
        None => out.push(format!(
            "  [body] {:?}",
            mask("", &String::from_utf8_lossy(body))
        )),
    }
}

/// One exchange: what the client writes, and how many frames it reads then.
struct Exchange {
    send: String,
    frames: usize,
}

fn ex(send: &str, frames: usize) -> Exchange {
    Exchange {
        send: send.to_owned(),
        frames,
    }
}

/// A script: a name, and its exchanges (after the greeting, which is read
/// first). `{password}` in a write becomes the switch's password, `{uuid}`
/// a UUID new to each run.
struct Script {
    name: &'static str,
    exchanges: Vec<Exchange>,
}

/// The scripts. Each runs on a fresh inbound connection.
fn scripts() -> Vec<Script> {
    let sendevent = |subclass: &str, id: &str| {
        format!(
            "sendevent CUSTOM\nEvent-Subclass: {subclass}\nX-Diff-Id: {id}\nX-Spaced: a b+c%d\n\
             content-length: 13\n\nline1\nline 2\n"
        )
    };
    let mut scripts = vec![
        Script {
            name: "auth refused",
            exchanges: vec![ex("auth not-the-password\n\n", 2)],
        },
        Script {
            name: "auth, then commands before and after it",
            exchanges: vec![
                ex("api echo x\n\n", 1),
                ex("auth {password}\n\n", 1),
                ex("no_such_command\n\n", 1),
                ex("exit\n\n", 2),
            ],
        },
        Script {
            name: "api",
            exchanges: vec![
                ex("auth {password}\n\n", 1),
                ex("api echo hello world\n\n", 1),
                ex("api echo\n\n", 1),
                ex("api no_such_command\n\n", 1),
                ex("api no_such_command with args\n\n", 1),
                ex("api uuid_kill 00000000-0000-0000-0000-000000000000\n\n", 1),
                ex(
                    "api uuid_getvar 00000000-0000-0000-0000-000000000000 x\n\n",
                    1,
                ),
                ex("api global_getvar no_such_global_variable\n\n", 1),
                ex("api eval ${no_such_global_variable}\n\n", 1),
                ex("api global_setvar librevox_diff_global=a b\n\n", 1),
                ex(
                    "api eval [${librevox_diff_global:2}]|${LIBREVOX_DIFF_GLOBAL}|\\${x}|\
                     ${echo(${librevox_diff_global})}|${Event-Name}\n\n",
                    1,
                ),
                ex("api global_setvar librevox_diff_global=\n\n", 1),
                ex("api eval ${librevox_diff_global}\n\n", 1),
            ],
        },
        Script {
            name: "eval runs APIs",
            exchanges: vec![
                ex("auth {password}\n\n", 1),
                ex("event plain API\n\n", 1),
                // The reply, the API events of the two APIs it runs (the
                // unknown one too), then its own.
                ex("api eval ${echo(a)}|${no_such_api(q)}\n\n", 4),
            ],
        },
        Script {
            name: "bgapi",
            exchanges: vec![
                ex("auth {password}\n\n", 1),
                ex("event plain BACKGROUND_JOB\n\n", 1),
                ex("bgapi echo hello world\n\n", 2),
                ex("bgapi no_such_command\n\n", 2),
                ex(
                    "bgapi echo job\nJob-UUID: 11111111-2222-3333-4444-555555555555\n\n",
                    2,
                ),
            ],
        },
        Script {
            name: "filters",
            exchanges: vec![
                ex("auth {password}\n\n", 1),
                ex("filter X-Color red\n\n", 1),
                ex("filter add X-Color blue sky\n\n", 1),
                ex("filter X-Shape -square\n\n", 1),
                ex("filter single\n\n", 1),
                ex("filter delete X-Color red\n\n", 1),
                ex("filter delete x-color\n\n", 1),
                ex("filter delete all\n\n", 1),
                ex("filter delete\n\n", 1),
            ],
        },
        Script {
            name: "subscriptions",
            exchanges: vec![
                ex("auth {password}\n\n", 1),
                ex("event plain CHANNEL_CREATE CUSTOM a::b\n\n", 1),
                ex("event json HEARTBEAT\n\n", 1),
                ex("event xml ALL\n\n", 1),
                ex("event NO_SUCH_EVENT\n\n", 1),
                ex("nixevent CUSTOM a::b\n\n", 1),
                ex("nixevent ALL\n\n", 1),
                ex("noevents\n\n", 1),
                ex("myevents\n\n", 1),
                ex("myevents 00000000-0000-0000-0000-000000000000\n\n", 1),
                ex("linger\n\n", 1),
                ex("linger 10\n\n", 1),
                ex("nolinger\n\n", 1),
                ex("getvar x\n\n", 1),
            ],
        },
    ];
    scripts.push(Script {
        name: ORIGINATE,
        exchanges: vec![
            ex("auth {password}\n\n", 1),
            ex(
                "api originate {origination_uuid={uuid},origination_caller_id_number=diff}\
                 loopback/echo_test/default &park()\n\n",
                1,
            ),
            ex("api uuid_setvar {uuid} librevox_diff a b\n\n", 1),
            ex("api uuid_getvar {uuid} librevox_diff\n\n", 1),
            ex("api uuid_getvar {uuid} loopback_leg\n\n", 1),
            ex("api uuid_getvar {uuid} answer_state\n\n", 1),
            ex("api uuid_kill {uuid}\n\n", 1),
            ex("api uuid_setvar {uuid} librevox_diff c\n\n", 1),
        ],
    });
    for format in ["plain", "json", "xml"] {
        scripts.push(Script {
            name: match format {
                "plain" => "sendevent, plain",
                "json" => "sendevent, json",
                _ => "sendevent, xml",
            },
            exchanges: vec![
                ex("auth {password}\n\n", 1),
                ex(&format!("event {format} CUSTOM librevox::diff\n\n"), 1),
                ex("filter X-Diff-Id 2\n\n", 1),
                // A filtered-out event, then one that passes: one reply
                // only, then the reply and the event.
                ex(&sendevent("librevox::diff", "1"), 1),
                ex(&sendevent("librevox::diff", "2"), 2),
                // Another subclass is not subscribed.
                ex(&sendevent("librevox::other", "2"), 1),
                ex("noevents\n\n", 1),
            ],
        });
    }
    scripts
}

impl Conn {
    /// Reads `n` frames into `out`.
    async fn frames(&mut self, n: usize, out: &mut Vec<String>) {
        for _ in 0..n {
            match self.frame(WAIT).await {
                Ok(Some(frame)) => frame_lines(&frame, out),
                Ok(None) => {
                    out.push("[closed]".to_owned());
                    return;
                }
                Err(e) => {
                    out.push(format!("[{e}]"));
                    return;
                }
            }
        }
    }
}

/// Reads the greeting, then runs `script`'s exchanges; returns the
/// transcript: each write, then the frames it got.
async fn run(addr: &str, password: &str, script: &Script) -> Vec<String> {
    let stream = within("connect", WAIT, TcpStream::connect(addr))
        .await
        .unwrap_or_else(|e| panic!("no switch at {addr}: {e}"));
    let mut conn = Conn {
        stream,
        codec: EslCodec::default(),
        buf: BytesMut::new(),
    };
    let uuid = fresh_uuid();
    let mut out = vec!["> (connect)".to_owned()];
    conn.frames(1, &mut out).await;
    for ex in &script.exchanges {
        let send = ex
            .send
            .replace("{password}", password)
            .replace("{uuid}", &uuid);
        let shown = if send.starts_with("auth ") {
            "auth <password>".to_owned()
        } else {
            send.trim_end().replace('\n', "\\n")
        };
        out.push(format!("> {}", mask_uuids(&shown)));
        conn.stream.write_all(send.as_bytes()).await.expect("write");
        conn.frames(ex.frames, &mut out).await;
    }
    // Nothing more may come than the script expects: a frame already on
    // its way is a difference too.
    if let Ok(Some(frame)) = conn.frame(Duration::from_millis(200)).await {
        out.push("> (nothing; yet came)".to_owned());
        frame_lines(&frame, &mut out);
    }
    out
}

/// The simulator's transcript beside the closest of the switch's, with the
/// first difference marked.
fn explain(name: &str, sim: &[String], real: &BTreeSet<Vec<String>>) -> String {
    let closest = real
        .iter()
        .min_by_key(|r| {
            r.iter().zip(sim).filter(|(a, b)| a != b).count() + r.len().abs_diff(sim.len())
        })
        .expect("at least one real run");
    let first = closest
        .iter()
        .zip(sim)
        .position(|(a, b)| a != b)
        .unwrap_or(closest.len().min(sim.len()));
    let mut s = format!(
        "script {name:?}: the simulator's transcript is none of the {} the switch produced \
         in {REAL_RUNS} runs.\nFirst difference at line {first} (`-` switch, `+` simulator):\n",
        real.len()
    );
    let from = first.saturating_sub(3);
    for i in from..(first + 12).max(from) {
        let a = closest.get(i);
        let b = sim.get(i);
        if a.is_none() && b.is_none() {
            break;
        }
        if a == b {
            s.push_str(&format!("  {}\n", a.unwrap()));
        } else {
            if let Some(a) = a {
                s.push_str(&format!("- {a}\n"));
            }
            if let Some(b) = b {
                s.push_str(&format!("+ {b}\n"));
            }
        }
    }
    s
}

/// `name` as a file name.
fn file_name(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The switch's transcripts of `name` saved in `testdata/live/differential/`
/// (`<name>.switch-<n>.txt`, as `LIBREVOX_DIFF_DUMP` writes them) whose
/// writes are the script's writes today (`writes`): orders the switch
/// produced in earlier runs, so a rare order seen once stays known.
fn saved_transcripts(name: &str, writes: &[&String]) -> Vec<Vec<String>> {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/live/differential");
    let prefix = format!("{}.switch-", file_name(name));
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if !file.starts_with(&prefix) {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).expect("a saved transcript");
        let t: Vec<String> = text.lines().map(str::to_owned).collect();
        let its: Vec<&String> = t.iter().filter(|l| l.starts_with("> ")).collect();
        if its == writes {
            out.push(t);
        }
    }
    out
}

/// Adds the saved transcripts of `name` to the switch's `real` ones, and
/// notes a real order not saved yet; returns the saved ones.
fn with_saved(name: &str, real: &mut BTreeSet<Vec<String>>) -> BTreeSet<Vec<String>> {
    let Some(first) = real.iter().next() else {
        return BTreeSet::new();
    };
    let writes: Vec<&String> = first.iter().filter(|l| l.starts_with("> ")).collect();
    let saved: BTreeSet<Vec<String>> = saved_transcripts(name, &writes).into_iter().collect();
    if !saved.is_empty() {
        for t in real.iter().filter(|t| !saved.contains(*t)) {
            eprintln!(
                "script {name:?}: the switch produced an order not in testdata/live/differential \
                 (save it with LIBREVOX_DIFF_DUMP):\n{}",
                t.join("\n")
            );
        }
    }
    real.extend(saved.iter().cloned());
    saved
}

/// With `LIBREVOX_DIFF_DUMP=DIR`, every transcript is written to `DIR`
/// (`<script>.switch-<n>.txt`, `<script>.simulator.txt`): the switch's are
/// regression vectors for `testdata/`.
fn dump_transcripts(
    dir: &std::path::Path,
    name: &str,
    real: &BTreeSet<Vec<String>>,
    sim: &[String],
) {
    let file = file_name(name);
    std::fs::create_dir_all(dir).expect("LIBREVOX_DIFF_DUMP is a directory");
    for (n, t) in real.iter().enumerate() {
        std::fs::write(
            dir.join(format!("{file}.switch-{n}.txt")),
            t.join("\n") + "\n",
        )
        .expect("dump written");
    }
    std::fs::write(
        dir.join(format!("{file}.simulator.txt")),
        sim.join("\n") + "\n",
    )
    .expect("dump written");
}

#[test]
fn uuids_are_masked_wherever_they_are() {
    let u = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";
    assert_eq!(mask_uuids(u), "<uuid>");
    assert_eq!(
        mask_uuids(&format!("+OK {u}\n{u}{u} é")),
        "+OK <uuid>\n<uuid><uuid> é"
    );
    // One character short, a misplaced dash, a non-hex digit: not UUIDs.
    for s in [
        &u[1..],
        "0a1b2c3d4-e5f-6789-abcd-ef0123456789",
        "0a1b2c3d-4e5f-6789-abcd-ef012345678g",
    ] {
        assert_eq!(mask_uuids(s), s);
    }
    assert!(fresh_uuid() != fresh_uuid());
    assert_eq!(mask_uuids(&fresh_uuid()), "<uuid>");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_and_switch_agree_on_every_script() {
    let switch = Switch::from_env();
    // The extensions of the shared switch's test configuration that the
    // scripts dial (echo_test answers; park_test never does).
    let config = SimulatorConfig::default()
        .extension(Extension::new("echo_test", &[("answer", ""), ("echo", "")]))
        .extension(Extension::park("park_test"));
    let sim = Simulator::start(config)
        .await
        .expect("the simulator starts");
    let sim_addr = sim.local_addr().expect("the simulator listens").to_string();
    let sim_password = SimulatorConfig::default().password;
    let dump = std::env::var_os("LIBREVOX_DIFF_DUMP").map(std::path::PathBuf::from);
    let mut failures = Vec::new();
    let mut exchanges = 0;
    for script in scripts() {
        let mut real = BTreeSet::new();
        for _ in 0..REAL_RUNS {
            real.insert(run(&switch.addr(), &switch.password, &script).await);
        }
        let simulated = run(&sim_addr, &sim_password, &script).await;
        if let Some(dir) = &dump {
            dump_transcripts(dir, script.name, &real, &simulated);
        }
        exchanges += script.exchanges.len() + 1;
        if let Err(failure) = compare(script.name, &simulated, &real) {
            failures.push(failure);
        }
    }
    // The channel-data scripts and the outbound scripts, after the others:
    // their calls fire events that a subscribed inbound script would see.
    for case in channel_data::cases() {
        let mut real = BTreeSet::new();
        for _ in 0..REAL_RUNS {
            real.insert(
                channel_data::run(&switch.addr(), &switch.password, &switch.listen_host, &case)
                    .await,
            );
        }
        let simulated = channel_data::run(&sim_addr, &sim_password, "127.0.0.1", &case).await;
        if let Some(dir) = &dump {
            dump_transcripts(dir, case.name, &real, &simulated);
        }
        with_saved(case.name, &mut real);
        exchanges += channel_data::exchanges(&case);
        if let Err(failure) = compare(case.name, &simulated, &real) {
            failures.push(failure);
        }
    }
    for call in outbound::calls() {
        let mut real = BTreeSet::new();
        for _ in 0..real_outbound_runs() {
            real.insert(
                outbound::run(&switch.addr(), &switch.password, &switch.listen_host, &call).await,
            );
        }
        let simulated = outbound::run(&sim_addr, &sim_password, "127.0.0.1", &call).await;
        if let Some(dir) = &dump {
            dump_transcripts(dir, call.name, &real, &simulated);
        }
        let saved = with_saved(call.name, &mut real);
        exchanges += outbound::exchanges(&call);
        if let Err(failure) = compare(call.name, &simulated, &real) {
            failures.push(failure);
        }
        // The socket's side again, the call placed through the simulator's
        // dialplan, under each seed: each transcript one of the switch's,
        // and every one of the switch's produced by some seed.
        let placed_name = format!("{} (placed by the dialplan)", call.name);
        let mut placed = BTreeSet::new();
        for seed in SIM_SEEDS {
            let config = SimulatorConfig {
                order: Order::Seeded(seed),
                ..SimulatorConfig::default()
            };
            let t = outbound::run_placed(config, &seeded_uuid(seed), &call).await;
            if let Some(dir) = &dump {
                let file = format!("{}.simulator-seed-{seed}.txt", file_name(call.name));
                std::fs::write(dir.join(file), t.join("\n") + "\n").expect("dump written");
            }
            if !real.contains(&t) {
                failures.push(format!("seed {seed}: {}", explain(&placed_name, &t, &real)));
            }
            placed.insert(t);
        }
        // Every saved order (an order of this run not saved yet is
        // reported by `with_saved`: save it, then model it).
        for t in saved.difference(&placed) {
            failures.push(format!(
                "script {placed_name:?}: no seed of {SIM_SEEDS:?} made the simulator produce \
                 this saved order of the switch's (model it in the simulator's order mode, \
                 librevox::simulator::Order::Seeded, or add a seed that draws it):\n{}",
                t.join("\n")
            ));
        }
        exchanges += outbound::exchanges(&call);
    }
    eprintln!(
        "differential: {} scripts, {exchanges} exchanges compared, {} masked headers",
        scripts().len() + channel_data::cases().len() + outbound::calls().len(),
        MASKED.len()
    );
    sim.shutdown().await;
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
