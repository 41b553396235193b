//! Inbound and outbound listeners against a scripted FreeSWITCH peer that
//! checks the exact bytes of each handshake.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use librevox::listener::{
    run_inbound, run_outbound_session, Backoff, Inbound, InboundListener, InboundSettings,
    OutboundListener, OutboundOptions, OutboundSettings, Session, Subscription,
};
use librevox::{Error, Event, EventFormat};
use support::peer::{api, connect_reply, event, reply, Peer, GOODBYE};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

const UUID: &str = "abb8cff4-588a-4fed-b53c-81fd8b81441b";

// ----- inbound -----

#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<String>>,
    completed: Mutex<u32>,
    reconnects: Mutex<u32>,
    tx: Mutex<Option<mpsc::UnboundedSender<String>>>,
}

impl Recorder {
    fn note(&self, what: String) {
        self.seen.lock().unwrap().push(what.clone());
        if let Some(tx) = &*self.tx.lock().unwrap() {
            let _ = tx.send(what);
        }
    }
}

struct Monitor(Arc<Recorder>);

impl InboundListener for Monitor {
    fn subscription(&self) -> Subscription {
        Subscription {
            events: vec![
                "CUSTOM conference::maintenance".into(),
                "CHANNEL_EXECUTE".into(),
            ],
            format: EventFormat::Plain,
            filters: vec![
                ("Caller-Context".into(), "default".into()),
                ("Caller-Context".into(), "example".into()),
                ("Caller-Privacy-Hide-Name".into(), "no".into()),
            ],
        }
    }

    async fn connection_completed(&self, _ctx: &Inbound) {
        *self.0.completed.lock().unwrap() += 1;
        self.0.note("completed".into());
    }

    async fn reconnected(&self, _ctx: &Inbound) {
        *self.0.reconnects.lock().unwrap() += 1;
        self.0.note("reconnected".into());
    }

    async fn handle_event(&self, ctx: &Inbound, event: &Event) {
        if event.header("X-Panic").is_some() {
            panic!("a hook that panics");
        }
        if event.header("X-Api").is_some() {
            // A hook may call api on its own connection.
            let r = ctx.api("status").await.map(|r| r.text().into_owned());
            self.0
                .note(format!("api:{}", r.unwrap_or_else(|e| e.to_string())));
            return;
        }
        self.0.note(format!(
            "{}:{}",
            event.name().unwrap_or(""),
            event.header("X-I").unwrap_or("")
        ));
    }
}

async fn fs_accept(listener: &TcpListener) -> Peer<TcpStream> {
    let (s, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .expect("the listener did not connect")
        .unwrap();
    Peer::new(s)
}

/// Plays FreeSWITCH's side of the inbound handshake, checking every byte.
async fn inbound_handshake(peer: &mut Peer<TcpStream>) {
    peer.send("Content-Type: auth/request\n\n").await;
    assert_eq!(peer.packet().await.raw.as_ref(), b"auth ClueCon\n\n");
    peer.send(reply("+OK accepted")).await;
    for expected in [
        &b"filter Caller-Context default\n\n"[..],
        b"filter Caller-Context example\n\n",
        b"filter Caller-Privacy-Hide-Name no\n\n",
    ] {
        let p = peer.packet().await;
        assert_eq!(p.raw.as_ref(), expected);
        let (h, v) = std::str::from_utf8(&expected[7..expected.len() - 2])
            .unwrap()
            .split_once(' ')
            .unwrap();
        peer.send(reply(&format!("+OK filter added. [{h}]=[{v}]")))
            .await;
    }
    assert_eq!(
        peer.packet().await.raw.as_ref(),
        b"event plain CHANNEL_EXECUTE CUSTOM conference::maintenance\n\n"
    );
    peer.send(reply("+OK event listener enabled plain")).await;
}

fn fast_settings(addr: std::net::SocketAddr) -> InboundSettings {
    InboundSettings {
        backoff: Backoff::new(Duration::from_millis(10), Duration::from_millis(300)),
        ..InboundSettings::new(addr.to_string())
    }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("nothing recorded")
        .unwrap()
}

#[tokio::test]
async fn inbound_handshake_bytes_events_hooks_and_reconnect() {
    let fs = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rec = Arc::new(Recorder::default());
    let (tx, mut rx) = mpsc::unbounded_channel();
    *rec.tx.lock().unwrap() = Some(tx);
    let token = CancellationToken::new();
    let task = tokio::spawn(run_inbound(
        Arc::new(Monitor(rec.clone())),
        fast_settings(fs.local_addr().unwrap()),
        token.clone(),
    ));

    let mut peer = fs_accept(&fs).await;
    inbound_handshake(&mut peer).await;
    assert_eq!(next(&mut rx).await, "completed");
    for i in 0..3 {
        peer.send(event(
            &[
                ("Event-Name", "CHANNEL_EXECUTE"),
                ("Unique-ID", "a"),
                ("X-I", &i.to_string()),
            ],
            None,
        ))
        .await;
    }
    for i in 0..3 {
        assert_eq!(next(&mut rx).await, format!("CHANNEL_EXECUTE:{i}"));
    }
    // A panicking hook is logged; the next event is still handled.
    peer.send(event(
        &[
            ("Event-Name", "CHANNEL_EXECUTE"),
            ("Unique-ID", "a"),
            ("X-Panic", "1"),
        ],
        None,
    ))
    .await;
    peer.send(event(
        &[
            ("Event-Name", "CHANNEL_EXECUTE"),
            ("Unique-ID", "a"),
            ("X-I", "after-panic"),
        ],
        None,
    ))
    .await;
    assert_eq!(next(&mut rx).await, "CHANNEL_EXECUTE:after-panic");
    // A hook calling api gets its reply through the same connection.
    peer.send(event(
        &[
            ("Event-Name", "CHANNEL_EXECUTE"),
            ("Unique-ID", "b"),
            ("X-Api", "1"),
        ],
        None,
    ))
    .await;
    assert_eq!(peer.packet().await.command, "api status");
    peer.send(api("UP")).await;
    assert_eq!(next(&mut rx).await, "api:UP");

    // FreeSWITCH restarts: the listener reconnects and replays everything.
    drop(peer);
    let mut peer = fs_accept(&fs).await;
    inbound_handshake(&mut peer).await;
    assert_eq!(next(&mut rx).await, "reconnected");
    assert_eq!(next(&mut rx).await, "completed");
    assert_eq!(*rec.reconnects.lock().unwrap(), 1);

    // Shutdown: the listener says exit.
    token.cancel();
    assert_eq!(peer.packet().await.command, "exit");
    peer.send(reply("+OK bye")).await;
    peer.send(GOODBYE).await;
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_refused_filter_stops_the_listener_with_the_error() {
    let fs = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rec = Arc::new(Recorder::default());
    let token = CancellationToken::new();
    let task = tokio::spawn(run_inbound(
        Arc::new(Monitor(rec.clone())),
        fast_settings(fs.local_addr().unwrap()),
        token.clone(),
    ));
    let mut peer = fs_accept(&fs).await;
    peer.send("Content-Type: auth/request\n\n").await;
    peer.packet().await;
    peer.send(reply("+OK accepted")).await;
    let filter = peer.packet().await;
    peer.send(reply("-ERR invalid syntax")).await;
    // The same filter would be refused again: no retry (13.3).
    let err = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the listener stops")
        .unwrap()
        .expect_err("a refused filter is an error");
    match err {
        librevox::Error::CommandFailed { command, reply } => {
            assert_eq!(format!("{command}\n\n").as_bytes(), filter.raw.as_ref());
            assert_eq!(reply, "-ERR invalid syntax");
        }
        other => panic!("{other:?}"),
    }
    // connection_completed never ran; the listener ended (no retry).
    assert_eq!(*rec.completed.lock().unwrap(), 0);
    drop(peer);
}

#[tokio::test]
async fn a_wrong_password_is_not_retried_in_a_tight_loop() {
    let fs = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let token = CancellationToken::new();
    let task = tokio::spawn(run_inbound(
        Arc::new(Monitor(Arc::new(Recorder::default()))),
        fast_settings(fs.local_addr().unwrap()),
        token.clone(),
    ));
    let mut attempts = Vec::new();
    for _ in 0..2 {
        let mut peer = fs_accept(&fs).await;
        attempts.push(Instant::now());
        peer.send("Content-Type: auth/request\n\n").await;
        peer.packet().await;
        peer.send(reply("-ERR invalid")).await;
        peer.send(GOODBYE).await;
    }
    // Backoff.max is 300 ms: the second attempt waited at least that long,
    // although the initial backoff is 10 ms.
    let gap = attempts[1] - attempts[0];
    assert!(gap >= Duration::from_millis(300), "retried after {gap:?}");
    token.cancel();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[test]
fn backoff_grows_exponentially_with_jitter_and_a_cap() {
    let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
    for attempt in 0..10u32 {
        let base = (Duration::from_millis(100) * 2u32.pow(attempt)).min(Duration::from_secs(2));
        for _ in 0..20 {
            let d = b.delay(attempt);
            assert!(
                d >= base / 2 && d <= base,
                "attempt {attempt}: {d:?} not in [{:?}, {base:?}]",
                base / 2
            );
        }
    }
}

// ----- outbound -----

struct Ivr {
    log: mpsc::UnboundedSender<String>,
    hook_gate: Option<Arc<Notify>>,
}

impl OutboundListener for Ivr {
    fn options(&self) -> OutboundOptions {
        OutboundOptions::default()
    }

    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        let _ = self.log.send(format!("initiated {}", call.uuid()));
        assert_eq!(
            call.variable("current_application_data").as_deref(),
            Some("127.0.0.1:8084 async full")
        );
        let answered = call.application("answer", "").await?;
        let _ = self
            .log
            .send(format!("answered {}", answered.application().unwrap_or("")));
        let read = call
            .application("read", "1 4 prompt.wav ext_digits 5000 #")
            .await?;
        let _ = self
            .log
            .send(format!("digits {:?}", read.variable("ext_digits")));
        assert_eq!(
            call.variable("ext_digits").as_deref(),
            Some("1234"),
            "channel data refreshed"
        );
        let r = call.application("playback", "long.wav").await;
        let _ = self.log.send(format!(
            "playback {}",
            match r {
                Err(Error::Hangup { .. }) => "hangup".to_owned(),
                other => format!("{other:?}"),
            }
        ));
        Ok(())
    }

    async fn handle_event(&self, _call: &Session, event: &Event) {
        if event.name() == Some("CHANNEL_HANGUP") {
            if let Some(gate) = &self.hook_gate {
                gate.notified().await;
            }
            let _ = self.log.send("hangup hook done".into());
        }
    }
}

fn exec_complete(app_uuid: &str, app: &str, extra: &[(&str, &str)]) -> String {
    let mut h = vec![
        ("Event-Name", "CHANNEL_EXECUTE_COMPLETE"),
        ("Unique-ID", UUID),
        (
            "variable_current_application_data",
            "127.0.0.1%3A8084%20async%20full",
        ),
    ];
    h.extend_from_slice(extra);
    h.push(("Application", app));
    h.push(("Application-Response", "_none_"));
    h.push(("Application-UUID", app_uuid));
    event(&h, None)
}

#[tokio::test]
async fn outbound_session_handshake_apps_hangup_and_latch() {
    let (client, server) = tokio::io::duplex(1 << 16);
    let (log_tx, mut log) = mpsc::unbounded_channel();
    let gate = Arc::new(Notify::new());
    let handler = Ivr {
        log: log_tx,
        hook_gate: Some(gate.clone()),
    };
    let session = tokio::spawn(async move {
        run_outbound_session(client, handler, &OutboundSettings::default()).await
    });
    let mut peer = Peer::new(server);
    // connect → myevents → linger, each waiting for its reply.
    assert_eq!(peer.packet().await.raw.as_ref(), b"connect\n\n");
    peer.send(connect_reply()).await;
    assert_eq!(peer.packet().await.raw.as_ref(), b"myevents\n\n");
    peer.send(reply("+OK Events Enabled")).await;
    assert_eq!(peer.packet().await.raw.as_ref(), b"linger\n\n");
    // Nothing else is sent before the linger reply arrives.
    assert!(
        tokio::time::timeout(Duration::from_millis(100), peer.packet())
            .await
            .is_err(),
        "session_initiated started before the linger reply"
    );
    peer.send(reply("+OK will linger")).await;
    assert_eq!(next(&mut log).await, format!("initiated {UUID}"));

    // answer: ack, then the completion some time later.
    let p = peer.packet().await;
    assert_eq!(p.command, "sendmsg");
    assert_eq!(p.header("execute-app-name"), Some("answer"));
    assert_eq!(p.header("event-lock"), Some("true"));
    let answer_id = p.header("Event-UUID").unwrap().to_owned();
    peer.send(reply("+OK")).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(50), log.recv())
            .await
            .is_err(),
        "answer returned before its completion"
    );
    peer.send(exec_complete(&answer_id, "answer", &[])).await;
    assert_eq!(next(&mut log).await, "answered answer");

    // read returns the digits from the completion's variables.
    let p = peer.packet().await;
    assert_eq!(
        p.header("execute-app-arg"),
        Some("1 4 prompt.wav ext_digits 5000 #")
    );
    let read_id = p.header("Event-UUID").unwrap().to_owned();
    peer.send(reply("+OK")).await;
    peer.send(exec_complete(
        &read_id,
        "read",
        &[("variable_ext_digits", "1234")],
    ))
    .await;
    assert_eq!(next(&mut log).await, "digits Some(\"1234\")");

    // playback; the caller hangs up in the middle.
    let p = peer.packet().await;
    assert_eq!(p.header("execute-app-name"), Some("playback"));
    peer.send(reply("+OK")).await;
    peer.send(event(
        &[
            ("Event-Name", "CHANNEL_HANGUP"),
            ("Unique-ID", UUID),
            ("Hangup-Cause", "NORMAL_CLEARING"),
        ],
        None,
    ))
    .await;
    peer.send("Content-Type: text/disconnect-notice\nControlled-Session-UUID: abb8cff4-588a-4fed-b53c-81fd8b81441b\nContent-Disposition: linger\nChannel-Name: loopback/socket_test-b\nLinger-Time: -1\nContent-Length: 0\n\n").await;
    peer.send(event(
        &[
            ("Event-Name", "CHANNEL_HANGUP_COMPLETE"),
            ("Unique-ID", UUID),
            ("Hangup-Cause", "NORMAL_CLEARING"),
        ],
        None,
    ))
    .await;
    assert_eq!(next(&mut log).await, "playback hangup");
    // Both latch conditions are met, but the hangup hook is still running:
    // the socket stays open until it finishes.
    assert!(
        tokio::time::timeout(Duration::from_millis(100), peer.packet())
            .await
            .is_err(),
        "closed before the hooks finished"
    );
    gate.notify_one();
    assert_eq!(next(&mut log).await, "hangup hook done");
    assert_eq!(peer.packet().await.command, "exit");
    peer.send(reply("+OK bye")).await;
    peer.send("Content-Type: text/disconnect-notice\nControlled-Session-UUID: abb8cff4-588a-4fed-b53c-81fd8b81441b\nContent-Disposition: disconnect\nContent-Length: 67\n\nDisconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n").await;
    drop(peer);
    // A hangup in the middle of an application is a normal end.
    tokio::time::timeout(Duration::from_secs(10), session)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

struct Concurrent {
    results: mpsc::UnboundedSender<String>,
}

impl OutboundListener for Concurrent {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        let done = call.application("playback", "from-session.wav").await?;
        let _ = self.results.send(format!(
            "session got {}",
            done.application_data().unwrap_or("")
        ));
        Ok(())
    }

    async fn handle_event(&self, call: &Session, event: &Event) {
        if event.name() == Some("CHANNEL_ANSWER") {
            let done = call.application("playback", "from-hook.wav").await.unwrap();
            let _ = self.results.send(format!(
                "hook got {}",
                done.application_data().unwrap_or("")
            ));
        }
    }
}

#[tokio::test]
async fn concurrent_applications_from_a_hook_and_the_session_get_their_own_completions() {
    let (client, server) = tokio::io::duplex(1 << 16);
    let (tx, mut results) = mpsc::unbounded_channel();
    let session = tokio::spawn(async move {
        run_outbound_session(
            client,
            Concurrent { results: tx },
            &OutboundSettings::default(),
        )
        .await
    });
    let mut peer = Peer::new(server);
    peer.outbound_handshake().await;
    let p1 = peer.packet().await;
    peer.send(reply("+OK")).await;
    peer.send(event(
        &[("Event-Name", "CHANNEL_ANSWER"), ("Unique-ID", UUID)],
        None,
    ))
    .await;
    let p2 = peer.packet().await;
    peer.send(reply("+OK")).await;
    let mut by_arg = std::collections::HashMap::new();
    for p in [&p1, &p2] {
        by_arg.insert(
            p.header("execute-app-arg").unwrap().to_owned(),
            p.header("Event-UUID").unwrap().to_owned(),
        );
    }
    // Complete the hook's playback first, then the session's.
    for arg in ["from-hook.wav", "from-session.wav"] {
        peer.send(event(
            &[
                ("Event-Name", "CHANNEL_EXECUTE_COMPLETE"),
                ("Unique-ID", UUID),
                ("Application", "playback"),
                ("Application-Data", arg),
                ("Application-UUID", &by_arg[arg]),
            ],
            None,
        ))
        .await;
    }
    let mut got = vec![next(&mut results).await, next(&mut results).await];
    got.sort();
    assert_eq!(
        got,
        ["hook got from-hook.wav", "session got from-session.wav"]
    );
    // End the call: HANGUP_COMPLETE first, then the notice (the other order).
    peer.send(event(
        &[
            ("Event-Name", "CHANNEL_HANGUP_COMPLETE"),
            ("Unique-ID", UUID),
        ],
        None,
    ))
    .await;
    peer.send("Content-Type: text/disconnect-notice\nControlled-Session-UUID: x\nContent-Disposition: linger\nLinger-Time: -1\nContent-Length: 0\n\n").await;
    assert_eq!(peer.packet().await.command, "exit");
    drop(peer);
    session.await.unwrap().unwrap();
}

#[tokio::test]
async fn an_outbound_server_keeps_serving_after_a_failed_session_and_shuts_down_gracefully() {
    use librevox::listener::serve_outbound;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let token = CancellationToken::new();
    let (tx, mut log) = mpsc::unbounded_channel();
    let server = tokio::spawn(serve_outbound(
        listener,
        move || Ivr {
            log: tx.clone(),
            hook_gate: None,
        },
        OutboundSettings {
            shutdown_grace: Duration::from_secs(5),
            ..OutboundSettings::default()
        },
        token.clone(),
    ));
    // A broken "FreeSWITCH": answers connect with garbage.
    let mut bad = Peer::new(TcpStream::connect(addr).await.unwrap());
    assert_eq!(bad.packet().await.command, "connect");
    bad.send("Content-Type: api/response\nContent-Length: -4\n\n")
        .await;
    assert!(bad.until_closed().await.is_empty());
    // The next call is served normally; shutdown while it is in progress.
    let mut peer = Peer::new(TcpStream::connect(addr).await.unwrap());
    peer.outbound_handshake().await;
    assert!(next(&mut log).await.starts_with("initiated"));
    let answer = peer.packet().await;
    token.cancel();
    // No new calls are accepted...
    tokio::time::timeout(Duration::from_secs(5), async {
        while TcpStream::connect(addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the server still accepts after shutdown");
    // ...but the running call goes on to its end.
    peer.send(reply("+OK")).await;
    peer.send(exec_complete(
        answer.header("Event-UUID").unwrap(),
        "answer",
        &[],
    ))
    .await;
    assert_eq!(next(&mut log).await, "answered answer");
    let read = peer.packet().await;
    peer.send(reply("+OK")).await;
    peer.send(exec_complete(
        read.header("Event-UUID").unwrap(),
        "read",
        &[("variable_ext_digits", "1234")],
    ))
    .await;
    next(&mut log).await;
    peer.packet().await;
    peer.send(GOODBYE).await;
    drop(peer);
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
