//! The end of a call on a sync outbound socket (`socket ... full` without
//! `async`), in both orders the real FreeSWITCH delivers it: the linger
//! notice after CHANNEL_HANGUP and the hangup's completion, or before both
//! ([`SyncHangupOrder`]). An application that hangs up the call succeeds,
//! every time; an application the caller's hangup cut short fails with the
//! cause FreeSWITCH sent. Async sockets behave the same.
//!
//! The simulator writes a call's last frames back to back; the real switch
//! leaves time between the notice and the events after it (they come from
//! other threads). A [`FaultProxy`] between the two holds whatever follows
//! the linger notice for a while, so the client sees the notice alone first,
//! as it does against FreeSWITCH.
#![cfg(feature = "simulator")]

use std::time::Duration;

use librevox::prelude::*;
use librevox::simulator::{
    CallSpec, CallerScript, Direction, Extension, Fault, FaultProxy, Rule, Simulator,
    SimulatorConfig, SyncHangupOrder,
};
use librevox::{outbound, Error, HangupCause, OutboundSettings};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const T: Duration = Duration::from_secs(10);
const CALLS: usize = 10;

/// What a script reports: the outcome of its last application.
type Report = mpsc::UnboundedSender<String>;

fn outcome<V>(r: &librevox::Result<V>) -> String {
    match r {
        Ok(_) => "ok".to_owned(),
        Err(Error::Hangup { cause, .. }) => format!(
            "hangup {}",
            cause.as_ref().map_or("(no cause)", HangupCause::as_str)
        ),
        Err(e) => format!("error {e}"),
    }
}

/// answer, playback, hangup: the script.
struct HangsUp {
    report: Report,
}

#[outbound]
impl HangsUp {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        call.answer().await?;
        call.playback("short.wav").await?;
        let r = call.hangup("").await;
        let _ = self.report.send(format!("hangup: {}", outcome(&r)));
        r
    }
}

/// answer, then a playback the caller hangs up during.
struct CutShort {
    report: Report,
}

#[outbound]
impl CutShort {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        call.answer().await?;
        let r = call.playback("endless.wav").await;
        let _ = self.report.send(format!("playback: {}", outcome(&r)));
        Ok(())
    }
}

/// Places `CALLS` calls, one after another, on a socket in `mode`, each
/// run by a fresh listener from `make`, and returns every report and every
/// session's own result.
async fn run_calls<L, F>(
    order: SyncHangupOrder,
    mode: &str,
    script: CallerScript,
    make: F,
) -> Vec<(String, String)>
where
    L: librevox::OutboundListener,
    F: Fn(Report) -> L,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = FaultProxy::start(listener.local_addr().unwrap())
        .await
        .unwrap();
    // The simulator dials the proxy: its frames go "client to server".
    proxy.add(
        Rule::new(Fault::Delay(Duration::from_millis(150)))
            .direction(Direction::ClientToServer)
            .after_pattern(b"Linger-Time: -1\nContent-Length: 0\n\n", 0),
    );
    let mut config = SimulatorConfig::deterministic(7)
        .in_memory()
        .extension(Extension::socket(
            "ivr",
            &format!("{} {mode}", proxy.addr()),
        ));
    config.sync_hangup_order = order;
    config
        .file_durations
        .insert("endless.wav".to_owned(), Duration::MAX);
    let sim = Simulator::start(config).await.unwrap();
    let settings = OutboundSettings::default();
    let mut results = Vec::new();
    for _ in 0..CALLS {
        let (tx, mut rx) = mpsc::unbounded_channel();
        sim.place_call(CallSpec::new("ivr").script(script.clone()));
        let (io, _) = tokio::time::timeout(T, listener.accept())
            .await
            .expect("the simulator dialled the socket")
            .unwrap();
        let session = tokio::time::timeout(
            T,
            librevox::listener::run_outbound_session(io, make(tx), &settings),
        )
        .await
        .expect("the session ended by itself");
        let report = rx.try_recv().expect("the script reported");
        results.push((report, outcome(&session)));
    }
    sim.shutdown().await;
    results
}

async fn hangs_up(order: SyncHangupOrder, mode: &str) {
    let results = run_calls(order, mode, CallerScript::default(), |report| HangsUp {
        report,
    })
    .await;
    for (i, r) in results.iter().enumerate() {
        assert_eq!(
            r,
            &("hangup: ok".to_owned(), "ok".to_owned()),
            "call {i} of {CALLS} ({order:?}, {mode})"
        );
    }
}

async fn cut_short(order: SyncHangupOrder, mode: &str) {
    let script = CallerScript {
        hangup_during: Some(("playback".to_owned(), Duration::from_millis(20))),
        hangup_cause: Some("USER_BUSY".to_owned()),
        ..CallerScript::default()
    };
    let results = run_calls(order, mode, script, |report| CutShort { report }).await;
    for (i, r) in results.iter().enumerate() {
        assert_eq!(
            r,
            &("playback: hangup USER_BUSY".to_owned(), "ok".to_owned()),
            "call {i} of {CALLS} ({order:?}, {mode})"
        );
    }
}

#[tokio::test]
async fn hangup_succeeds_on_a_sync_socket_when_the_events_come_first() {
    hangs_up(SyncHangupOrder::EventsFirst, "full").await;
}

#[tokio::test]
async fn hangup_succeeds_on_a_sync_socket_when_the_notice_comes_first() {
    hangs_up(SyncHangupOrder::NoticeFirst, "full").await;
}

#[tokio::test]
async fn hangup_succeeds_on_an_async_socket() {
    hangs_up(SyncHangupOrder::NoticeFirst, "async full").await;
}

#[tokio::test]
async fn a_cut_short_playback_carries_the_cause_on_a_sync_socket_events_first() {
    cut_short(SyncHangupOrder::EventsFirst, "full").await;
}

#[tokio::test]
async fn a_cut_short_playback_carries_the_cause_on_a_sync_socket_notice_first() {
    cut_short(SyncHangupOrder::NoticeFirst, "full").await;
}

#[tokio::test]
async fn a_cut_short_playback_carries_the_cause_on_an_async_socket() {
    cut_short(SyncHangupOrder::NoticeFirst, "async full").await;
}
