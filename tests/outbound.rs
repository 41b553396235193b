//! Outbound listeners written with `#[outbound]`, served by
//! `serve_outbound`, dialed by the simulator's `socket` application.

use std::sync::Arc;
use std::time::{Duration, Instant};

use librevox::listener::{serve_outbound, OutboundListener, OutboundSettings, Session};
use librevox::simulator::{
    CallHandle, CallSpec, CallerScript, Order, Simulator, SimulatorConfig, SyncHangupOrder,
};
use librevox::{event, outbound, Error, Event, HangupCause, SessionEnd, SessionOutcome, Shutdown};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tracing::Level;

use crate::support::*;

/// An outbound server on a fresh port, and a simulator whose extension
/// `ivr` hands calls to it.
pub struct Rig {
    pub sim: Simulator,
    pub token: Shutdown,
    pub server: JoinHandle<librevox::Result<()>>,
}

impl Rig {
    pub async fn start<L, F>(config: SimulatorConfig, factory: F) -> Rig
    where
        L: OutboundListener,
        F: Fn() -> L + Send + Sync + 'static,
    {
        Rig::start_with(config, |_| {}, factory).await
    }

    /// [`Rig::start`], with `settings` changing the server's settings.
    pub async fn start_with<L, F>(
        mut config: SimulatorConfig,
        settings: impl FnOnce(&mut OutboundSettings),
        factory: F,
    ) -> Rig
    where
        L: OutboundListener,
        F: Fn() -> L + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        // `ivr` hands calls over on an async socket, `sync` on a sync one.
        config = config.extension(socket_extension("ivr", port)).extension(
            librevox::simulator::Extension::socket("sync", &format!("127.0.0.1:{port} full")),
        );
        let sim = simulator(config).await;
        let token = Shutdown::new();
        let mut server_settings = OutboundSettings {
            shutdown_grace: Duration::from_secs(5),
            session_grace: Duration::from_secs(5),
            ..OutboundSettings::new(format!("127.0.0.1:{port}"))
        };
        settings(&mut server_settings);
        let settings = server_settings;
        let server = tokio::spawn(serve_outbound(listener, factory, settings, token.clone()));
        Rig { sim, token, server }
    }

    /// Waits until channel `uuid` is destroyed: its socket was released.
    pub async fn wait_destroyed(&self, uuid: &str) -> Event {
        self.sim
            .wait_event(T, |e| {
                e.is("CHANNEL_DESTROY") && e.unique_id() == Some(uuid)
            })
            .await
            .expect("the channel was destroyed")
    }

    /// Stops the server and waits for it.
    pub async fn stop(self) {
        self.token.trigger();
        within("the outbound server to stop", self.server)
            .await
            .expect("the server task did not panic")
            .expect("the server stopped without error");
    }
}

/// The exact bytes `Session::application` sends for `app`/`arg` with
/// event-lock and this `Event-UUID`.
fn execute_packet(app: &str, arg: &str, event_lock: bool, uuid: &str) -> String {
    let mut p = format!("sendmsg\ncall-command: execute\nexecute-app-name: {app}\n");
    if !arg.is_empty() {
        p.push_str(&format!("execute-app-arg: {arg}\n"));
    }
    if event_lock {
        p.push_str("event-lock: true\n");
    }
    p.push_str(&format!("Event-UUID: {uuid}\n\n"));
    p
}

/// The `Event-UUID` of a sendmsg packet.
fn event_uuid_of(packet: &str) -> String {
    packet
        .lines()
        .find_map(|l| l.strip_prefix("Event-UUID: "))
        .expect("an Event-UUID header")
        .to_owned()
}

// ----- handshake -----

struct Greeter {
    sim: Simulator,
    seen: mpsc::UnboundedSender<String>,
}

#[outbound]
impl Greeter {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        // What FreeSWITCH had received and sent when this started.
        let rec = outbound_record(&self.sim, call.uuid()).expect("the call's socket");
        for p in texts(&rec.received) {
            let _ = self.seen.send(format!("received {p:?}"));
        }
        let sent = texts(&rec.sent);
        let _ = self.seen.send(format!(
            "replies {:?}",
            sent.iter()
                .filter_map(|f| f.lines().find_map(|l| l.strip_prefix("Reply-Text: ")))
                .collect::<Vec<_>>()
        ));
        let _ = self.seen.send(format!(
            "caller {:?} greeting {:?}",
            call.header("Caller-Caller-ID-Number"),
            call.variable("greeting")
        ));
        call.application("answer", "").await?;
        let _ = self.seen.send("answered".to_owned());
        Ok(())
    }

    async fn on_event(&self, event: &Event) {
        if event.is("CHANNEL_HANGUP_COMPLETE") {
            let _ = self.seen.send("hangup complete".to_owned());
        }
    }
}

/// A rig whose calls run `Greeter`, and one call from +4512345678 with a
/// `greeting` variable.
async fn greeter_call(seed: u64) -> (Rig, Rx<String>, CallHandle) {
    greeter_call_in(config(seed)).await
}

/// [`greeter_call`] on a simulator configured by `cfg`.
async fn greeter_call_in(cfg: SimulatorConfig) -> (Rig, Rx<String>, CallHandle) {
    let (seen, rx) = recorder();
    let sim_slot: Arc<std::sync::OnceLock<Simulator>> = Arc::default();
    let slot = sim_slot.clone();
    let rig = Rig::start(cfg, move || Greeter {
        sim: slot.get().expect("the simulator is set").clone(),
        seen: seen.clone(),
    })
    .await;
    sim_slot.set(rig.sim.clone()).unwrap();
    let call = rig.sim.place_call(
        CallSpec::new("ivr")
            .caller("+4512345678")
            .variable("greeting", "hello world: 100%"),
    );
    (rig, rx, call)
}

#[tokio::test]
async fn handshake_is_connect_myevents_linger_and_session_starts_on_the_linger_reply() {
    let (rig, mut rx, call) = greeter_call(20).await;
    assert_eq!(rx.next().await, r#"received "connect\n\n""#);
    assert_eq!(rx.next().await, r#"received "myevents\n\n""#);
    assert_eq!(rx.next().await, r#"received "linger\n\n""#);
    // session_initiated runs only once the linger reply is out.
    let replies = rx.next().await;
    assert!(
        replies.ends_with(r#"["%2BOK%0A", "+OK Events Enabled", "+OK will linger"]"#),
        "{replies}"
    );
    rig.sim.hangup(&call.uuid, "NORMAL_CLEARING");
    rig.wait_destroyed(&call.uuid).await;
    rig.stop().await;
}

/// The seeds the order-sensitive tests also run under ([`Order::Seeded`]).
const ORDER_SEEDS: [u64; 6] = [1, 2, 3, 4, 5, 6];

/// `config(seed)` in the order mode seeded with `seed` too.
fn seeded_config(seed: u64) -> SimulatorConfig {
    SimulatorConfig {
        order: Order::Seeded(seed),
        ..config(seed)
    }
}

#[tokio::test]
async fn the_handshake_is_the_same_whenever_the_channel_parks() {
    let mut delays = Vec::new();
    for seed in ORDER_SEEDS {
        let cfg = seeded_config(seed);
        let orders = cfg.clone();
        let (rig, mut rx, call) = greeter_call_in(cfg).await;
        delays.push(orders.call_order(&call.uuid).park_delay);
        for sent in ["connect", "myevents", "linger"] {
            assert_eq!(
                rx.next().await,
                format!("received \"{sent}\\n\\n\""),
                "seed {seed}"
            );
        }
        let replies = rx.next().await;
        assert!(
            replies.ends_with(r#"["%2BOK%0A", "+OK Events Enabled", "+OK will linger"]"#),
            "seed {seed}: {replies}"
        );
        assert_eq!(
            rx.until(|m| m == "answered").await,
            "answered",
            "seed {seed}"
        );
        rig.sim.hangup(&call.uuid, "NORMAL_CLEARING");
        rig.wait_destroyed(&call.uuid).await;
        rig.stop().await;
    }
    delays.sort();
    delays.dedup();
    assert!(
        delays.len() > 1,
        "the seeds drew one park delay: {delays:?}"
    );
}

#[tokio::test]
async fn session_initiated_sees_the_channel_data_of_the_connect_reply_decoded() {
    let (rig, mut rx, call) = greeter_call(21).await;
    let caller = rx.until(|m| m.starts_with("caller ")).await;
    assert_eq!(
        caller,
        r#"caller Some("+4512345678") greeting Some("hello world: 100%")"#
    );
    rig.sim.hangup(&call.uuid, "NORMAL_CLEARING");
    rig.wait_destroyed(&call.uuid).await;
    rig.stop().await;
}

#[tokio::test]
async fn a_session_stays_up_until_the_hangup_then_closes_itself_with_exit() {
    let (logs, _guard) = Logs::capture();
    let (rig, mut rx, call) = greeter_call(22).await;
    assert_eq!(rx.until(|m| m == "answered").await, "answered");
    // The call stays up until the caller hangs up.
    assert!(rig.sim.channel(&call.uuid).is_some());
    assert!(rig.sim.hangup(&call.uuid, "NORMAL_CLEARING"));
    assert_eq!(rx.next().await, "hangup complete");
    rig.wait_destroyed(&call.uuid).await;
    let rec = outbound_record(&rig.sim, &call.uuid).unwrap();
    let received = texts(&rec.received);
    assert_eq!(received.len(), 5, "{received:?}");
    assert_eq!(
        received[3],
        execute_packet("answer", "", true, &event_uuid_of(&received[3]))
    );
    // The session closes itself with `exit` once the call is over.
    assert_eq!(received[4], "exit\n\n");
    assert!(rec.closed);
    logs.wait_text(Level::INFO, "outbound session ended").await;
    logs.assert_clean();
    rig.stop().await;
}

struct Configured {
    seen: mpsc::UnboundedSender<String>,
}

#[outbound(linger = 7, events = ["BACKGROUND_JOB"], format = "json")]
impl Configured {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        let job = call.bgapi("echo from-a-job").await?;
        let _ = self.seen.send(format!("job {}", job.output().await?));
        call.application("hangup", "USER_BUSY").await.ok();
        Ok(())
    }

    #[event(background_job)]
    async fn job(&self, event: &Event) {
        let _ = self.seen.send(format!(
            "hook {}",
            event.body_str().unwrap_or_default().trim()
        ));
    }
}

struct NoLinger {
    seen: mpsc::UnboundedSender<String>,
}

#[outbound(linger = false)]
impl NoLinger {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        call.application("answer", "").await?;
        let _ = self.seen.send("answered".to_owned());
        Ok(())
    }
}

#[tokio::test]
async fn linger_seconds_extra_events_and_json_change_the_handshake() {
    let (seen, mut rx) = recorder();
    let rig = Rig::start(config(21), move || Configured { seen: seen.clone() }).await;
    let call = rig.sim.place_call(CallSpec::new("ivr"));
    let mut got = vec![rx.next().await, rx.next().await];
    got.sort();
    assert_eq!(got, ["hook from-a-job", "job from-a-job"]);
    rig.wait_destroyed(&call.uuid).await;
    let rec = outbound_record(&rig.sim, &call.uuid).unwrap();
    let received = texts(&rec.received);
    assert_eq!(
        received[..4],
        [
            "connect\n\n",
            "myevents json\n\n",
            "event json BACKGROUND_JOB\n\n",
            "linger 7\n\n",
        ]
    );
    assert!(received[4].starts_with("bgapi echo from-a-job\nJob-UUID: "));
    assert_eq!(received.last().unwrap(), "exit\n\n");
    rig.stop().await;
}

#[tokio::test]
async fn without_linger_no_linger_is_sent_and_the_session_ends_normally() {
    let (logs, _guard) = Logs::capture();
    let (seen, mut rx) = recorder();
    let rig = Rig::start(config(22), move || NoLinger { seen: seen.clone() }).await;
    let call = rig.sim.place_call(CallSpec::new("ivr"));
    assert_eq!(rx.next().await, "answered");
    rig.sim.hangup(&call.uuid, "NORMAL_CLEARING");
    rig.wait_destroyed(&call.uuid).await;
    let rec = outbound_record(&rig.sim, &call.uuid).unwrap();
    let received = texts(&rec.received);
    assert_eq!(received[..2], ["connect\n\n", "myevents\n\n"]);
    assert!(!received.iter().any(|p| p.starts_with("linger")));
    // Without linger FreeSWITCH closes at the hangup: a normal end too.
    logs.wait_text(Level::INFO, "outbound session ended").await;
    logs.assert_clean();
    rig.stop().await;
}

// ----- applications -----

struct Player {
    seen: mpsc::UnboundedSender<(Duration, Event, Option<String>)>,
}

#[outbound]
impl Player {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        let started = Instant::now();
        let done = call.application("playback", "long.wav").await?;
        let _ = self
            .seen
            .send((started.elapsed(), done, call.variable("playback_ms")));
        call.application("hangup", "").await.ok();
        Ok(())
    }
}

#[tokio::test]
async fn an_application_returns_only_when_its_completion_arrives() {
    const PLAY: Duration = Duration::from_millis(250);
    let mut cfg = config(23);
    cfg.file_durations.insert("long.wav".to_owned(), PLAY);
    let (seen, mut rx) = recorder();
    let rig = Rig::start(cfg, move || Player { seen: seen.clone() }).await;
    let call = rig.sim.place_call(CallSpec::new("ivr"));
    let (elapsed, done, playback_ms) = rx.next().await;
    assert!(
        elapsed >= PLAY,
        "returned after {elapsed:?}, before the playback ended"
    );
    assert_eq!(done.name(), Some("CHANNEL_EXECUTE_COMPLETE"));
    assert_eq!(done.application(), Some("playback"));
    assert_eq!(done.application_response(), Some("FILE PLAYED"));
    // The session's channel data was refreshed from the completion.
    let ms: u64 = playback_ms.expect("playback_ms").parse().unwrap();
    assert!(ms >= PLAY.as_millis() as u64, "{ms}");
    rig.wait_destroyed(&call.uuid).await;
    let rec = outbound_record(&rig.sim, &call.uuid).unwrap();
    let sendmsg = &texts(&rec.received)[3];
    let id = event_uuid_of(sendmsg);
    assert_eq!(sendmsg, &execute_packet("playback", "long.wav", true, &id));
    assert_eq!(done.application_uuid(), Some(id.as_str()));
    rig.stop().await;
}

struct TwoAtOnce {
    seen: mpsc::UnboundedSender<String>,
}

#[outbound(event_lock = false)]
impl TwoAtOnce {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        let done = call.application("playback", "long.wav").await?;
        let _ = self.seen.send(format!(
            "session got {} {}",
            done.application().unwrap_or(""),
            done.application_data().unwrap_or("")
        ));
        call.application("hangup", "").await.ok();
        Ok(())
    }

    #[event(channel_execute)]
    async fn started(&self, call: &Session, event: &Event) {
        if event.application() == Some("playback") {
            // Runs nested inside the playback, so it completes first.
            let done = call.application("set", "from_hook=yes").await.unwrap();
            let _ = self.seen.send(format!(
                "hook got {} {} {:?}",
                done.application().unwrap_or(""),
                done.application_data().unwrap_or(""),
                done.variable("from_hook")
            ));
        }
    }
}

#[tokio::test]
async fn concurrent_applications_get_their_own_completions() {
    let mut cfg = config(24);
    cfg.file_durations
        .insert("long.wav".to_owned(), Duration::from_millis(300));
    let (seen, mut rx) = recorder();
    let rig = Rig::start(cfg, move || TwoAtOnce { seen: seen.clone() }).await;
    let call = rig.sim.place_call(CallSpec::new("ivr"));
    assert_eq!(rx.next().await, r#"hook got set from_hook=yes Some("yes")"#);
    assert_eq!(rx.next().await, "session got playback long.wav");
    rig.wait_destroyed(&call.uuid).await;
    // The completions really came in the other order than the requests.
    let completes: Vec<String> = rig
        .sim
        .fired_events()
        .iter()
        .filter(|e| e.is("CHANNEL_EXECUTE_COMPLETE") && e.unique_id() == Some(call.uuid.as_str()))
        .filter_map(|e| e.application().map(str::to_owned))
        .collect();
    let set = completes.iter().position(|a| a == "set").unwrap();
    let playback = completes.iter().position(|a| a == "playback").unwrap();
    assert!(set < playback, "{completes:?}");
    let rec = outbound_record(&rig.sim, &call.uuid).unwrap();
    let received = texts(&rec.received);
    assert!(received[3].starts_with("sendmsg\ncall-command: execute\nexecute-app-name: playback\n"));
    assert!(!received[3].contains("event-lock"), "event_lock = false");
    assert!(received[4].contains("execute-app-name: set\n"));
    rig.stop().await;
}

// ----- hangup during an application -----

struct Interrupted {
    seen: mpsc::UnboundedSender<(Duration, librevox::Result<Event>)>,
}

#[outbound]
impl Interrupted {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        call.application("answer", "").await?;
        let started = Instant::now();
        let r = call.application("playback", "endless.wav").await;
        let report = match &r {
            Ok(e) => Ok(e.clone()),
            Err(Error::Hangup { uuid, cause }) => Err(Error::Hangup {
                uuid: uuid.clone(),
                cause: cause.clone(),
            }),
            Err(other) => Err(Error::Protocol(other.to_string())),
        };
        let _ = self.seen.send((started.elapsed(), report));
        r?;
        // Not reached: the call is gone.
        call.application("playback", "after.wav").await?;
        Ok(())
    }
}

/// A rig whose calls run `Interrupted`, and one call whose caller hangs up
/// 50 ms into the endless playback.
async fn interrupted_call(seed: u64) -> (Rig, Rx<(Duration, librevox::Result<Event>)>, CallHandle) {
    let mut cfg = config(seed);
    cfg.file_durations
        .insert("endless.wav".to_owned(), Duration::MAX);
    let (seen, rx) = recorder();
    let rig = Rig::start(cfg, move || Interrupted { seen: seen.clone() }).await;
    let call = rig
        .sim
        .place_call(CallSpec::new("ivr").script(CallerScript {
            hangup_during: Some(("playback".to_owned(), Duration::from_millis(50))),
            hangup_cause: Some("NORMAL_CLEARING".to_owned()),
            ..CallerScript::default()
        }));
    (rig, rx, call)
}

#[tokio::test]
async fn a_hangup_during_an_application_fails_it_promptly_with_the_cause() {
    let (rig, mut rx, call) = interrupted_call(25).await;
    let (elapsed, result) = rx.next().await;
    match result {
        Err(Error::Hangup { uuid, cause }) => {
            assert_eq!(uuid, call.uuid);
            assert_eq!(cause, Some(librevox::HangupCause::NormalClearing));
        }
        other => panic!("expected Error::Hangup, got {other:?}"),
    }
    // Promptly: well before the 2 s hangup grace could have expired.
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    rig.wait_destroyed(&call.uuid).await;
    rig.stop().await;
}

#[tokio::test]
async fn a_hangup_during_an_application_ends_the_session_normally() {
    let (logs, _guard) = Logs::capture();
    let (rig, _rx, call) = interrupted_call(26).await;
    rig.wait_destroyed(&call.uuid).await;
    logs.wait_text(Level::INFO, "outbound session ended").await;
    let rec = outbound_record(&rig.sim, &call.uuid).unwrap();
    let received = texts(&rec.received);
    assert_eq!(received.len(), 6, "{received:?}");
    assert_eq!(received.last().unwrap(), "exit\n\n");
    // A normal hangup is not an error.
    logs.assert_clean();
    rig.stop().await;
}

// ----- hooks finish before the close -----

struct SlowGoodbye {
    sim: Simulator,
    gate: Arc<Notify>,
    seen: mpsc::UnboundedSender<String>,
}

#[outbound]
impl SlowGoodbye {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        call.application("answer", "").await?;
        Ok(())
    }

    #[event(channel_hangup)]
    async fn hangup(&self, call: &Session) {
        // Wait until FreeSWITCH has sent everything that ends the call...
        let uuid = call.uuid().to_owned();
        self.sim
            .wait_for(T, |s| {
                outbound_record(s, &uuid).is_some_and(|r| {
                    let sent = texts(&r.sent);
                    sent.iter()
                        .any(|f| f.contains("Content-Disposition: linger"))
                        && sent.iter().any(|f| f.contains("CHANNEL_HANGUP_COMPLETE"))
                })
            })
            .await
            .unwrap();
        // ...and the client has read it all (this reply comes after it).
        let echo = call.api("echo still-here").await.unwrap();
        let _ = self.seen.send(format!("hook api {}", echo.text()));
        self.gate.notified().await;
        let rec = outbound_record(&self.sim, &uuid).unwrap();
        let _ = self.seen.send(format!(
            "hook done; exit sent before: {}",
            texts(&rec.received).iter().any(|p| p == "exit\n\n")
        ));
    }
}

#[tokio::test]
async fn hooks_finish_before_the_socket_is_closed() {
    let gate = Arc::new(Notify::new());
    let (seen, mut rx) = recorder();
    let sim_slot: Arc<std::sync::OnceLock<Simulator>> = Arc::default();
    let (slot, g) = (sim_slot.clone(), gate.clone());
    let rig = Rig::start(config(26), move || SlowGoodbye {
        sim: slot.get().unwrap().clone(),
        gate: g.clone(),
        seen: seen.clone(),
    })
    .await;
    sim_slot.set(rig.sim.clone()).unwrap();
    let call = rig
        .sim
        .place_call(CallSpec::new("ivr").script(CallerScript {
            hangup_after: Some(Duration::from_millis(50)),
            ..CallerScript::default()
        }));
    assert_eq!(rx.next().await, "hook api still-here");
    let rec = outbound_record(&rig.sim, &call.uuid).unwrap();
    assert!(!rec.closed);
    assert!(!texts(&rec.received).iter().any(|p| p == "exit\n\n"));
    gate.notify_one();
    assert_eq!(rx.next().await, "hook done; exit sent before: false");
    rig.wait_destroyed(&call.uuid).await;
    let rec = outbound_record(&rig.sim, &call.uuid).unwrap();
    assert_eq!(texts(&rec.received).last().unwrap(), "exit\n\n");
    rig.stop().await;
}

// ----- a failing session does not stop the server -----

struct Flaky {
    call_no: usize,
    seen: mpsc::UnboundedSender<String>,
}

#[outbound]
impl Flaky {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        match self.call_no {
            0 => Err(Error::Protocol("deliberate failure".to_owned())),
            1 => panic!("deliberate panic"),
            _ => {
                call.application("answer", "").await?;
                let _ = self.seen.send("third call answered".to_owned());
                call.application("hangup", "").await.ok();
                Ok(())
            }
        }
    }
}

/// Waits until the call's socket has done its setup, then hangs it up.
async fn hang_up_after_setup(rig: &Rig, uuid: &str) {
    rig.sim
        .wait_for(T, |s| {
            outbound_record(s, uuid).is_some_and(|r| r.received.len() >= 3)
        })
        .await
        .unwrap();
    rig.sim.hangup(uuid, "NORMAL_CLEARING");
}

#[tokio::test]
async fn the_server_keeps_serving_after_a_failed_and_a_panicking_session() {
    let (logs, _guard) = Logs::capture();
    let (seen, mut rx) = recorder();
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let rig = Rig::start(config(27), move || Flaky {
        call_no: calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
        seen: seen.clone(),
    })
    .await;
    // First call: session_initiated fails; the call is ended by the caller.
    let first = rig.sim.place_call(CallSpec::new("ivr"));
    hang_up_after_setup(&rig, &first.uuid).await;
    let err = logs
        .wait_text(Level::ERROR, "session_initiated failed")
        .await;
    assert!(err.text.contains("deliberate failure"), "{err:?}");
    rig.wait_destroyed(&first.uuid).await;
    // Second call: session_initiated panics.
    let second = rig.sim.place_call(CallSpec::new("ivr"));
    hang_up_after_setup(&rig, &second.uuid).await;
    let err = logs
        .wait_for("the panic in the log", |r| {
            r.level == Level::ERROR && r.text.contains("deliberate panic")
        })
        .await;
    assert!(err.text.contains("session_initiated panicked"), "{err:?}");
    rig.wait_destroyed(&second.uuid).await;
    // Third call: served normally.
    let third = rig.sim.place_call(CallSpec::new("ivr"));
    assert_eq!(rx.next().await, "third call answered");
    rig.wait_destroyed(&third.uuid).await;
    assert!(!rig.server.is_finished());
    // Each failure logged once.
    assert_eq!(
        logs.at(Level::ERROR).len(),
        2,
        "{:?}",
        logs.at(Level::ERROR)
    );
    rig.stop().await;
}

// ----- a failing session is logged at once -----

struct FailsAtOnce;

#[outbound]
impl FailsAtOnce {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        call.application("answer", "").await?;
        Err(Error::Protocol("the customer database is down".to_owned()))
    }
}

#[tokio::test]
async fn a_failed_session_is_logged_at_once_while_the_caller_is_on_the_line() {
    let (logs, _guard) = Logs::capture();
    let rig = Rig::start(config(30), || FailsAtOnce).await;
    let call = rig.sim.place_call(CallSpec::new("ivr").caller("1000"));
    // Nobody hangs up: the error must not wait for the end of the call.
    let err = logs
        .wait_for("the session error", |r| r.level == Level::ERROR)
        .await;
    assert_eq!(
        err.text,
        format!(
            "session_initiated failed uuid={} error=protocol error: the customer database is down",
            call.uuid
        )
    );
    assert_eq!(
        err.spans.last().map(String::as_str),
        Some(format!("session{{uuid={} caller=1000 destination=ivr}}", call.uuid).as_str()),
        "logged inside the call's span: {:?}",
        err.spans
    );
    // The caller is still on the line, the socket still open.
    assert!(rig.sim.channel(&call.uuid).is_some());
    let rec = outbound_record(&rig.sim, &call.uuid).unwrap();
    assert!(!rec.closed);
    assert!(!texts(&rec.received).iter().any(|p| p == "exit\n\n"));
    // Then the session closes as any other once the call is over.
    rig.sim.hangup(&call.uuid, "NORMAL_CLEARING");
    rig.wait_destroyed(&call.uuid).await;
    logs.wait_text(Level::INFO, "outbound session ended").await;
    let rec = outbound_record(&rig.sim, &call.uuid).unwrap();
    assert_eq!(texts(&rec.received).last().unwrap(), "exit\n\n");
    assert_eq!(logs.at(Level::ERROR).len(), 1, "logged once");
    rig.stop().await;
}

// ----- session_ended -----

#[derive(Clone, Copy)]
enum Script {
    /// Plays short.wav and returns Ok.
    Complete,
    /// Returns an error.
    Fail,
    /// Plays endless.wav (until the caller hangs up).
    PlayEndless,
    /// Ignores the end of the call.
    Hang,
    /// Completes, and `session_ended` panics.
    PanicAtEnd,
}

const SHORT: Duration = Duration::from_millis(150);

struct Reporter {
    sim: Simulator,
    script: Script,
    seen: mpsc::UnboundedSender<String>,
}

#[outbound]
impl Reporter {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        call.application("answer", "").await?;
        match self.script {
            Script::Complete | Script::PanicAtEnd => {
                call.application("playback", "short.wav").await?;
                let _ = self.seen.send("played".to_owned());
                Ok(())
            }
            Script::Fail => {
                let _ = self.seen.send("failing".to_owned());
                Err(Error::Protocol("no such customer".to_owned()))
            }
            Script::PlayEndless => call
                .application("playback", "endless.wav")
                .await
                .map(|_| ()),
            Script::Hang => {
                let _ = self.seen.send("hanging".to_owned());
                std::future::pending().await
            }
        }
    }

    #[event(channel_hangup_complete)]
    async fn complete(&self) {
        let _ = self.seen.send("hangup complete hook".to_owned());
    }

    async fn session_ended(&self, call: &Session, how: &SessionEnd) {
        if matches!(self.script, Script::PanicAtEnd) {
            panic!("session_ended panicking on purpose");
        }
        let exit_sent = outbound_record(&self.sim, call.uuid())
            .is_some_and(|r| texts(&r.received).iter().any(|p| p == "exit\n\n"));
        let outcome = match how.outcome() {
            SessionOutcome::Completed => "completed".to_owned(),
            SessionOutcome::HungUp => "hung up".to_owned(),
            SessionOutcome::Failed(e) => format!("failed: {e}"),
            SessionOutcome::Cancelled => "cancelled".to_owned(),
            other => format!("{other:?}"),
        };
        let _ = self.seen.send(format!(
            "ended: {outcome}; error {}; cause {:?}; hung up {}; exit sent {exit_sent}",
            how.error().is_some(),
            how.hangup_cause().map(HangupCause::as_str),
            how.hung_up(),
        ));
        let _ = self.seen.send(format!(
            "lasted at least the playback: {}",
            how.duration() >= SHORT
        ));
    }
}

/// A rig whose calls run `script`, with short.wav and endless.wav.
async fn reporter_rig(
    seed: u64,
    script: Script,
    settings: impl FnOnce(&mut OutboundSettings),
) -> (Rig, Rx<String>) {
    reporter_rig_in(config(seed), script, settings).await
}

/// [`reporter_rig`] on a simulator configured by `cfg`.
async fn reporter_rig_in(
    mut cfg: SimulatorConfig,
    script: Script,
    settings: impl FnOnce(&mut OutboundSettings),
) -> (Rig, Rx<String>) {
    cfg.file_durations.insert("short.wav".to_owned(), SHORT);
    cfg.file_durations
        .insert("endless.wav".to_owned(), Duration::MAX);
    let (seen, rx) = recorder();
    let sim_slot: Arc<std::sync::OnceLock<Simulator>> = Arc::default();
    let slot = sim_slot.clone();
    let rig = Rig::start_with(cfg, settings, move || Reporter {
        sim: slot.get().expect("the simulator is set").clone(),
        script,
        seen: seen.clone(),
    })
    .await;
    sim_slot.set(rig.sim.clone()).unwrap();
    (rig, rx)
}

#[tokio::test]
async fn session_ended_runs_once_after_the_hooks_and_before_exit() {
    let (logs, _guard) = Logs::capture();
    let (rig, mut rx) = reporter_rig(31, Script::Complete, |_| {}).await;
    let call = rig.sim.place_call(CallSpec::new("ivr"));
    assert_eq!(rx.next().await, "played");
    rig.sim.hangup(&call.uuid, "USER_BUSY");
    assert_eq!(rx.next().await, "hangup complete hook");
    assert_eq!(
        rx.next().await,
        r#"ended: completed; error false; cause Some("USER_BUSY"); hung up true; exit sent false"#
    );
    assert_eq!(rx.next().await, "lasted at least the playback: true");
    rig.wait_destroyed(&call.uuid).await;
    let rec = outbound_record(&rig.sim, &call.uuid).unwrap();
    assert_eq!(texts(&rec.received).last().unwrap(), "exit\n\n");
    assert!(rx.drain().is_empty(), "once");
    logs.assert_clean();
    rig.stop().await;
}

#[tokio::test]
async fn session_ended_tells_a_hangup_under_an_application_and_its_cause() {
    let (rig, mut rx) = reporter_rig(32, Script::PlayEndless, |_| {}).await;
    let call = rig
        .sim
        .place_call(CallSpec::new("ivr").script(CallerScript {
            hangup_during: Some(("playback".to_owned(), Duration::from_millis(30))),
            hangup_cause: Some("NO_ANSWER".to_owned()),
            ..CallerScript::default()
        }));
    assert_eq!(rx.next().await, "hangup complete hook");
    assert_eq!(
        rx.next().await,
        r#"ended: hung up; error false; cause Some("NO_ANSWER"); hung up true; exit sent false"#
    );
    rig.wait_destroyed(&call.uuid).await;
    rig.stop().await;
}

#[tokio::test]
async fn session_ended_on_a_sync_socket_has_the_cause_of_channel_hangup() {
    // No CHANNEL_HANGUP_COMPLETE while a sync socket is open: the cause
    // comes from CHANNEL_HANGUP.
    let (rig, mut rx) = reporter_rig(36, Script::PlayEndless, |_| {}).await;
    let call = rig
        .sim
        .place_call(CallSpec::new("sync").script(CallerScript {
            hangup_during: Some(("playback".to_owned(), Duration::from_millis(30))),
            hangup_cause: Some("CALL_REJECTED".to_owned()),
            ..CallerScript::default()
        }));
    assert_eq!(
        rx.next().await,
        r#"ended: hung up; error false; cause Some("CALL_REJECTED"); hung up true; exit sent false"#
    );
    rig.wait_destroyed(&call.uuid).await;
    rig.stop().await;
}

#[tokio::test]
async fn session_ended_on_a_sync_socket_has_the_cause_in_either_order() {
    let mut drawn = Vec::new();
    for seed in ORDER_SEEDS {
        let cfg = seeded_config(seed);
        let orders = cfg.clone();
        let (rig, mut rx) = reporter_rig_in(cfg, Script::PlayEndless, |_| {}).await;
        let call = rig
            .sim
            .place_call(CallSpec::new("sync").script(CallerScript {
                hangup_during: Some(("playback".to_owned(), Duration::from_millis(30))),
                hangup_cause: Some("CALL_REJECTED".to_owned()),
                ..CallerScript::default()
            }));
        drawn.push(orders.call_order(&call.uuid).sync_hangup);
        assert_eq!(
            rx.next().await,
            r#"ended: hung up; error false; cause Some("CALL_REJECTED"); hung up true; exit sent false"#,
            "seed {seed}"
        );
        rig.wait_destroyed(&call.uuid).await;
        rig.stop().await;
    }
    for order in [SyncHangupOrder::EventsFirst, SyncHangupOrder::NoticeFirst] {
        assert!(drawn.contains(&order), "no seed drew {order:?}: {drawn:?}");
    }
}

#[tokio::test]
async fn session_ended_carries_the_error_session_initiated_returned() {
    let (rig, mut rx) = reporter_rig(33, Script::Fail, |_| {}).await;
    let call = rig.sim.place_call(CallSpec::new("ivr"));
    assert_eq!(rx.next().await, "failing");
    rig.sim.hangup(&call.uuid, "NORMAL_CLEARING");
    assert_eq!(rx.next().await, "hangup complete hook");
    assert_eq!(
        rx.next().await,
        r#"ended: failed: protocol error: no such customer; error true; cause Some("NORMAL_CLEARING"); hung up true; exit sent false"#
    );
    rig.wait_destroyed(&call.uuid).await;
    rig.stop().await;
}

#[tokio::test]
async fn session_ended_says_when_session_initiated_was_cut_off() {
    let (logs, _guard) = Logs::capture();
    let (rig, mut rx) = reporter_rig(34, Script::Hang, |s| {
        s.session_grace = Duration::from_millis(100)
    })
    .await;
    let call = rig.sim.place_call(CallSpec::new("ivr"));
    assert_eq!(rx.next().await, "hanging");
    rig.sim.hangup(&call.uuid, "NORMAL_CLEARING");
    assert_eq!(rx.next().await, "hangup complete hook");
    assert_eq!(
        rx.next().await,
        r#"ended: cancelled; error false; cause Some("NORMAL_CLEARING"); hung up true; exit sent false"#
    );
    rig.wait_destroyed(&call.uuid).await;
    logs.wait_text(
        Level::WARN,
        "session_initiated still running after the call ended",
    )
    .await;
    rig.stop().await;
}

#[tokio::test]
async fn a_panicking_session_ended_is_logged_and_the_session_still_closes() {
    let (logs, _guard) = Logs::capture();
    let (rig, mut rx) = reporter_rig(35, Script::PanicAtEnd, |_| {}).await;
    let call = rig.sim.place_call(CallSpec::new("ivr"));
    assert_eq!(rx.next().await, "played");
    rig.sim.hangup(&call.uuid, "NORMAL_CLEARING");
    let panic = logs.wait_text(Level::ERROR, "session_ended panicked").await;
    assert!(
        panic.text.contains("session_ended panicking on purpose"),
        "{panic:?}"
    );
    rig.wait_destroyed(&call.uuid).await;
    let rec = outbound_record(&rig.sim, &call.uuid).unwrap();
    assert_eq!(texts(&rec.received).last().unwrap(), "exit\n\n");
    assert!(!rig.server.is_finished());
    rig.stop().await;
}

struct Stubborn {
    seen: mpsc::UnboundedSender<String>,
}

#[outbound]
impl Stubborn {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        call.application("answer", "").await?;
        // An IVR that ignores the hangup and carries on.
        let first = call.application("playback", "endless.wav").await;
        let _ = self.seen.send(format!("first: {}", outcome(&first)));
        let started = Instant::now();
        let second = call.application("playback", "next.wav").await;
        let _ = self.seen.send(format!("second: {}", outcome(&second)));
        let _ = self.seen.send(format!(
            "second failed promptly: {}",
            started.elapsed() < Duration::from_secs(1)
        ));
        second.map(|_| ())
    }
}

fn outcome(r: &librevox::Result<Event>) -> String {
    match r {
        Ok(e) => format!("completed {}", e.application_response().unwrap_or("")),
        Err(Error::Hangup { cause, .. }) => {
            format!("hangup {}", cause.as_ref().map_or("", |c| c.as_str()))
        }
        Err(e) => format!("error {e}"),
    }
}

#[tokio::test]
async fn an_application_started_after_the_hangup_fails_at_once() {
    let (logs, _guard) = Logs::capture();
    let mut cfg = config(28);
    cfg.file_durations
        .insert("endless.wav".to_owned(), Duration::MAX);
    let (seen, mut rx) = recorder();
    let rig = Rig::start(cfg, move || Stubborn { seen: seen.clone() }).await;
    let call = rig
        .sim
        .place_call(CallSpec::new("ivr").script(CallerScript {
            hangup_during: Some(("playback".to_owned(), Duration::from_millis(30))),
            hangup_cause: Some("USER_BUSY".to_owned()),
            ..CallerScript::default()
        }));
    assert_eq!(rx.next().await, "first: hangup USER_BUSY");
    assert_eq!(rx.next().await, "second: hangup USER_BUSY");
    assert_eq!(rx.next().await, "second failed promptly: true");
    rig.wait_destroyed(&call.uuid).await;
    logs.wait_text(Level::INFO, "outbound session ended").await;
    logs.assert_clean();
    rig.stop().await;
}

// ----- a sync ("static") socket -----

struct SyncIvr {
    seen: mpsc::UnboundedSender<String>,
}

#[outbound]
impl SyncIvr {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        let _ = self.seen.send(format!(
            "mode {}",
            call.header("Socket-Mode").unwrap_or_default()
        ));
        call.application("answer", "").await?;
        let r = call.application("playback", "endless.wav").await;
        let _ = self.seen.send(format!("playback: {}", outcome(&r)));
        r.map(|_| ())
    }

    #[event(channel_hangup)]
    async fn gone(&self) {
        let _ = self.seen.send("hangup hook".to_owned());
    }
}

#[tokio::test]
async fn a_call_on_a_sync_socket_ends_after_the_hangup() {
    // Without `async`, FreeSWITCH sends no CHANNEL_HANGUP_COMPLETE while the
    // socket is open (§5.5): the linger notice is the end of the call.
    let (logs, _guard) = Logs::capture();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut cfg = config(29).extension(librevox::simulator::Extension::socket(
        "sync",
        &format!("127.0.0.1:{port} full"),
    ));
    cfg.file_durations
        .insert("endless.wav".to_owned(), Duration::MAX);
    let sim = simulator(cfg).await;
    let (seen, mut rx) = recorder();
    let token = Shutdown::new();
    let server = tokio::spawn(serve_outbound(
        listener,
        move || SyncIvr { seen: seen.clone() },
        OutboundSettings {
            session_grace: Duration::from_secs(30),
            ..OutboundSettings::default()
        },
        token.clone(),
    ));
    let call = sim.place_call(CallSpec::new("sync").script(CallerScript {
        hangup_during: Some(("playback".to_owned(), Duration::from_millis(30))),
        ..CallerScript::default()
    }));
    assert_eq!(rx.next().await, "mode static");
    let mut got = vec![rx.next().await, rx.next().await];
    got.sort();
    assert_eq!(got, ["hangup hook", "playback: hangup NORMAL_CLEARING"]);
    sim.wait_event(T, |e| {
        e.is("CHANNEL_DESTROY") && e.unique_id() == Some(call.uuid.as_str())
    })
    .await
    .expect("the socket was released and the channel destroyed");
    let rec = outbound_record(&sim, &call.uuid).unwrap();
    assert_eq!(texts(&rec.received).last().unwrap(), "exit\n\n");
    logs.wait_text(Level::INFO, "outbound session ended").await;
    logs.assert_clean();
    token.trigger();
    within("the server to stop", server).await.unwrap().unwrap();
}

// ----- limits: max_sessions and the allow-list (13.10) -----

struct Idle;

impl OutboundListener for Idle {
    async fn session_initiated(&self, _call: &Session) -> librevox::Result<()> {
        Ok(())
    }
}

/// An outbound server of `Idle` sessions with `settings`, on a fresh port.
async fn limited_server(
    mut settings: OutboundSettings,
) -> (
    std::net::SocketAddr,
    Shutdown,
    JoinHandle<librevox::Result<()>>,
) {
    // Calls left in their setup are cut off at once on shutdown.
    settings.shutdown_grace = Duration::ZERO;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let token = Shutdown::new();
    let server = tokio::spawn(serve_outbound(listener, || Idle, settings, token.clone()));
    (addr, token, server)
}

/// Connects like FreeSWITCH and returns the first bytes the server sent
/// before it closed or within 9 bytes (`connect\n\n`); empty when it closed
/// without a word.
async fn first_words(addr: std::net::SocketAddr) -> (tokio::net::TcpStream, Vec<u8>) {
    use tokio::io::AsyncReadExt;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut got = Vec::new();
    while got.len() < 9 {
        let mut buf = [0u8; 9];
        let n = within(
            "the server to write or close",
            s.read(&mut buf[..9 - got.len()]),
        )
        .await
        .unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    (s, got)
}

#[tokio::test]
async fn beyond_max_sessions_a_connection_is_closed_at_once_and_logged_with_a_count() {
    let (logs, _guard) = Logs::capture();
    let (addr, token, server) = limited_server(OutboundSettings {
        max_sessions: 2,
        ..OutboundSettings::default()
    })
    .await;
    let (a, greeting) = first_words(addr).await;
    assert_eq!(greeting, b"connect\n\n");
    let (_b, greeting) = first_words(addr).await;
    assert_eq!(greeting, b"connect\n\n");
    // Two calls are running: the third and fourth are closed unanswered.
    for _ in 0..2 {
        let (_c, greeting) = first_words(addr).await;
        assert_eq!(greeting, b"", "closed without a word");
    }
    let warned: Vec<_> = logs
        .at(Level::WARN)
        .into_iter()
        .filter(|r| r.text.contains("max_sessions calls are running"))
        .collect();
    // The first at once; another refusal within the second is only counted.
    assert!(!warned.is_empty() && warned.len() <= 2, "{warned:#?}");
    assert!(
        warned[0].text.contains("refused=1") && warned[0].text.contains("refused_total=1"),
        "{}",
        warned[0].text
    );
    assert!(
        warned[0].text.contains("peer=127.0.0.1:"),
        "{}",
        warned[0].text
    );
    // A call that ends gives its slot back.
    drop(a);
    logs.wait_text(Level::INFO, "outbound session setup: connection closed")
        .await;
    let (_e, greeting) = first_words(addr).await;
    assert_eq!(greeting, b"connect\n\n");
    token.trigger();
    within("the server to stop", server).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_peer_outside_the_allowed_networks_is_closed_at_once_and_logged() {
    let (logs, _guard) = Logs::capture();
    let settings = OutboundSettings::default().allow("10.0.0.0/8").unwrap();
    let (addr, token, server) = limited_server(settings).await;
    let (_refused, greeting) = first_words(addr).await;
    assert_eq!(greeting, b"", "closed without a word");
    let warning = logs
        .wait_text(Level::WARN, "outside the allowed networks")
        .await;
    assert!(warning.text.contains("peer=127.0.0.1:"), "{}", warning.text);
    token.trigger();
    within("the server to stop", server).await.unwrap().unwrap();
    // The same peer, allowed by its address.
    let settings = OutboundSettings::default()
        .allow("10.0.0.0/8")
        .unwrap()
        .allow("127.0.0.1")
        .unwrap();
    let (addr, token, server) = limited_server(settings).await;
    let (_served, greeting) = first_words(addr).await;
    assert_eq!(greeting, b"connect\n\n");
    token.trigger();
    within("the server to stop", server).await.unwrap().unwrap();
}

#[tokio::test]
async fn max_sessions_zero_is_refused_as_a_configuration_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let settings = OutboundSettings {
        max_sessions: 0,
        ..OutboundSettings::default()
    };
    let err = serve_outbound(listener, || Idle, settings, Shutdown::new())
        .await
        .expect_err("no call could ever be served");
    assert!(
        matches!(&err, Error::Config(m) if m.contains("max_sessions") && m.contains("at least 1")),
        "{err:?}"
    );
}
