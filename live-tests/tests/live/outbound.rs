//! `#[outbound]` listeners reached by the real switch's `socket` application:
//! an IVR, a hangup from outside, 50 calls at once, a sync socket.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use librevox::apps::Digits;
use librevox::commands::Originate;
use librevox::listener::{serve_outbound, OutboundListener, OutboundSettings};
use librevox::prelude::*;
use librevox::{event, new_uuid, outbound, Error};
use librevox_live_tests::{socket_app, within, Calls, Switch, Watcher, WAIT};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The far end of every call here: answers at once, so the A leg reaches
/// the listener answered, and stays (parked) until hung up.
const FAR_END: &str = "loopback/^^;answer;park/default/inline";

/// An outbound server on a free port.
struct Rig {
    addr: String,
    token: CancellationToken,
    server: JoinHandle<librevox::Result<()>>,
}

impl Rig {
    async fn start<L, F>(switch: &Switch, factory: F) -> Rig
    where
        L: OutboundListener,
        F: Fn() -> L + Send + Sync + 'static,
    {
        let listener = TcpListener::bind((switch.listen_host.as_str(), 0))
            .await
            .expect("a free port for the outbound listener");
        let addr = listener.local_addr().unwrap().to_string();
        let settings = OutboundSettings {
            shutdown_grace: Duration::from_secs(5),
            session_grace: Duration::from_secs(5),
            ..OutboundSettings::new(addr.clone())
        };
        let token = CancellationToken::new();
        let server = tokio::spawn(serve_outbound(listener, factory, settings, token.clone()));
        Rig {
            addr,
            token,
            server,
        }
    }

    /// `originate` of a call with `uuid` whose answered A leg runs
    /// `socket('<this listener> <mode>')`.
    fn originate(&self, uuid: &str, mode: &str) -> Originate {
        Originate::new(FAR_END)
            .var("origination_uuid", uuid)
            .app("socket", socket_app_arg(&self.addr, mode))
    }

    async fn stop(self) {
        self.token.cancel();
        within("the outbound server to stop", WAIT, self.server)
            .await
            .expect("the server did not panic")
            .expect("the server stopped without error");
    }
}

/// The argument of the socket application (what [`socket_app`] wraps).
fn socket_app_arg(addr: &str, mode: &str) -> String {
    let app = socket_app(addr, mode);
    app["socket('".len()..app.len() - "')".len()].to_owned()
}

/// Sends a step to the test; `Drop` of the listener value (once per call,
/// when its session is over) reports "closed".
struct Steps(mpsc::UnboundedSender<String>);

impl Steps {
    fn send(&self, step: impl Into<String>) {
        let _ = self.0.send(step.into());
    }
}

impl Drop for Steps {
    fn drop(&mut self) {
        let _ = self.0.send("closed".to_owned());
    }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<String>, what: &str) -> String {
    within(what, WAIT, rx.recv())
        .await
        .unwrap_or_else(|| panic!("the listener is gone while waiting for {what}"))
}

// ----- the IVR -----

struct Ivr {
    steps: Steps,
    /// Where the bridge goes.
    bridge_to: String,
}

#[outbound]
impl Ivr {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        self.steps.send(format!(
            "connected {} answer-state {:?}",
            call.uuid(),
            call.header("Answer-State")
        ));
        call.answer().await?;
        self.steps.send("answered");
        call.playback("ivr/ivr-welcome_to_freeswitch.wav").await?;
        self.steps.send("played");
        let digit = call
            .play_and_get_digits(
                "ivr/ivr-enter_ext.wav",
                "ivr/ivr-that_was_an_invalid_entry.wav",
                &Digits::new().max(1).tries(1).timeout_ms(15_000),
            )
            .await?;
        self.steps.send(format!("digit {digit:?}"));
        let done = call.bridge(self.bridge_to.as_str()).await?;
        self.steps.send(format!(
            "bridge ended {:?}",
            done.variable("last_bridge_hangup_cause")
                .or(done.variable("bridge_hangup_cause"))
        ));
        call.hangup("NORMAL_CLEARING").await?;
        self.steps.send("hung up");
        Ok(())
    }

    #[event(channel_hangup_complete)]
    async fn done(&self, event: &Event) {
        self.steps.send(format!(
            "hangup complete {}",
            event.header("Hangup-Cause").unwrap_or("-")
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ivr_answers_plays_collects_a_digit_from_the_other_leg_bridges_and_hangs_up() {
    let switch = Switch::from_env();
    let socket = switch.connect().await;
    let calls = Calls::new(&switch);
    let uuid = calls.add(new_uuid());
    let bridged = calls.add(new_uuid());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let tx = Arc::new(Mutex::new(Some(tx)));
    let bridge_to =
        format!("{{origination_uuid={bridged}}}loopback/^^;answer;sleep:300;hangup/default/inline");
    let rig = Rig::start(&switch, move || Ivr {
        steps: Steps(tx.lock().unwrap().take().expect("one call only")),
        bridge_to: bridge_to.clone(),
    })
    .await;
    let mut watcher = Watcher::new(
        &switch,
        &["CHANNEL_EXECUTE", "CHANNEL_DESTROY"],
        &[("Unique-ID", &uuid), ("Unique-ID", &bridged)],
    )
    .await;
    let job = within(
        "bgapi originate",
        WAIT,
        socket.bgapi(&rig.originate(&uuid, "async full").to_string()),
    )
    .await
    .unwrap();
    assert_eq!(
        next(&mut rx, "the session").await,
        format!("connected {uuid} answer-state Some(\"answered\")"),
        "a call originated with &socket(...) arrives answered"
    );
    assert_eq!(next(&mut rx, "answer").await, "answered");
    assert_eq!(next(&mut rx, "playback").await, "played");
    // The digit comes from the far end: loopback's B leg sends it.
    let execute = watcher
        .wait("play_and_get_digits to start", |e| {
            e.is("CHANNEL_EXECUTE") && e.application() == Some("play_and_get_digits")
        })
        .await;
    let b_leg = execute
        .variable("other_loopback_leg_uuid")
        .expect("the A leg names its loopback partner")
        .to_owned();
    calls.add(b_leg.clone());
    let sent = within(
        "uuid_send_dtmf",
        WAIT,
        socket.api(&format!("uuid_send_dtmf {b_leg} 7")),
    )
    .await
    .unwrap();
    assert_eq!(sent.text(), format!("+OK {b_leg} sent DTMF 7.\n"));
    assert_eq!(next(&mut rx, "the digit").await, "digit Some(\"7\")");
    assert_eq!(
        next(&mut rx, "the bridge to end").await,
        "bridge ended Some(\"NORMAL_CLEARING\")"
    );
    watcher.destroyed(&bridged).await;
    // The hangup application's completion and the CHANNEL_HANGUP_COMPLETE
    // hook race (the hook runs beside session_initiated): either order.
    let mut ends = [
        next(&mut rx, "hangup").await,
        next(&mut rx, "CHANNEL_HANGUP_COMPLETE").await,
    ];
    ends.sort();
    assert_eq!(ends, ["hangup complete NORMAL_CLEARING", "hung up"]);
    assert_eq!(next(&mut rx, "the session to close").await, "closed");
    watcher.destroyed(&uuid).await;
    // The originate job ended with the call's UUID.
    let output = within("the originate job", WAIT, job.output())
        .await
        .unwrap();
    assert_eq!(output.trim_end(), format!("+OK {uuid}"));
    rig.stop().await;
    calls.cleanup(&socket).await;
    socket.close().await.unwrap();
}

// ----- a hangup from outside during a long playback -----

struct LongPlay {
    steps: Steps,
}

#[outbound]
impl LongPlay {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        self.steps.send("playing");
        let started = Instant::now();
        let result = call.playback("silence_stream://60000").await;
        let took = started.elapsed();
        match &result {
            Err(Error::Hangup { uuid, cause }) => self.steps.send(format!(
                "hangup {} {:?} within-5s {}",
                uuid == call.uuid(),
                cause.as_ref().map(|c| c.to_string()),
                took < Duration::from_secs(5)
            )),
            other => self.steps.send(format!("unexpected {other:?}")),
        }
        result.map(|_| ())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uuid_kill_during_a_long_playback_is_error_hangup_at_once() {
    let switch = Switch::from_env();
    let socket = switch.connect().await;
    let calls = Calls::new(&switch);
    let uuid = calls.add(new_uuid());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let tx = Arc::new(Mutex::new(Some(tx)));
    let rig = Rig::start(&switch, move || LongPlay {
        steps: Steps(tx.lock().unwrap().take().expect("one call only")),
    })
    .await;
    let mut watcher = Watcher::new(
        &switch,
        &["CHANNEL_EXECUTE", "CHANNEL_DESTROY"],
        &[("Unique-ID", &uuid)],
    )
    .await;
    within(
        "bgapi originate",
        WAIT,
        socket.bgapi(&rig.originate(&uuid, "async full").to_string()),
    )
    .await
    .unwrap();
    assert_eq!(next(&mut rx, "the session").await, "playing");
    watcher
        .wait("the playback to start", |e| {
            e.is("CHANNEL_EXECUTE") && e.application() == Some("playback")
        })
        .await;
    let killed = within("uuid_kill", WAIT, socket.uuid_kill(&uuid, None))
        .await
        .unwrap();
    assert_eq!(killed, "+OK\n");
    assert_eq!(
        next(&mut rx, "the playback's result").await,
        "hangup true Some(\"NORMAL_CLEARING\") within-5s true"
    );
    assert_eq!(next(&mut rx, "the session to close").await, "closed");
    watcher.destroyed(&uuid).await;
    rig.stop().await;
    calls.cleanup(&socket).await;
    socket.close().await.unwrap();
}

// ----- many calls through one listener -----

struct Short {
    steps: Steps,
}

#[outbound]
impl Short {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        call.answer().await?;
        call.playback("tone_stream://%(200,0,440)").await?;
        self.steps.send(format!("done {}", call.uuid()));
        call.hangup("NORMAL_CLEARING").await?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_calls_through_one_listener() {
    const N: usize = 50;
    let switch = Switch::from_env();
    let socket = switch.connect().await;
    let calls = Calls::new(&switch);
    let uuids: Vec<String> = (0..N).map(|_| calls.add(new_uuid())).collect();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let rig = Rig::start(&switch, move || Short {
        steps: Steps(tx.clone()),
    })
    .await;
    let mut jobs = Vec::new();
    for uuid in &uuids {
        let cmd = rig.originate(uuid, "async full").to_string();
        jobs.push(
            within("bgapi originate", WAIT, socket.bgapi(&cmd))
                .await
                .unwrap(),
        );
    }
    // Every call is served once and its session closes.
    let mut done: BTreeMap<String, usize> = BTreeMap::new();
    let mut closed = 0;
    within("50 calls to finish", Duration::from_secs(90), async {
        while closed < N || done.len() < N {
            let step = rx.recv().await.expect("the listener runs");
            match step.strip_prefix("done ") {
                Some(uuid) => *done.entry(uuid.to_owned()).or_default() += 1,
                None => {
                    assert_eq!(step, "closed");
                    closed += 1;
                }
            }
        }
    })
    .await;
    let expected: BTreeMap<String, usize> = uuids.iter().map(|u| (u.clone(), 1)).collect();
    assert_eq!(done, expected);
    for job in jobs {
        let output = within("an originate job", WAIT, job.output())
            .await
            .unwrap();
        assert!(output.starts_with("+OK "), "{output}");
    }
    rig.stop().await;
    // No session beyond the fifty.
    assert!(rx.try_recv().is_err());
    calls.cleanup(&socket).await;
    socket.close().await.unwrap();
}

// ----- a sync socket -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_socket_runs_applications_in_order_and_closes() {
    let switch = Switch::from_env();
    let socket = switch.connect().await;
    let calls = Calls::new(&switch);
    let uuid = calls.add(new_uuid());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let tx = Arc::new(Mutex::new(Some(tx)));
    let rig = Rig::start(&switch, move || Short {
        steps: Steps(tx.lock().unwrap().take().expect("one call only")),
    })
    .await;
    let mut watcher = Watcher::new(&switch, &["CHANNEL_DESTROY"], &[("Unique-ID", &uuid)]).await;
    within(
        "bgapi originate",
        WAIT,
        socket.bgapi(&rig.originate(&uuid, "full").to_string()),
    )
    .await
    .unwrap();
    assert_eq!(next(&mut rx, "the call").await, format!("done {uuid}"));
    assert_eq!(next(&mut rx, "the session to close").await, "closed");
    let destroyed = watcher.destroyed(&uuid).await;
    assert_eq!(destroyed.header("Hangup-Cause"), Some("NORMAL_CLEARING"));
    rig.stop().await;
    calls.cleanup(&socket).await;
    socket.close().await.unwrap();
}
