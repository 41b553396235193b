//! The simulator's inbound side driven by the real client
//! (`CommandSocket` / `Connection`), and its scripting API.
#![cfg(feature = "simulator")]

use std::time::Duration;

use librevox::simulator::{CallSpec, CallerScript, Extension, Simulator, SimulatorConfig};
use librevox::{CommandSocket, ConnectOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const T: Duration = Duration::from_secs(10);

async fn socket(sim: &Simulator) -> CommandSocket {
    CommandSocket::connect_io(sim.connect_in_memory(), ConnectOptions::new("sim"))
        .await
        .unwrap()
}

#[tokio::test]
async fn user_api_and_builtins() {
    let sim = Simulator::start(SimulatorConfig::default().in_memory())
        .await
        .unwrap();
    sim.register_api("greet", |args| format!("hello {args}\n"));
    let s = socket(&sim).await;
    assert_eq!(s.api("greet bob").await.unwrap().text(), "hello bob\n");
    assert_eq!(
        s.api("echo  two  spaces ").await.unwrap().text(),
        "two  spaces"
    );
    let err = s.api("no_such_command").await;
    assert!(err.is_err(), "-ERR body is an error");
    let job = s.bgapi("greet job").await.unwrap();
    assert_eq!(job.output().await.unwrap(), "hello job\n");
    s.close().await.unwrap();
}

/// The names of the events fired for one channel, in order.
fn event_names(sim: &Simulator, uuid: &str) -> Vec<String> {
    sim.fired_events()
        .iter()
        .filter(|e| e.unique_id() == Some(uuid))
        .map(|e| e.name().unwrap().to_owned())
        .collect()
}

/// As on FreeSWITCH 1.11.3: `originate loopback/<ext> &app()` makes two
/// legs; the B leg runs the extension, its answer answers the A leg (whose
/// UUID is the reply), and its hangup hangs the A leg up with its cause.
#[tokio::test]
async fn originate_runs_dialplan_to_destroy() {
    let config = SimulatorConfig::default()
        .in_memory()
        .extension(Extension::new(
            "9000",
            &[("answer", ""), ("set", "foo=bar"), ("hangup", "USER_BUSY")],
        ));
    let sim = Simulator::start(config).await.unwrap();
    let s = socket(&sim).await;
    let out = s.api("originate loopback/9000 &park()").await.unwrap();
    let a = out.text().trim().strip_prefix("+OK ").unwrap().to_owned();
    let destroyed = |uuid: String| {
        let sim = &sim;
        async move {
            sim.wait_event(T, |e| {
                e.is("CHANNEL_DESTROY") && e.unique_id() == Some(uuid.as_str())
            })
            .await
            .unwrap()
        }
    };
    let a_destroy = destroyed(a.clone()).await;
    assert_eq!(a_destroy.header("Channel-Name"), Some("loopback/9000-a"));
    assert_eq!(a_destroy.header("Call-Direction"), Some("outbound"));
    assert_eq!(a_destroy.variable("loopback_leg"), Some("A"));
    assert_eq!(
        a_destroy.hangup_cause(),
        Some(librevox::HangupCause::UserBusy)
    );
    assert_eq!(a_destroy.variable("foo"), None, "set ran on the B leg");
    let b = a_destroy
        .variable("other_loopback_leg_uuid")
        .unwrap()
        .to_owned();
    let b_destroy = destroyed(b.clone()).await;
    assert_eq!(b_destroy.header("Channel-Name"), Some("loopback/9000-b"));
    assert_eq!(b_destroy.variable("loopback_leg"), Some("B"));
    assert_eq!(
        b_destroy.variable("other_loopback_leg_uuid"),
        Some(a.as_str())
    );
    assert_eq!(
        b_destroy.hangup_cause(),
        Some(librevox::HangupCause::UserBusy)
    );
    assert_eq!(b_destroy.variable("foo"), Some("bar"));
    let last = [
        "CHANNEL_STATE",
        "CHANNEL_HANGUP_COMPLETE",
        "CHANNEL_DESTROY",
        "CHANNEL_STATE",
    ];
    let (a_names, b_names) = (event_names(&sim, &a), event_names(&sim, &b));
    // The A leg is originated: no RINGING call state, answered by the B leg.
    let a_first = [
        "CHANNEL_STATE",
        "CHANNEL_CREATE",
        "CHANNEL_ORIGINATE",
        "CHANNEL_STATE",
        "CHANNEL_STATE",
        "CHANNEL_ANSWER",
        "CHANNEL_CALLSTATE",
    ];
    assert_eq!(&a_names[..7], &a_first, "{a_names:?}");
    assert_eq!(&a_names[a_names.len() - 4..], &last);
    let b_first = [
        "CHANNEL_STATE",
        "CHANNEL_CREATE",
        "CHANNEL_CALLSTATE",
        "CHANNEL_STATE",
        "CHANNEL_STATE",
    ];
    assert_eq!(&b_names[..5], &b_first, "{b_names:?}");
    assert_eq!(&b_names[b_names.len() - 4..], &last);
    assert!(sim.channel(&a).is_none());
    assert!(sim.channel(&b).is_none());
    s.close().await.unwrap();
}

/// FreeSWITCH 1.11.3's usage line for an `originate` without a destination.
const ORIGINATE_USAGE: &str = "-USAGE: <call url> <exten>|&<application_name>(<app_args>) \
    [<dialplan>] [<context>] [<cid_name>] [<cid_num>] [<timeout_sec>]\n";

/// The originates that place no call answer as FreeSWITCH 1.11.3 does
/// (each reply taken from the real switch), and leave no channel behind.
#[tokio::test(start_paused = true)]
async fn originate_failures_answer_as_the_switch() {
    let config = SimulatorConfig::default()
        .in_memory()
        .extension(Extension::park("park_test"));
    let sim = Simulator::start(config).await.unwrap();
    let s = socket(&sim).await;
    let cases = [
        ("originate", ORIGINATE_USAGE),
        ("originate loopback/park_test", ORIGINATE_USAGE),
        (
            "originate loopback/9196 &park()",
            "-ERR NO_ROUTE_DESTINATION\n",
        ),
        ("originate loopback &park()", "-ERR NO_ROUTE_DESTINATION\n"),
        ("originate sofia/x/y &park()", "-ERR CHAN_NOT_IMPLEMENTED\n"),
        ("originate foo &park()", "-ERR CHAN_NOT_IMPLEMENTED\n"),
        (
            "originate {a=b loopback/park_test &park()",
            "-ERR DESTINATION_OUT_OF_ORDER\n",
        ),
    ];
    for (command, reply) in cases {
        let r = s.connection().api_raw(command).await.unwrap();
        assert_eq!(r.text(), reply, "{command}");
    }
    // Nothing answers the parked B leg: both legs hang up with NO_ANSWER
    // after the timeout (a dial-string variable or the last argument).
    for command in [
        "originate {originate_timeout=2}loopback/park_test &park()",
        "originate loopback/park_test &park() XML default undef undef 2",
    ] {
        let started = tokio::time::Instant::now();
        let r = s.connection().api_raw(command).await.unwrap();
        assert_eq!(r.text(), "-ERR NO_ANSWER\n", "{command}");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(2) && waited < Duration::from_millis(2500),
            "{command}: {waited:?}"
        );
    }
    sim.wait_for(T, |s| s.channels().is_empty()).await.unwrap();
    let hangups: Vec<(String, String)> = sim
        .fired_events()
        .iter()
        .filter(|e| e.is("CHANNEL_HANGUP"))
        .map(|e| {
            let name = e.header("Channel-Name").unwrap().to_owned();
            (name, e.header("Hangup-Cause").unwrap().to_owned())
        })
        .collect();
    let no_route = |leg: &str| {
        (
            format!("loopback/9196-{leg}"),
            "NO_ROUTE_DESTINATION".into(),
        )
    };
    let no_answer = |leg: &str| (format!("loopback/park_test-{leg}"), "NO_ANSWER".into());
    assert_eq!(
        hangups,
        [
            no_route("b"),
            no_route("a"),
            no_answer("a"),
            no_answer("b"),
            no_answer("a"),
            no_answer("b"),
        ]
    );
    s.close().await.unwrap();
}

/// As on the switch: the B leg's answer answers the A leg first, and a
/// hangup of either leg hangs the other up with the same cause.
#[tokio::test]
async fn answer_and_hangup_spread_between_the_loopback_legs() {
    let config = SimulatorConfig::default()
        .in_memory()
        .extension(Extension::new("echo_test", &[("answer", ""), ("echo", "")]));
    let sim = Simulator::start(config).await.unwrap();
    let s = socket(&sim).await;
    for (n, kill_a) in [(1, true), (2, false)] {
        let a = format!("0a1b2c3d-4e5f-4789-abcd-ef012345678{n}");
        let r = s
            .api(&format!(
                "originate {{origination_uuid={a}}}loopback/echo_test &park()"
            ))
            .await
            .unwrap();
        assert_eq!(r.text(), format!("+OK {a}\n"));
        let getvar = |uuid: &str, name: &str| {
            let cmd = format!("uuid_getvar {uuid} {name}");
            let s = &s;
            async move { s.api(&cmd).await.unwrap().text().into_owned() }
        };
        let b = getvar(&a, "other_loopback_leg_uuid").await;
        assert_eq!(getvar(&a, "loopback_leg").await, "A");
        assert_eq!(getvar(&b, "loopback_leg").await, "B");
        assert_eq!(getvar(&b, "other_loopback_leg_uuid").await, a);
        let answers: Vec<String> = sim
            .fired_events()
            .iter()
            .filter(|e| e.is("CHANNEL_ANSWER"))
            .filter_map(|e| e.unique_id().map(str::to_owned))
            .filter(|u| *u == a || *u == b)
            .collect();
        assert_eq!(answers, [a.clone(), b.clone()]);
        let killed = if kill_a { &a } else { &b };
        let r = s
            .api(&format!("uuid_kill {killed} USER_BUSY"))
            .await
            .unwrap();
        assert_eq!(r.text(), "+OK\n");
        for uuid in [&a, &b] {
            let done = sim
                .wait_event(T, |e| {
                    e.is("CHANNEL_HANGUP_COMPLETE") && e.unique_id() == Some(uuid.as_str())
                })
                .await
                .unwrap();
            assert_eq!(done.header("Hangup-Cause"), Some("USER_BUSY"), "{uuid}");
        }
    }
    s.close().await.unwrap();
}

/// The A leg's wait for the answer does not depend on which leg's thread
/// runs first: on a multi-threaded runtime the B leg often answers before
/// the A leg starts waiting, and every originate still answers at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn originate_answers_whichever_leg_runs_first() {
    let config = SimulatorConfig::default()
        .in_memory()
        .extension(Extension::new(
            "echo_test",
            &[("answer", ""), ("hangup", "")],
        ));
    let sim = Simulator::start(config).await.unwrap();
    let s = socket(&sim).await;
    for n in 0..200 {
        let r = tokio::time::timeout(
            T,
            s.api("originate {originate_timeout=30}loopback/echo_test &park()"),
        )
        .await
        .unwrap_or_else(|_| panic!("originate {n} got no answer"))
        .unwrap();
        assert!(r.text().starts_with("+OK "), "{n}: {}", r.text());
    }
    sim.wait_for(T, |s| s.channels().is_empty()).await.unwrap();
    s.close().await.unwrap();
}

/// A call originated to `&socket(...)` reaches the outbound socket
/// answered, as the loopback A leg, its caller ID flipped, with the
/// loopback and originate variables (header names and values as the switch
/// sends them).
#[tokio::test]
async fn originated_socket_call_arrives_answered_with_loopback_variables() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = SimulatorConfig::default()
        .in_memory()
        .extension(Extension::new("echo_test", &[("answer", ""), ("echo", "")]));
    let sim = Simulator::start(config).await.unwrap();
    let s = socket(&sim).await;
    let command = format!(
        "originate {{origination_caller_id_number=123}}loopback/echo_test \
         &socket('127.0.0.1:{port} async full')"
    );
    let reply = s.api(&command).await.unwrap();
    let (mut io, _) = tokio::time::timeout(T, listener.accept())
        .await
        .unwrap()
        .unwrap();
    io.write_all(b"connect\n\n").await.unwrap();
    let mut data = Vec::new();
    while !data.windows(2).any(|w| w == b"\n\n") {
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout(T, io.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed before the connect reply");
        data.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8(data).unwrap();
    let header = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
    };
    let a = reply.text().trim().strip_prefix("+OK ").unwrap().to_owned();
    let b = sim
        .channels()
        .into_iter()
        .find(|c| c.name == "loopback/echo_test-b")
        .unwrap()
        .uuid;
    assert_eq!(header("Unique-ID"), Some(a.as_str()));
    for (name, value) in [
        ("Channel-Name", "loopback/echo_test-a"),
        ("Answer-State", "answered"),
        ("Channel-Call-State", "ACTIVE"),
        ("Call-Direction", "outbound"),
        ("Caller-Direction", "outbound"),
        ("Channel-Caller-ID-Name", "Outbound%20Call"),
        ("Channel-Caller-ID-Number", "echo_test"),
        ("Channel-Orig-Caller-ID-Number", "123"),
        ("Channel-Callee-ID-Number", "123"),
        ("Caller-Caller-ID-Name", "Outbound%20Call"),
        ("Caller-Caller-ID-Number", "echo_test"),
        ("Caller-Callee-ID-Number", "123"),
        ("Caller-ANI", "123"),
        ("variable_direction", "outbound"),
        ("variable_is_outbound", "true"),
        ("variable_origination_caller_id_number", "123"),
        ("variable_originate_early_media", "true"),
        ("variable_originate_endpoint", "loopback"),
        ("variable_other_loopback_leg_uuid", b.as_str()),
        ("variable_loopback_leg", "A"),
        ("variable_endpoint_disposition", "ANSWER"),
        ("variable_channel_cid_flipped", "yes"),
    ] {
        assert_eq!(header(name), Some(value), "{name} in\n{text}");
    }
    // No caller ID name was given: the switch sends no header for one.
    for absent in [
        "Channel-Callee-ID-Name",
        "Caller-Callee-ID-Name",
        "Caller-Orig-Caller-ID-Name",
    ] {
        assert_eq!(header(absent), None, "{absent} in\n{text}");
    }
    drop(io);
    s.api("hupall").await.unwrap();
    sim.wait_for(T, |s| s.channels().is_empty()).await.unwrap();
    s.close().await.unwrap();
}

/// `show channels|calls` with no channels, and their `count` forms, on
/// the exact bytes FreeSWITCH 1.11.3 answers (no header line without rows).
#[tokio::test]
async fn show_with_no_channels_answers_the_switchs_bytes() {
    let sim = Simulator::start(SimulatorConfig::default().in_memory())
        .await
        .unwrap();
    let s = socket(&sim).await;
    for (command, reply) in [
        ("show channels", "\n0 total.\n"),
        ("show calls", "\n0 total.\n"),
        ("show channels count", "\n0 total.\n"),
        ("show calls count", "\n0 total.\n"),
        ("show channels as json", "{\"row_count\": 0}\n"),
        ("show calls as json", "{\"row_count\": 0}\n"),
        (
            "show channels count as json",
            "{\"row_count\":0,\"rows\":[]}",
        ),
    ] {
        let r = s.connection().api_raw(command).await.unwrap();
        assert_eq!(r.text(), reply, "{command}");
    }
    s.close().await.unwrap();
}

/// `show channels count` counts the channels that exist.
#[tokio::test]
async fn show_channels_count_counts_the_channels() {
    let config = SimulatorConfig::default()
        .in_memory()
        .extension(Extension::park("park"));
    let sim = Simulator::start(config).await.unwrap();
    let calls = [
        sim.place_call(CallSpec::new("park")),
        sim.place_call(CallSpec::new("park")),
    ];
    let s = socket(&sim).await;
    let r = s.connection().api_raw("show channels count").await.unwrap();
    assert_eq!(r.text(), "\n2 total.\n");
    for call in &calls {
        s.api(&format!("uuid_kill {}", call.uuid)).await.unwrap();
    }
    sim.wait_for(T, |s| s.channels().is_empty()).await.unwrap();
    let r = s.connection().api_raw("show channels count").await.unwrap();
    assert_eq!(r.text(), "\n0 total.\n");
    s.close().await.unwrap();
}

/// `hupall`: MANAGER_REQUEST unless a cause is given, NORMAL_CLEARING for
/// a cause FreeSWITCH does not know; the reply text and every channel's
/// CHANNEL_HANGUP as on FreeSWITCH 1.11.3.
#[tokio::test]
async fn hupall_causes_and_reply_as_the_switch() {
    let config = SimulatorConfig::default()
        .in_memory()
        .extension(Extension::park("park"));
    let sim = Simulator::start(config).await.unwrap();
    let s = socket(&sim).await;
    for (args, cause) in [
        ("", "MANAGER_REQUEST"),
        (" USER_BUSY", "USER_BUSY"),
        (" normal_clearing", "NORMAL_CLEARING"),
        (" bogus", "NORMAL_CLEARING"),
    ] {
        let calls = [
            sim.place_call(CallSpec::new("park")),
            sim.place_call(CallSpec::new("park")),
        ];
        for call in &calls {
            let uuid = call.uuid.clone();
            sim.wait_event(T, |e| {
                e.is("CHANNEL_PARK") && e.unique_id() == Some(uuid.as_str())
            })
            .await
            .unwrap();
        }
        let r = s
            .connection()
            .api_raw(&format!("hupall{args}"))
            .await
            .unwrap();
        assert_eq!(
            r.text(),
            format!("+OK hangup all channels with cause {cause}\n"),
            "hupall{args}"
        );
        for call in &calls {
            let uuid = call.uuid.clone();
            let hangup = sim
                .wait_event(T, |e| {
                    e.is("CHANNEL_HANGUP") && e.unique_id() == Some(uuid.as_str())
                })
                .await
                .unwrap();
            assert_eq!(hangup.header("Hangup-Cause"), Some(cause), "hupall{args}");
        }
        sim.wait_for(T, |s| s.channels().is_empty()).await.unwrap();
    }
    s.close().await.unwrap();
}

#[tokio::test]
async fn uuid_kill_and_unknown_uuid() {
    let config = SimulatorConfig::default()
        .in_memory()
        .extension(Extension::park("park"));
    let sim = Simulator::start(config).await.unwrap();
    let call = sim.place_call(CallSpec::new("park"));
    sim.wait_event(T, |e| e.is("CHANNEL_PARK")).await.unwrap();
    let s = socket(&sim).await;
    let r = s
        .api(&format!("uuid_kill {} CALL_REJECTED", call.uuid))
        .await
        .unwrap();
    assert_eq!(r.text(), "+OK\n");
    let hc = sim
        .wait_event(T, |e| e.is("CHANNEL_HANGUP_COMPLETE"))
        .await
        .unwrap();
    assert_eq!(hc.variable("hangup_cause_q850"), Some("21"));
    let r = s
        .connection()
        .api_raw("uuid_kill 00000000-0000-0000-0000-000000000000")
        .await
        .unwrap();
    assert_eq!(r.text(), "-ERR No such channel!\n");
    s.close().await.unwrap();
}

#[tokio::test]
async fn scripted_caller_hangs_up() {
    let config = SimulatorConfig::default()
        .in_memory()
        .extension(Extension::park("park"));
    let sim = Simulator::start(config).await.unwrap();
    let calls = sim.place_calls(
        3,
        &CallSpec::new("park").script(CallerScript {
            hangup_after: Some(Duration::from_millis(30)),
            ..CallerScript::default()
        }),
    );
    assert_eq!(calls.len(), 3);
    sim.wait_for(T, |s| {
        s.fired_events()
            .iter()
            .filter(|e| e.is("CHANNEL_DESTROY"))
            .count()
            == 3
    })
    .await
    .unwrap();
    assert!(sim.channels().is_empty());
}

#[tokio::test(start_paused = true)]
async fn first_packet_timeout_is_configurable() {
    let mut config = SimulatorConfig::default().in_memory();
    config.first_packet_timeout = Duration::from_secs(25);
    let sim = Simulator::start(config).await.unwrap();
    let mut io = sim.connect_in_memory();
    let mut buf = Vec::new();
    // Greeting, then after 25 s of (paused) silence the notice and a close.
    io.read_to_end(&mut buf).await.unwrap();
    assert_eq!(
        String::from_utf8(buf).unwrap(),
        "Content-Type: auth/request\n\nContent-Type: text/disconnect-notice\nContent-Length: 67\n\n\
         Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
    );
}

#[tokio::test]
async fn tcp_listener_and_acl() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let addr = sim.local_addr().unwrap();
    let s = CommandSocket::connect(&addr.to_string(), "ClueCon")
        .await
        .unwrap();
    assert_eq!(s.api("echo tcp").await.unwrap().text(), "tcp");
    s.close().await.unwrap();
    // A wrong password: -ERR invalid, notice, close.
    let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
    raw.write_all(b"auth nope\n\n").await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(T, raw.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8(buf).unwrap();
    assert!(text.contains("Reply-Text: -ERR invalid\n\n"));
    assert!(text.ends_with("See you at ClueCon! http://www.cluecon.com/\n"));
}

mod robustness {
    use super::*;
    use proptest::prelude::*;

    static PANICS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    /// Counts every panic in the process, including ones tokio catches in
    /// the simulator's tasks (which would otherwise go unnoticed).
    fn count_panics() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let default = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                PANICS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                default(info);
            }));
        });
    }

    /// Writes `junk` to a fresh in-memory connection (before or after
    /// authenticating), reads whatever comes back until the simulator closes
    /// or goes quiet, then checks it still serves a well-behaved client and
    /// that nothing panicked.
    async fn survive(junk: Vec<u8>, authenticate: bool) {
        count_panics();
        let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
        let mut io = sim.connect_in_memory();
        let mut buf = vec![0u8; 4096];
        if authenticate {
            io.write_all(b"auth ClueCon\n\n").await.unwrap();
        }
        let _ = io.write_all(&junk).await;
        let _ = io.write_all(b"\n\n").await;
        // Drain until the simulator closes the connection or stops talking.
        while let Ok(Ok(n)) =
            tokio::time::timeout(std::time::Duration::from_millis(50), io.read(&mut buf)).await
        {
            if n == 0 {
                break;
            }
        }
        drop(io);
        let socket = socket(&sim).await;
        assert!(socket
            .api("status")
            .await
            .unwrap()
            .text()
            .starts_with("UP "));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

        /// Nothing a client sends can panic the simulator or stop it serving.
        #[test]
        fn arbitrary_client_bytes_never_take_the_simulator_down(
            junk in proptest::collection::vec(any::<u8>(), 0..600),
            authenticate in any::<bool>(),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(survive(junk, authenticate));
        }

        /// Command-shaped junk: real command words with random arguments and
        /// headers, including huge or negative Content-Lengths.
        #[test]
        fn command_shaped_junk_never_takes_the_simulator_down(
            word in prop::sample::select(vec![
                "api", "bgapi", "event", "nixevent", "filter", "filter delete", "sendevent",
                "sendmsg", "myevents", "divert_events", "log", "linger", "getvar", "exit", "auth",
            ]),
            arg in "[ -~]{0,40}",
            header in "[A-Za-z-]{1,12}",
            value in "[ -~]{0,30}",
            length in prop::sample::select(vec!["-1", "99999999", "0", "5", "abc", "16777217"]),
        ) {
            let packet = format!("{word} {arg}\n{header}: {value}\nContent-Length: {length}\n\nhello");
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(survive(packet.into_bytes(), true));
        }
    }
}
