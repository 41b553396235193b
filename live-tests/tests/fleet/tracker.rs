//! `ChannelTracker` against the real switch: its resync reads the real
//! `show channels as json` and `uuid_dump <uuid> json`. Calls parked before
//! the tracker connects, or while its socket is down, appear; calls hung up
//! go, from their events or, when they ended during the gap, by the resync.

use std::net::SocketAddr;

use librevox::commands::Originate;
use librevox::listener::{run_inbound, Backoff, Inbound, InboundListener};
use librevox::new_uuid;
use librevox::protocol::{CallState, ChannelState};
use librevox::simulator::{Fault, FaultProxy, Rule};
use librevox::tracker::{ChannelTracker, TrackedChannel};
use librevox_live_tests::{tag, Calls, Watcher};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::*;

/// Answered by the B leg's inline dialplan, both legs parked.
const PARKED: &str = "loopback/^^;answer;park/default/inline";

/// The channel variable that tags this test's calls.
const TAG_VAR: &str = "fleet_tracker";

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

async fn synced(rx: &mut mpsc::UnboundedReceiver<Result<usize, String>>) -> usize {
    within("a resync", WAIT, rx.recv())
        .await
        .expect("the listener is alive")
        .expect("the resync succeeded")
}

/// One parked loopback call: both legs, and each leg's CHANNEL_PARK as the
/// switch delivered it (what the tracker's fields are compared with).
struct Call {
    a: String,
    b: String,
    a_park: Event,
    b_park: Event,
}

async fn park(
    socket: &CommandSocket,
    calls: &Calls,
    watcher: &mut Watcher,
    tag: &str,
    n: usize,
) -> Call {
    let a = calls.add(new_uuid());
    let o = Originate::new(PARKED)
        .var("origination_uuid", &a)
        .var(TAG_VAR, tag)
        .caller_id("tracker", format!("{tag}-{n}"));
    within("originate", WAIT, socket.originate(&o))
        .await
        .expect("originate a parked call");
    let a_park = watcher
        .wait(&format!("CHANNEL_PARK of the A leg {a}"), |e| {
            e.is("CHANNEL_PARK") && e.unique_id() == Some(a.as_str())
        })
        .await;
    let b_park = watcher
        .wait(&format!("CHANNEL_PARK of the B leg of {a}"), |e| {
            e.is("CHANNEL_PARK")
                && e.variable("loopback_leg") == Some("B")
                && e.variable("other_loopback_leg_uuid") == Some(a.as_str())
        })
        .await;
    let b = b_park.unique_id().expect("Unique-ID").to_owned();
    Call {
        a,
        b,
        a_park,
        b_park,
    }
}

/// Hangs up the call (its A leg) and waits until both legs are destroyed.
async fn hang_up(socket: &CommandSocket, watcher: &mut Watcher, call: &Call) {
    within("uuid_kill", WAIT, socket.uuid_kill(&call.a, None))
        .await
        .expect("uuid_kill");
    watcher.destroyed(&call.a).await;
    watcher.destroyed(&call.b).await;
}

/// The switch's channels, from its own `show channels as json`.
async fn switch_channels(socket: &CommandSocket) -> Vec<String> {
    let reply = within("show channels", WAIT, socket.api("show channels as json"))
        .await
        .expect("show channels as json");
    let v: serde_json::Value = serde_json::from_str(&reply.text()).expect("JSON");
    let mut uuids: Vec<String> = v["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| r["uuid"].as_str().expect("a uuid").to_owned())
                .collect()
        })
        .unwrap_or_default();
    uuids.sort();
    uuids
}

fn tracked(t: &ChannelTracker) -> Vec<String> {
    t.channels().into_iter().map(|c| c.uuid).collect()
}

/// Waits (at most [`WAIT`]) until the tracker holds exactly the switch's
/// channels; fails with both lists.
async fn same_as_switch(socket: &CommandSocket, tracker: &ChannelTracker, when: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let live = switch_channels(socket).await;
        let mine = tracked(tracker);
        if live == mine {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{when}: the tracker holds {mine:?}, the switch {live:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (at most [`WAIT`]) until `f` holds for the tracker.
async fn until(what: &str, tracker: &ChannelTracker, f: impl Fn(&ChannelTracker) -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !f(tracker) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out: {what}; the tracker holds {:?}",
            tracked(tracker)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The tracker's view of a parked leg agrees with the leg's CHANNEL_PARK.
fn assert_leg(ch: Option<TrackedChannel>, park: &Event, when: &str) {
    let uuid = park.unique_id().unwrap();
    let ch = ch.unwrap_or_else(|| panic!("{when}: {uuid} not tracked"));
    // A field is compared where the park event carries it: the switch drops
    // some headers later in a call (an inline B leg's
    // Caller-Destination-Number after CHANNEL_CREATE), and the tracker keeps
    // the last value it saw.
    let fields = [
        ("Channel-Name", &ch.name),
        ("Call-Direction", &ch.direction),
        ("Caller-Caller-ID-Number", &ch.caller_number),
        ("Caller-Destination-Number", &ch.callee_number),
    ];
    let mut compared = 0;
    for (header, field) in fields {
        if let Some(v) = park.header(header).filter(|v| !v.is_empty()) {
            assert_eq!(field.as_deref(), Some(v), "{when}: {header} of {uuid}");
            compared += 1;
        }
    }
    assert!(
        compared >= 3,
        "{when}: the park event of {uuid} lacks channel data"
    );
    assert_eq!(ch.state, Some(ChannelState::from("CS_EXECUTE")), "{when}");
    assert_eq!(ch.call_state, Some(CallState::from("ACTIVE")), "{when}");
    assert!(ch.answered_at.is_some(), "{when}: answered: {ch:?}");
    assert_eq!(
        ch.bridged_to, None,
        "{when}: a parked leg is bridged to none"
    );
    assert_eq!(
        ch.variables.get(TAG_VAR).map(String::as_str),
        park.variable(TAG_VAR),
        "{when}: the variable asked for"
    );
}

fn assert_call(tracker: &ChannelTracker, call: &Call, tag: &str, when: &str) {
    assert_eq!(
        call.a_park.variable(TAG_VAR),
        Some(tag),
        "the A leg carries the tag"
    );
    assert_leg(tracker.get(&call.a), &call.a_park, when);
    assert_leg(tracker.get(&call.b), &call.b_park, when);
}

fn known(tracker: &ChannelTracker, call: &Call) -> bool {
    tracker.get(&call.a).is_some() && tracker.get(&call.b).is_some()
}

fn gone(tracker: &ChannelTracker, call: &Call) -> bool {
    tracker.get(&call.a).is_none() && tracker.get(&call.b).is_none()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tracker_follows_the_real_switch_and_resyncs_after_a_gap() {
    let _one = SERIAL.lock().await;
    let switch = Switch::from_env();
    let socket = switch.connect().await;
    let calls = Calls::new(&switch);
    let mut watcher = Watcher::new(&switch, &["CHANNEL_PARK", "CHANNEL_DESTROY"], &[]).await;
    let tag = tag("fleet-tracker");

    // Parked before the tracker connects: only the resync can know them.
    let p1 = park(&socket, &calls, &mut watcher, &tag, 1).await;
    let p2 = park(&socket, &calls, &mut watcher, &tag, 2).await;

    let upstream: SocketAddr = tokio::net::lookup_host(switch.addr())
        .await
        .expect("the switch's address resolves")
        .next()
        .expect("an address");
    let proxy = FaultProxy::start(upstream).await.expect("a proxy");
    let tracker = ChannelTracker::new().with_variables([TAG_VAR]);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let listener = Arc::new(Tracked {
        tracker: tracker.clone(),
        synced: tx,
    });
    let mut settings = switch.inbound_settings();
    settings.addr = proxy.addr().to_string();
    settings.backoff = Backoff::new(Duration::from_millis(20), Duration::from_millis(100));
    let token = CancellationToken::new();
    let task = tokio::spawn(run_inbound(listener, settings, token.clone()));

    let first = synced(&mut rx).await;
    // The switch's `show channels` lags its channels by its core database's
    // write batches: a call parked just before may be listed only by the
    // resync's second list.
    let first_missed = usize::from(!known(&tracker, &p1)) + usize::from(!known(&tracker, &p2));
    until("the calls parked before the connect", &tracker, |t| {
        known(t, &p1) && known(t, &p2)
    })
    .await;
    assert_call(&tracker, &p1, &tag, "after the first resync");
    assert_call(&tracker, &p2, &tag, "after the first resync");
    same_as_switch(&socket, &tracker, "after the first resync").await;

    // Connected: a new call appears and a hung-up one goes, from events.
    let p3 = park(&socket, &calls, &mut watcher, &tag, 3).await;
    until("the new call tracked from its events", &tracker, |t| {
        known(t, &p3)
    })
    .await;
    hang_up(&socket, &mut watcher, &p1).await;
    until("the hung-up call gone", &tracker, |t| gone(t, &p1)).await;
    same_as_switch(&socket, &tracker, "while connected").await;
    assert_call(&tracker, &p3, &tag, "from its events");

    // The socket dies, and every reconnect too, while one call ends and
    // another begins: the tracker hears of neither.
    let cut = proxy.add(Rule::new(Fault::Reset));
    proxy
        .wait_for(WAIT, |s| s.accepted >= 2)
        .await
        .expect("the listener dialled again");
    hang_up(&socket, &mut watcher, &p2).await;
    let p4 = park(&socket, &calls, &mut watcher, &tag, 4).await;
    assert!(tracker.get(&p2.a).is_some(), "stale until the resync");
    assert!(tracker.get(&p4.a).is_none(), "unknown until the resync");

    proxy.remove(cut);
    let second = synced(&mut rx).await;
    let second_missed = usize::from(!known(&tracker, &p4));
    until(
        "the call hung up during the gap gone, the new one known",
        &tracker,
        |t| gone(t, &p2) && known(t, &p4),
    )
    .await;
    assert_call(&tracker, &p3, &tag, "after the second resync");
    assert_call(&tracker, &p4, &tag, "after the second resync");
    same_as_switch(&socket, &tracker, "after the second resync").await;
    println!(
        "tracker (real switch): {first} channels after the first resync ({first_missed} of 2 \
         calls parked before it left to its second list), {second} after the reconnect's \
         ({second_missed} of 1 left to its second list); calls parked before, during and \
         after the gap tracked, hung-up ones gone"
    );

    hang_up(&socket, &mut watcher, &p3).await;
    hang_up(&socket, &mut watcher, &p4).await;
    until("every call of the test gone", &tracker, |t| {
        gone(t, &p3) && gone(t, &p4)
    })
    .await;
    calls.cleanup(&socket).await;
    token.cancel();
    within("the listener to stop", WAIT, task)
        .await
        .expect("no panic")
        .expect("stopped without error");
}
