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
//!
//! With a dispatch lag ([`CallOrder::dispatch_lag`]) the notice also
//! overtakes what the event-dispatch thread still held as the hangup began
//! (on a cut-short playback, its CHANNEL_EXECUTE): the outcomes are the
//! same, on both sockets.
//!
//! The `across_seeds` tests run the calls under [`Order::Seeded`], each
//! call in the order its seed draws, and check that both orders, and a
//! lag, were met.
#![cfg(feature = "simulator")]

use std::time::Duration;

use librevox::prelude::*;
use librevox::simulator::{
    CallOrder, CallSpec, CallerScript, Direction, Extension, Fault, FaultProxy, Order, Rule,
    Simulator, SimulatorConfig, SyncHangupOrder,
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

/// The seeds the `across_seeds` tests run.
const SEEDS: [u64; 4] = [1, 2, 3, 4];

/// Places `CALLS` calls, one after another, on a socket in `mode`, each
/// run by a fresh listener from `make`, and returns every report and every
/// session's own result, with the order each call got (`order` and `lag`
/// for every call, or under `seeded` the one drawn for its UUID).
async fn run_calls<L, F>(
    Case { order, lag, seeded }: Case,
    mode: &str,
    script: CallerScript,
    make: F,
) -> Vec<(String, String, CallOrder)>
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
    config.dispatch_lag = lag;
    if let Some(seed) = seeded {
        config.order = Order::Seeded(seed);
    }
    let orders = config.clone();
    config
        .file_durations
        .insert("endless.wav".to_owned(), Duration::MAX);
    let sim = Simulator::start(config).await.unwrap();
    let settings = OutboundSettings::default();
    let mut results = Vec::new();
    for i in 0..CALLS {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let uuid = format!("5eed0000-0000-4000-8000-{:04}{i:08}", seeded.unwrap_or(0));
        let drawn = orders.call_order(&uuid);
        sim.place_call(CallSpec::new("ivr").uuid(&uuid).script(script.clone()));
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
        results.push((report, outcome(&session), drawn));
    }
    sim.shutdown().await;
    results
}

/// The orders of a run: the hangup order and dispatch lag of every call,
/// or the seed every call draws its order from.
#[derive(Debug, Clone, Copy)]
struct Case {
    order: SyncHangupOrder,
    lag: u32,
    seeded: Option<u64>,
}

fn fixed(order: SyncHangupOrder, lag: u32) -> Case {
    Case {
        order,
        lag,
        seeded: None,
    }
}

fn seeded(seed: u64) -> Case {
    Case {
        order: SyncHangupOrder::EventsFirst,
        lag: 0,
        seeded: Some(seed),
    }
}

/// Every call's script reports `report` and its session ends `Ok`; returns
/// the orders the calls got.
async fn hangs_up_with(order: Case, mode: &str) -> Vec<CallOrder> {
    let results = run_calls(order, mode, CallerScript::default(), |report| HangsUp {
        report,
    })
    .await;
    check(&results, "hangup: ok", order, mode)
}

async fn cut_short_with(order: Case, mode: &str) -> Vec<CallOrder> {
    let script = CallerScript {
        hangup_during: Some(("playback".to_owned(), Duration::from_millis(20))),
        hangup_cause: Some("USER_BUSY".to_owned()),
        ..CallerScript::default()
    };
    let results = run_calls(order, mode, script, |report| CutShort { report }).await;
    check(&results, "playback: hangup USER_BUSY", order, mode)
}

fn check(
    results: &[(String, String, CallOrder)],
    report: &str,
    order: Case,
    mode: &str,
) -> Vec<CallOrder> {
    for (i, (got, session, drawn)) in results.iter().enumerate() {
        assert_eq!(
            (got.as_str(), session.as_str()),
            (report, "ok"),
            "call {i} of {CALLS} ({order:?} drew {drawn:?}, {mode})"
        );
    }
    results.iter().map(|r| r.2).collect()
}

async fn hangs_up(order: SyncHangupOrder, mode: &str) {
    hangs_up_with(fixed(order, 0), mode).await;
}

async fn cut_short(order: SyncHangupOrder, mode: &str) {
    cut_short_with(fixed(order, 0), mode).await;
}

/// Both orders, and a dispatch lag, were drawn among `orders`.
fn both_met(orders: &[CallOrder]) {
    for order in [SyncHangupOrder::EventsFirst, SyncHangupOrder::NoticeFirst] {
        assert!(
            orders.iter().any(|o| o.sync_hangup == order),
            "no call of seeds {SEEDS:?} drew {order:?}: {orders:?}"
        );
    }
    assert!(
        orders.iter().any(|o| o.dispatch_lag > 0),
        "no call of seeds {SEEDS:?} drew a dispatch lag: {orders:?}"
    );
}

#[tokio::test]
async fn hangup_succeeds_on_a_sync_socket_across_seeds() {
    let mut orders = Vec::new();
    for seed in SEEDS {
        orders.extend(hangs_up_with(seeded(seed), "full").await);
    }
    both_met(&orders);
}

#[tokio::test]
async fn a_cut_short_playback_carries_the_cause_on_a_sync_socket_across_seeds() {
    let mut orders = Vec::new();
    for seed in SEEDS {
        orders.extend(cut_short_with(seeded(seed), "full").await);
    }
    both_met(&orders);
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

#[tokio::test]
async fn hangup_succeeds_on_a_sync_socket_with_a_dispatch_lag() {
    hangs_up_with(fixed(SyncHangupOrder::EventsFirst, 1), "full").await;
}

#[tokio::test]
async fn hangup_succeeds_on_an_async_socket_with_a_dispatch_lag() {
    hangs_up_with(fixed(SyncHangupOrder::EventsFirst, 1), "async full").await;
}

#[tokio::test]
async fn a_cut_short_playback_carries_the_cause_on_a_sync_socket_with_a_dispatch_lag() {
    cut_short_with(fixed(SyncHangupOrder::EventsFirst, 1), "full").await;
}

#[tokio::test]
async fn a_cut_short_playback_carries_the_cause_on_an_async_socket_with_a_dispatch_lag() {
    cut_short_with(fixed(SyncHangupOrder::EventsFirst, 1), "async full").await;
}

#[tokio::test]
async fn hangup_succeeds_on_an_async_socket_across_seeds() {
    let mut orders = Vec::new();
    for seed in SEEDS {
        orders.extend(hangs_up_with(seeded(seed), "async full").await);
    }
    assert!(
        orders.iter().any(|o| o.dispatch_lag > 0),
        "no call of seeds {SEEDS:?} drew a dispatch lag: {orders:?}"
    );
}

#[tokio::test]
async fn a_cut_short_playback_carries_the_cause_on_an_async_socket_across_seeds() {
    let mut orders = Vec::new();
    for seed in SEEDS {
        orders.extend(cut_short_with(seeded(seed), "async full").await);
    }
    assert!(
        orders.iter().any(|o| o.dispatch_lag > 0),
        "no call of seeds {SEEDS:?} drew a dispatch lag: {orders:?}"
    );
}
