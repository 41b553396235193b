//! `ChannelTracker` fed by an inbound listener against the simulator: calls
//! tracked from their events, and a reconnect in the middle of calls (a call
//! ends and another starts while the socket is down) repaired by the resync.
#![cfg(feature = "simulator")]

use std::sync::Arc;
use std::time::Duration;

use librevox::listener::{run_inbound, Backoff, Inbound, InboundListener, InboundSettings};
use librevox::protocol::{CallState, Event};
use librevox::simulator::{
    CallSpec, Extension, Fault, FaultProxy, Rule, Simulator, SimulatorConfig,
};
use librevox::tracker::ChannelTracker;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(10);

struct Tracked {
    tracker: ChannelTracker,
    /// The channel count after each resync (or the error).
    synced: mpsc::UnboundedSender<Result<usize, String>>,
}

impl InboundListener for Tracked {
    async fn connection_completed(&self, ctx: &Inbound) {
        let r = self.tracker.resync(ctx.connection()).await;
        let _ = self.synced.send(r.map_err(|e| e.to_string()));
    }
    async fn handle_event(&self, _ctx: &Inbound, event: &Event) {
        self.tracker.handle_event(event);
    }
}

async fn switch() -> Simulator {
    Simulator::start(
        SimulatorConfig::default()
            .extension(Extension::new("answered", &[("answer", ""), ("park", "")])),
    )
    .await
    .unwrap()
}

fn call(number: &str, call_id: &str) -> CallSpec {
    let mut spec = CallSpec::new("answered");
    spec.caller_id_number = number.to_owned();
    spec.variables = vec![("sip_call_id".into(), call_id.into())];
    spec
}

/// The live channels of the switch, sorted.
fn live(sim: &Simulator) -> Vec<String> {
    let mut v: Vec<String> = sim
        .channels()
        .into_iter()
        .filter(|c| c.hangup_cause.is_none())
        .map(|c| c.uuid)
        .collect();
    v.sort();
    v
}

fn tracked(t: &ChannelTracker) -> Vec<String> {
    t.channels().into_iter().map(|c| c.uuid).collect()
}

/// Waits until `f` holds, at most WAIT (checked on every tick of 10 ms:
/// the tracker has no notifier of its own).
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn synced(rx: &mut mpsc::UnboundedReceiver<Result<usize, String>>) -> usize {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("a resync within 10 s")
        .expect("listener alive")
        .expect("the resync succeeded")
}

fn start(
    addr: String,
    tracker: &ChannelTracker,
) -> (
    mpsc::UnboundedReceiver<Result<usize, String>>,
    CancellationToken,
    tokio::task::JoinHandle<librevox::Result<()>>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let listener = Arc::new(Tracked {
        tracker: tracker.clone(),
        synced: tx,
    });
    let mut settings = InboundSettings::new(addr);
    settings.backoff = Backoff::new(Duration::from_millis(20), Duration::from_millis(100));
    let token = CancellationToken::new();
    let task = tokio::spawn(run_inbound(listener, settings, token.clone()));
    (rx, token, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_tracked_from_their_events() {
    let sim = switch().await;
    let tracker = ChannelTracker::new().with_variables(["sip_call_id"]);
    let (mut rx, token, task) = start(sim.local_addr().unwrap().to_string(), &tracker);
    assert_eq!(synced(&mut rx).await, 0);

    let a = sim.place_call(call("1001", "cid-a"));
    let b = sim.place_call(call("1002", "cid-b"));
    until("both calls answered in the tracker", || {
        [&a, &b].iter().all(|h| {
            tracker.get(&h.uuid).is_some_and(|c| {
                c.answered_at.is_some() && c.call_state == Some(CallState::from("ACTIVE"))
            })
        })
    })
    .await;
    let ca = tracker.get(&a.uuid).unwrap();
    assert_eq!(ca.caller_number.as_deref(), Some("1001"));
    assert_eq!(ca.callee_number.as_deref(), Some("answered"));
    assert_eq!(ca.direction.as_deref(), Some("inbound"));
    assert_eq!(
        ca.variables.get("sip_call_id").map(String::as_str),
        Some("cid-a")
    );
    assert_eq!(tracked(&tracker), live(&sim));

    assert!(sim.hangup(&a.uuid, "NORMAL_CLEARING"));
    until("the hung-up call gone", || tracker.get(&a.uuid).is_none()).await;
    assert_eq!(tracked(&tracker), vec![b.uuid.clone()]);

    token.cancel();
    tokio::time::timeout(WAIT, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_in_the_middle_of_calls_is_repaired_by_the_resync() {
    let sim = switch().await;
    let proxy = FaultProxy::start(sim.local_addr().unwrap()).await.unwrap();
    let tracker = ChannelTracker::new().with_variables(["sip_call_id"]);
    let (mut rx, token, task) = start(proxy.addr().to_string(), &tracker);
    assert_eq!(synced(&mut rx).await, 0);

    let a = sim.place_call(call("1001", "cid-a"));
    let b = sim.place_call(call("1002", "cid-b"));
    until("both calls answered", || {
        [&a, &b].iter().all(|h| {
            tracker
                .get(&h.uuid)
                .is_some_and(|c| c.answered_at.is_some())
        })
    })
    .await;
    let b_before = tracker.get(&b.uuid).unwrap();

    // The connection dies, and every attempt to reconnect dies too, while a
    // call ends and another begins: the tracker hears of neither.
    let cut = proxy.add(Rule::new(Fault::Reset));
    proxy
        .wait_for(WAIT, |s| s.accepted >= 2)
        .await
        .expect("the listener dialled again");
    assert!(sim.hangup(&a.uuid, "NORMAL_CLEARING"));
    let c = sim.place_call(call("1003", "cid-c"));
    sim.wait_for(WAIT, |s| {
        s.channel(&c.uuid)
            .is_some_and(|ch| ch.call_state == "ACTIVE")
            && s.channel(&a.uuid)
                .is_none_or(|ch| ch.hangup_cause.is_some())
    })
    .await
    .expect("the switch moved on");
    assert!(tracker.get(&a.uuid).is_some(), "stale until the resync");
    assert!(tracker.get(&c.uuid).is_none(), "unknown until the resync");

    proxy.remove(cut);
    let n = synced(&mut rx).await;
    assert_eq!(n, 2);
    let mut want = vec![b.uuid.clone(), c.uuid.clone()];
    want.sort();
    assert_eq!(tracked(&tracker), want);
    assert_eq!(tracked(&tracker), live(&sim));
    let cc = tracker.get(&c.uuid).unwrap();
    assert_eq!(cc.caller_number.as_deref(), Some("1003"));
    assert_eq!(cc.callee_number.as_deref(), Some("answered"));
    assert_eq!(cc.call_state, Some(CallState::from("ACTIVE")));
    assert!(cc.answered_at.is_some(), "{cc:?}");
    assert_eq!(
        cc.variables.get("sip_call_id").map(String::as_str),
        Some("cid-c")
    );
    let b_after = tracker.get(&b.uuid).unwrap();
    assert_eq!(b_after.answered_at, b_before.answered_at);
    assert_eq!(b_after.caller_number, b_before.caller_number);

    // And events are applied again.
    assert!(sim.hangup(&b.uuid, "NORMAL_CLEARING"));
    until("b gone after the reconnect", || {
        tracker.get(&b.uuid).is_none()
    })
    .await;

    token.cancel();
    tokio::time::timeout(WAIT, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
