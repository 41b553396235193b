//! Conformance of the simulator against the captures of a real FreeSWITCH:
//! the client bytes of each transcript are replayed against the simulator and
//! what it sends back is compared with what FreeSWITCH sent, frame by frame,
//! with values that legitimately differ masked (UUIDs, dates, sequence
//! numbers, host identity, lengths that depend on them).
#![cfg(feature = "simulator")]

mod support;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use librevox::protocol::{EslCodec, Event, EventFormat, Frame};
use librevox::simulator::{CallSpec, CallerScript, Extension, Simulator, SimulatorConfig};
use support::{transcript, Dir};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::codec::Decoder;

const T: Duration = Duration::from_secs(10);

// ----- masking and normalization -----

fn is_uuid_at(b: &[u8], i: usize) -> bool {
    const SHAPE: [usize; 5] = [8, 4, 4, 4, 12];
    let mut p = i;
    for (k, n) in SHAPE.iter().enumerate() {
        for _ in 0..*n {
            if p >= b.len() || !b[p].is_ascii_hexdigit() {
                return false;
            }
            p += 1;
        }
        if k < 4 {
            if b.get(p) != Some(&b'-') {
                return false;
            }
            p += 1;
        }
    }
    true
}

/// Replaces every UUID with `<uuid>`.
fn mask_uuids(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        if is_uuid_at(b, i) {
            out.push_str("<uuid>");
            i += 36;
        } else {
            let c = s[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn mask_digits(s: &str) -> String {
    let mut out = String::new();
    let mut in_num = false;
    for c in s.chars() {
        if c.is_ascii_digit() || (in_num && c == '.') {
            if !in_num {
                out.push('#');
            }
            in_num = true;
        } else {
            in_num = false;
            out.push(c);
        }
    }
    out
}

const MASKED: &[&str] = &[
    "Core-UUID",
    "FreeSWITCH-Hostname",
    "FreeSWITCH-Switchname",
    "FreeSWITCH-IPv4",
    "FreeSWITCH-IPv6",
    "Event-Date-Local",
    "Event-Date-GMT",
    "Event-Date-Timestamp",
    "Event-Sequence",
    "Content-Length",
    "Up-Time",
];

fn mask_value(name: &str, value: &str) -> String {
    if MASKED.contains(&name)
        || name.ends_with("-Time")
        || name.ends_with("_epoch")
        || name.ends_with("_uepoch")
        || name.ends_with("_stamp")
        || name.starts_with("variable_playback_")
        || name == "variable_session_id"
    {
        return "*".into();
    }
    mask_port(&mask_uuids(value))
}

fn mask_port(s: &str) -> String {
    match s.find("127.0.0.1:") {
        Some(i) => {
            let rest = &s[i + 10..];
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            format!("{}127.0.0.1:<port>{}", &s[..i], &rest[end..])
        }
        None => s.to_owned(),
    }
}

fn mask_body(body: &str) -> String {
    let b = mask_uuids(body);
    if b.starts_with("UP ") || b.chars().all(|c| c.is_ascii_digit() || c == '\n') {
        mask_digits(&b)
    } else {
        b
    }
}

fn event_lines(e: &Event) -> Vec<String> {
    let mut v: Vec<String> = e
        .headers()
        .map(|(n, val)| format!("{n}: {}", mask_value(n, val)))
        .collect();
    if let Some(b) = e.body_str() {
        v.push(format!("<body> {}", mask_body(&b)));
    }
    v
}

/// A normalized, comparable form of a frame.
fn norm(frame: &Frame) -> Vec<String> {
    if frame.header("Event-Name").is_some() && frame.content_type() == Some("command/reply") {
        // The connect reply: a percent-encoded header block.
        let reply = librevox::protocol::Message::from_frame(frame.clone()).unwrap();
        let librevox::protocol::Message::CommandReply(r) = reply else {
            panic!()
        };
        let mut v = vec!["<connect reply>".to_owned()];
        v.extend(event_lines(r.channel_data().unwrap()));
        return v;
    }
    let ct = frame.content_type().unwrap_or("").to_owned();
    if let Some(format) = EventFormat::from_content_type(&ct) {
        let e = Event::parse(format, frame.body()).unwrap();
        let mut v = vec![format!("Content-Type: {ct}")];
        v.extend(event_lines(&e));
        return v;
    }
    let mut v: Vec<String> = frame
        .headers()
        .map(|(n, val)| format!("{n}: {}", mask_value(n, val)))
        .collect();
    if !frame.body().is_empty() {
        v.push(format!(
            "<body> {}",
            mask_body(&String::from_utf8_lossy(frame.body()))
        ));
    }
    v
}

fn decode_all(bytes: &[u8]) -> Vec<Frame> {
    let mut codec = EslCodec::default();
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(f) = codec.decode(&mut buf).unwrap() {
        out.push(f);
    }
    assert!(buf.is_empty(), "trailing bytes");
    out
}

fn is_event(f: &Frame) -> bool {
    f.content_type()
        .is_some_and(|ct| EventFormat::from_content_type(ct).is_some())
}

// ----- a raw client -----

struct Raw<S> {
    io: S,
    codec: EslCodec,
    buf: BytesMut,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Raw<S> {
    fn new(io: S) -> Self {
        Raw {
            io,
            codec: EslCodec::default(),
            buf: BytesMut::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.unwrap();
    }

    /// The next frame, or None at EOF.
    async fn frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(f) = self.codec.decode(&mut self.buf).unwrap() {
                if std::env::var("SIM_DEBUG").is_ok() {
                    let n = norm(&f);
                    eprintln!(
                        "CLIENT got {:?}",
                        n.iter().find(|l| l.starts_with("Event-Name")
                            || l.starts_with("Reply-Text")
                            || l.starts_with("Content-Disp"))
                    );
                }
                return Some(f);
            }
            let n = tokio::time::timeout(T, self.io.read_buf(&mut self.buf))
                .await
                .expect("timed out waiting for a frame")
                .unwrap();
            if n == 0 {
                return None;
            }
        }
    }

    /// True when the peer closes without sending anything more.
    async fn closed(&mut self) -> bool {
        matches!(
            tokio::time::timeout(T, self.io.read_buf(&mut self.buf)).await,
            Ok(Ok(0))
        ) && self.buf.is_empty()
    }
}

/// Replays the SENT blocks of a transcript; before each SENT block, waits
/// until as many frames arrived as FreeSWITCH had sent by then. `hook` runs
/// after each SENT block (index of the block, its text). Returns (expected,
/// actual) frames.
async fn replay<S, F, Fut>(client: &mut Raw<S>, name: &str, hook: F) -> (Vec<Frame>, Vec<Frame>)
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnMut(usize, String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    replay_kept(client, name, |_| true, hook).await
}

/// [`replay`] counting and returning only the frames `keep` accepts.
async fn replay_kept<S, K, F, Fut>(
    client: &mut Raw<S>,
    name: &str,
    keep: K,
    mut hook: F,
) -> (Vec<Frame>, Vec<Frame>)
where
    S: AsyncRead + AsyncWrite + Unpin,
    K: Fn(&Frame) -> bool,
    F: FnMut(usize, String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let blocks = transcript(name);
    let mut recv_bytes = Vec::new();
    let mut actual = Vec::new();
    for (i, (dir, bytes)) in blocks.iter().enumerate() {
        match dir {
            Dir::Recv => recv_bytes.extend_from_slice(bytes),
            Dir::Sent => {
                let want = decode_all(&recv_bytes).into_iter().filter(&keep).count();
                if std::env::var("SIM_DEBUG").is_ok() {
                    eprintln!("before SENT {i}: want {want}, have {}", actual.len());
                    for f in &actual {
                        eprintln!("   {:?}", norm(f).iter().take(1).collect::<Vec<_>>());
                    }
                }
                while actual.len() < want {
                    match client.frame().await {
                        Some(f) if keep(&f) => actual.push(f),
                        Some(_) => {}
                        None => break,
                    }
                }
                client.send(bytes).await;
                hook(i, String::from_utf8_lossy(bytes).into_owned()).await;
            }
        }
    }
    let expected: Vec<Frame> = decode_all(&recv_bytes).into_iter().filter(&keep).collect();
    while actual.len() < expected.len() {
        match client.frame().await {
            Some(f) if keep(&f) => actual.push(f),
            Some(_) => {}
            None => break,
        }
    }
    (expected, actual)
}

fn assert_same(name: &str, expected: &[Frame], actual: &[Frame]) {
    let e: Vec<Vec<String>> = expected.iter().map(norm).collect();
    let a: Vec<Vec<String>> = actual.iter().map(norm).collect();
    for (i, (x, y)) in e.iter().zip(a.iter()).enumerate() {
        assert_eq!(x, y, "{name}: frame {i} differs");
    }
    assert_eq!(e.len(), a.len(), "{name}: frame count");
}

async fn inbound_sim(config: SimulatorConfig) -> Simulator {
    Simulator::start(config.in_memory()).await.unwrap()
}

/// An authenticated helper connection that sends packets and waits for each
/// reply (the unrecorded second socket of the captures).
async fn helper(sim: &Simulator, packets: &[String]) {
    let mut c = Raw::new(sim.connect_in_memory());
    c.frame().await.unwrap();
    c.send(b"auth ClueCon\n\n").await;
    c.frame().await.unwrap();
    for p in packets {
        c.send(p.as_bytes()).await;
        loop {
            let f = c.frame().await.unwrap();
            if matches!(f.content_type(), Some("command/reply" | "api/response")) {
                break;
            }
        }
    }
    c.send(b"exit\n\n").await;
}

// ----- inbound scenarios, compared exactly (masked) -----

async fn exact_inbound(name: &str, config: SimulatorConfig) {
    let sim = inbound_sim(config).await;
    let mut c = Raw::new(sim.connect_in_memory());
    let (expected, actual) = replay(&mut c, name, |_, _| async {}).await;
    assert_same(name, &expected, &actual);
}

#[tokio::test]
async fn inbound_basic() {
    exact_inbound("inbound_basic", SimulatorConfig::deterministic(1)).await;
}

#[tokio::test]
async fn inbound_authfail() {
    let sim = inbound_sim(SimulatorConfig::deterministic(1)).await;
    let mut c = Raw::new(sim.connect_in_memory());
    let (expected, actual) = replay(&mut c, "inbound_authfail", |_, _| async {}).await;
    assert_same("inbound_authfail", &expected, &actual);
    assert!(c.closed().await, "closed after the notice");
}

#[tokio::test]
async fn preauth_commands() {
    exact_inbound("preauth_commands", SimulatorConfig::deterministic(1)).await;
}

#[tokio::test]
async fn inbound_command_replies() {
    let mut config = SimulatorConfig::deterministic(1);
    config.version = "1.11.3-dev~64bit".into();
    exact_inbound("inbound_command_replies", config).await;
}

#[tokio::test]
async fn bgapi_job() {
    exact_inbound("bgapi_job", SimulatorConfig::deterministic(1)).await;
}

#[tokio::test]
async fn sendevent_custom() {
    exact_inbound("sendevent_custom", SimulatorConfig::deterministic(1)).await;
}

#[tokio::test]
async fn event_xml() {
    exact_inbound("event_xml", SimulatorConfig::deterministic(1)).await;
}

#[tokio::test]
async fn rude_rejection() {
    let mut config = SimulatorConfig::deterministic(1);
    config.acl = Some(std::sync::Arc::new(|ip| ip.to_string() == "127.0.0.1"));
    let sim = inbound_sim(config).await;
    let io = sim.connect_in_memory_from("127.0.0.2:40000".parse().unwrap());
    let mut c = Raw::new(io);
    let mut got = Vec::new();
    while let Some(f) = c.frame().await {
        got.push(f);
    }
    let expected = decode_all(&support::raw("rude_rejection"));
    assert_same("rude_rejection", &expected, &got);
    // Byte-exact: 202 bytes.
    let sent = sim.connections()[0].sent_bytes();
    assert_eq!(sent, support::raw("rude_rejection"));
}

#[tokio::test]
async fn filter_and_nixevent() {
    let sim = inbound_sim(SimulatorConfig::deterministic(1)).await;
    // The seven test events (X-Id 1..7), as the unrecorded second socket sent them.
    let batch: Vec<String> = [
        ("1", Some("red"), Some("square")),
        ("2", Some("red"), Some("circle")),
        ("3", Some("blue"), None),
        ("4", Some("green"), Some("square")),
        ("5", Some("grey"), None),
        ("6", Some("gray"), Some("circle")),
        ("7", None, Some("square")),
    ]
    .iter()
    .map(|(id, color, shape)| {
        let mut p = format!("sendevent CUSTOM\nEvent-Subclass: test::filter\nX-Id: {id}\n");
        if let Some(c) = color {
            p.push_str(&format!("X-Color: {c}\n"));
        }
        if let Some(s) = shape {
            p.push_str(&format!("X-Shape: {s}\n"));
        }
        p.push('\n');
        p
    })
    .collect();
    let later = |id: &str, sub: Option<&str>, name: &str| {
        let mut p = format!("sendevent {name}\n");
        if let Some(s) = sub {
            p.push_str(&format!("Event-Subclass: {s}\n"));
        }
        p.push_str(&format!("X-Id: {id}\n\n"));
        p
    };
    let sim2 = sim.clone();
    let mut c = Raw::new(sim.connect_in_memory());
    let (expected, actual) = replay(&mut c, "filter_and_nixevent", |_, sent| {
        let sim = sim2.clone();
        let batch = batch.clone();
        let packets: Vec<String> =
            if sent.starts_with("event plain CUSTOM") || sent.starts_with("filter") {
                batch
            } else if sent.starts_with("nixevent CUSTOM test::filter") {
                vec![
                    later("after-nix", Some("test::filter"), "CUSTOM"),
                    later("nosubclass", None, "CUSTOM"),
                    later("other-subclass", Some("test::other"), "CUSTOM"),
                ]
            } else if sent == "nixevent CUSTOM\n\n" {
                vec![
                    later("after-nix-custom", None, "CUSTOM"),
                    later("heartbeat-still-on", None, "HEARTBEAT"),
                ]
            } else {
                Vec::new()
            };
        async move { helper(&sim, &packets).await }
    })
    .await;
    assert_same("filter_and_nixevent", &expected, &actual);
}

#[tokio::test]
async fn log_data_frame_layout() {
    // `api log` gives a Text-Channel 3 line with empty User-Data, exactly
    // laid out as in the capture (date, idle CPU and line number masked).
    let sim = inbound_sim(SimulatorConfig::deterministic(1)).await;
    let mut c = Raw::new(sim.connect_in_memory());
    c.frame().await.unwrap();
    c.send(b"auth ClueCon\n\nlog info\n\napi log NOTICE hello from api log\n\n")
        .await;
    let mut frames = Vec::new();
    for _ in 0..4 {
        frames.push(c.frame().await.unwrap());
    }
    let expected = decode_all(&support::raw("log_data"));
    let exp_log = &expected[4];
    let got_log = &frames[3];
    assert_eq!(got_log.content_type(), Some("log/data"));
    let names = |f: &Frame| f.headers().map(|(n, _)| n.to_owned()).collect::<Vec<_>>();
    assert_eq!(names(exp_log), names(got_log));
    for h in [
        "Log-Level",
        "Text-Channel",
        "Log-File",
        "Log-Func",
        "Log-Line",
        "User-Data",
    ] {
        assert_eq!(exp_log.header(h), got_log.header(h), "{h}");
    }
    assert_eq!(
        got_log
            .raw_head()
            .windows(12)
            .filter(|w| w == b"User-Data: \n")
            .count()
            + usize::from(got_log.raw_head().ends_with(b"User-Data: ")),
        1
    );
    let body = String::from_utf8_lossy(got_log.body()).into_owned();
    let exp_body = String::from_utf8_lossy(exp_log.body()).into_owned();
    assert_eq!(mask_digits(&body), mask_digits(&exp_body));
    assert_eq!(
        got_log.header("Content-Length").unwrap(),
        got_log.body().len().to_string()
    );
    // nolog twice.
    c.send(b"nolog\n\nnolog\n\n").await;
    let f1 = c.frame().await.unwrap();
    let f2 = c.frame().await.unwrap();
    assert_eq!(f1.header("Reply-Text"), Some("+OK no longer logging"));
    assert_eq!(f2.header("Reply-Text"), Some("-ERR not loging"));
}

// ----- outbound scenarios -----

const OWN_TYPES: &[&str] = &[
    "CHANNEL_PARK",
    "CHANNEL_UNPARK",
    "CHANNEL_EXECUTE",
    "CHANNEL_EXECUTE_COMPLETE",
    "CHANNEL_ANSWER",
    "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_STATE",
    "CHANNEL_CALLSTATE",
    "PLAYBACK_START",
    "PLAYBACK_STOP",
    "PRIVATE_COMMAND",
    "DTMF",
    "BACKGROUND_JOB",
];

/// A summary of an event for structural comparison.
fn summary(e: &Event) -> String {
    let mut s = e.name().unwrap_or("-").to_owned();
    for h in [
        "Application",
        "Application-Data",
        "Application-Response",
        "Application-UUID",
        "Channel-State",
        "Channel-State-Number",
        "Channel-Call-State",
        "Answer-State",
        "Hangup-Cause",
        "DTMF-Digit",
        "variable_read_result",
        "variable_read_terminator_used",
        "variable_ext_digits",
        "variable_pagd_digits",
        "variable_pagd_digits_invalid",
        "variable_current_loop",
        "variable_foo",
    ] {
        if let Some(v) = e.header(h) {
            s.push_str(&format!(" {h}={}", mask_port(&mask_uuids(v))));
        }
    }
    s
}

/// Channel-data header names in order, `variable_*` collapsed.
fn structure(e: &Event) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (n, _) in e.headers() {
        let n = if n.starts_with("variable_") {
            "variable_*".to_owned()
        } else {
            n.to_owned()
        };
        if out.last() != Some(&n) {
            out.push(n);
        }
    }
    out
}

struct OutboundRun {
    expected: Vec<Frame>,
    actual: Vec<Frame>,
    sim: Simulator,
}

async fn outbound(
    name: &str,
    socket_mode: &str,
    spec: impl FnOnce(CallSpec) -> CallSpec,
) -> OutboundRun {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = SimulatorConfig::deterministic(7)
        .in_memory()
        .extension(Extension::socket(
            "socket_lab",
            &format!("127.0.0.1:{port} {socket_mode}"),
        ));
    let sim = Simulator::start(config).await.unwrap();
    // The captured client may name its channel's UUID: reuse it.
    let recv: Vec<u8> = transcript(name)
        .into_iter()
        .filter(|(d, _)| *d == Dir::Recv)
        .flat_map(|(_, b)| b)
        .collect();
    let recv_frames = decode_all(&recv);
    let uuid = own_uuid(&recv_frames);
    let dest = recv_frames
        .iter()
        .find_map(
            |f| match librevox::protocol::Message::from_frame(f.clone()).ok()? {
                librevox::protocol::Message::CommandReply(r) => r
                    .channel_data()
                    .and_then(|d| d.header("Caller-Destination-Number"))
                    .map(str::to_owned),
                _ => None,
            },
        )
        .unwrap();
    let sim = {
        drop(sim);
        let listener_port = port;
        let config = SimulatorConfig::deterministic(7)
            .in_memory()
            .extension(Extension::socket(
                &dest,
                &format!("127.0.0.1:{listener_port} {socket_mode}"),
            ));
        Simulator::start(config).await.unwrap()
    };
    sim.place_call(spec(CallSpec::new(&dest).uuid(&uuid)));
    let (stream, _) = tokio::time::timeout(T, listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut c = Raw::new(stream);
    let keep = |f: &Frame| {
        if !is_event(f) {
            return true;
        }
        let e = Event::parse(
            EventFormat::from_content_type(f.content_type().unwrap()).unwrap(),
            f.body(),
        )
        .unwrap();
        OWN_TYPES.contains(&e.name().unwrap_or(""))
            && (e.unique_id() == Some(uuid.as_str())
                || e.header("Job-Owner-UUID") == Some(uuid.as_str()))
    };
    let (expected, actual) = replay_kept(&mut c, name, keep, |_, _| async {}).await;
    OutboundRun {
        expected,
        actual,
        sim,
    }
}

fn own_uuid(frames: &[Frame]) -> String {
    frames
        .iter()
        .find_map(|f| {
            f.header("Event-Name")?;
            let m = librevox::protocol::Message::from_frame(f.clone()).ok()?;
            match m {
                librevox::protocol::Message::CommandReply(r) => r
                    .channel_data()
                    .and_then(|d| d.unique_id())
                    .map(str::to_owned),
                _ => None,
            }
        })
        .expect("a connect reply")
}

/// Compares non-event frames exactly (masked) and in order, and the
/// controlled channel's events by summary and order.
fn assert_outbound(name: &str, run: &OutboundRun) {
    let non_events = |fs: &[Frame]| -> Vec<Vec<String>> {
        fs.iter().filter(|f| !is_event(f)).map(norm).collect()
    };
    let e = non_events(&run.expected);
    let a = non_events(&run.actual);
    for (i, (x, y)) in e.iter().zip(a.iter()).enumerate() {
        if x[0] == "<connect reply>" {
            // Structure of the connect reply; values checked elsewhere.
            assert_eq!(y[0], x[0], "{name}: non-event frame {i}");
            continue;
        }
        assert_eq!(x, y, "{name}: non-event frame {i}");
    }
    assert_eq!(e.len(), a.len(), "{name}: non-event frame count");
    let own_e = own_uuid(&run.expected);
    let own_a = own_uuid(&run.actual);
    let events = |fs: &[Frame], own: &str| -> Vec<String> {
        fs.iter()
            .filter(|f| is_event(f))
            .map(|f| {
                Event::parse(
                    EventFormat::from_content_type(f.content_type().unwrap()).unwrap(),
                    f.body(),
                )
                .unwrap()
            })
            .filter(|e| {
                OWN_TYPES.contains(&e.name().unwrap_or(""))
                    && (e.unique_id() == Some(own) || e.header("Job-Owner-UUID") == Some(own))
            })
            .map(|e| summary(&e))
            .collect()
    };
    let (x, y) = (events(&run.expected, &own_e), events(&run.actual, &own_a));
    for (i, (a, b)) in x.iter().zip(y.iter()).enumerate() {
        assert_eq!(a, b, "{name}: event {i}");
    }
    assert_eq!(x.len(), y.len(), "{name}: event count");
}

#[tokio::test]
async fn outbound_commands() {
    let run = outbound("outbound_commands", "async full", |s| s).await;
    assert_outbound("outbound_commands", &run);
}

#[tokio::test]
async fn outbound_not_full() {
    let run = outbound("outbound_not_full", "async", |s| s).await;
    assert_outbound("outbound_not_full", &run);
}

#[tokio::test]
async fn outbound_pipelined_event_lock() {
    let run = outbound("outbound_pipelined_event_lock", "async full", |s| s).await;
    assert_outbound("outbound_pipelined_event_lock", &run);
}

#[tokio::test]
async fn outbound_hangup_mid_app() {
    let run = outbound("outbound_hangup_mid_app", "async full", |s| {
        s.script(CallerScript {
            hangup_during: Some(("playback".into(), Duration::from_millis(300))),
            ..CallerScript::default()
        })
    })
    .await;
    assert_outbound("outbound_hangup_mid_app", &run);
}

#[tokio::test]
async fn outbound_hangup_mid_app_nolinger() {
    let run = outbound("outbound_hangup_mid_app_nolinger", "async full", |s| {
        s.script(CallerScript {
            hangup_during: Some(("playback".into(), Duration::from_millis(300))),
            ..CallerScript::default()
        })
    })
    .await;
    assert_outbound("outbound_hangup_mid_app_nolinger", &run);
}

#[tokio::test]
async fn read_digits() {
    let run = outbound("read_digits", "async full", |s| {
        s.script(CallerScript {
            inputs: vec!["1234#".into()],
            digit_interval: Duration::ZERO,
            ..CallerScript::default()
        })
    })
    .await;
    assert_outbound("read_digits", &run);
}

#[tokio::test]
async fn read_digits_timeout() {
    let run = outbound("read_digits_timeout", "async full", |s| s).await;
    assert_outbound("read_digits_timeout", &run);
}

#[tokio::test]
async fn play_and_get_digits() {
    let run = outbound("play_and_get_digits", "async full", |s| {
        s.script(CallerScript {
            inputs: vec!["42#".into()],
            digit_interval: Duration::ZERO,
            ..CallerScript::default()
        })
    })
    .await;
    assert_outbound("play_and_get_digits", &run);
}

#[tokio::test]
async fn play_and_get_digits_invalid() {
    let run = outbound("play_and_get_digits_invalid", "async full", |s| {
        s.script(CallerScript {
            inputs: vec!["42#".into()],
            digit_interval: Duration::ZERO,
            ..CallerScript::default()
        })
    })
    .await;
    assert_outbound("play_and_get_digits_invalid", &run);
}

#[tokio::test]
async fn call_plain_outbound() {
    let run = outbound("call_plain_outbound", "async full", |s| s).await;
    assert_outbound("call_plain_outbound", &run);
    // Structure: the header order of the controlled channel's events equals
    // FreeSWITCH's, per event type (variables collapsed).
    let own_e = own_uuid(&run.expected);
    let own_a = own_uuid(&run.actual);
    let by_type = |fs: &[Frame], own: &str| {
        let mut m = std::collections::BTreeMap::new();
        for f in fs.iter().filter(|f| is_event(f)) {
            let e = Event::parse_plain(f.body()).unwrap();
            if e.unique_id() == Some(own) {
                m.entry(e.name().unwrap().to_owned())
                    .or_insert_with(|| structure(&e));
            }
        }
        m
    };
    let exp = by_type(&run.expected, &own_e);
    let act = by_type(&run.actual, &own_a);
    for (k, v) in &act {
        if let Some(x) = exp.get(k) {
            assert_eq!(x, v, "structure of {k}");
        }
    }
    drop(run.sim);
}

#[tokio::test]
async fn call_plain_linger_outbound() {
    let run = outbound("call_plain_linger_outbound", "async full", |s| s).await;
    assert_outbound("call_plain_linger_outbound", &run);
}

#[tokio::test]
async fn outbound_sendmsg_body() {
    let run = outbound("outbound_sendmsg_body", "async full", |s| s).await;
    assert_outbound("outbound_sendmsg_body", &run);
}

#[tokio::test]
async fn outbound_sync_mode() {
    let run = outbound("outbound_sync_mode", "", |s| s).await;
    assert_outbound("outbound_sync_mode", &run);
}

#[allow(dead_code)]
fn _unused(_: Bytes) {}
