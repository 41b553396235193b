//! Liveness: a silent peer is probed with `api version`, and a peer that
//! does not answer the probe (a half-open connection) is closed with
//! `Error::Unresponsive`; an inbound listener then reconnects.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use librevox::{Connection, ConnectionConfig, Error, Liveness};
use support::peer::{api, Peer};

const INTERVAL: Duration = Duration::from_millis(200);
const TIMEOUT: Duration = Duration::from_millis(300);
/// Scheduling slack allowed on top of a deadline on a loaded 2-core machine.
const SLACK: Duration = Duration::from_secs(2);

fn config(liveness: Option<Liveness>) -> ConnectionConfig {
    ConnectionConfig {
        liveness,
        ..ConnectionConfig::default()
    }
}

#[tokio::test]
async fn a_silent_peer_is_probed_and_an_answer_keeps_the_connection() {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let started = Instant::now();
    let (conn, _events) = Connection::new(client, config(Some(Liveness::new(INTERVAL, TIMEOUT))));
    let mut peer = Peer::new(server);

    let probe = peer.packet().await;
    let after = started.elapsed();
    assert_eq!(probe.raw.as_ref(), b"api version\n\n");
    assert!(
        after >= INTERVAL,
        "probed after {after:?}, before the interval"
    );
    assert!(after < INTERVAL + SLACK, "probed only after {after:?}");
    peer.send(api("FreeSWITCH Version 1.10.11-release ( 64bit)\n"))
        .await;

    // The probe's reply went to the probe, not to the next caller.
    let call = tokio::spawn({
        let conn = conn.clone();
        async move { conn.api("status").await }
    });
    assert_eq!(peer.packet().await.raw.as_ref(), b"api status\n\n");
    peer.send(api("UP 0 years\n")).await;
    let status = call.await.unwrap().unwrap();
    assert_eq!(status.text(), "UP 0 years\n");
    assert!(!conn.is_closed());
}

#[tokio::test]
async fn an_unanswered_probe_closes_with_unresponsive_and_fails_waiters() {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let (conn, _events) = Connection::new(client, config(Some(Liveness::new(INTERVAL, TIMEOUT))));
    let mut peer = Peer::new(server);

    assert_eq!(peer.packet().await.raw.as_ref(), b"api version\n\n");
    let probed = Instant::now();
    // A caller waiting when the peer goes quiet learns why.
    let call = tokio::spawn({
        let conn = conn.clone();
        async move { conn.api("status").await }
    });
    assert_eq!(peer.packet().await.raw.as_ref(), b"api status\n\n");

    let reason = tokio::time::timeout(TIMEOUT + SLACK, conn.closed())
        .await
        .expect("closed within the probe's timeout");
    let took = probed.elapsed();
    assert!(took >= TIMEOUT, "closed {took:?} after the probe");
    let Error::Unresponsive {
        peer: who,
        silent_for,
    } = &reason
    else {
        panic!("expected Unresponsive, got {reason:?}")
    };
    assert_eq!(who, "the peer");
    assert!(*silent_for >= INTERVAL + TIMEOUT, "{silent_for:?}");
    assert!(reason.is_closed());
    assert!(reason.to_string().starts_with("the peer sent nothing for "));
    assert!(reason
        .to_string()
        .ends_with("did not answer a liveness probe; connection closed"));

    let failed = call.await.unwrap().unwrap_err();
    assert!(matches!(failed, Error::Unresponsive { .. }), "{failed:?}");
    // The socket is closed on our side too.
    assert_eq!(peer.until_closed().await, b"");
}

#[tokio::test]
async fn traffic_defers_the_probe() {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let (conn, _events) = Connection::new(client, config(Some(Liveness::new(INTERVAL, TIMEOUT))));
    let mut peer = Peer::new(server);
    // Frames every 50 ms for 3 intervals: the connection is never silent
    // for an interval, so the first packet it sends is not a probe.
    let heartbeats = 12;
    for _ in 0..heartbeats {
        peer.send(support::peer::event(&[("Event-Name", "HEARTBEAT")], None))
            .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let call = tokio::spawn({
        let conn = conn.clone();
        async move { conn.api("status").await }
    });
    assert_eq!(peer.packet().await.raw.as_ref(), b"api status\n\n");
    peer.send(api("UP\n")).await;
    call.await.unwrap().unwrap();
    // Then, silent, it is probed.
    assert_eq!(peer.packet().await.raw.as_ref(), b"api version\n\n");
}

#[tokio::test]
async fn liveness_off_sends_no_probe() {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let (conn, _events) = Connection::new(client, config(None));
    let mut peer = Peer::new(server);
    // Three times the interval a probe would have come after: nothing.
    let mut buf = [0u8; 64];
    let waited = tokio::time::timeout(INTERVAL * 3, async {
        use tokio::io::AsyncReadExt;
        peer.io.read(&mut buf).await
    })
    .await;
    assert!(waited.is_err(), "the client sent {waited:?}");
    assert!(!conn.is_closed());
}

#[cfg(feature = "simulator")]
mod frozen_switch {
    use super::*;
    use librevox::listener::{run_inbound, Backoff, Inbound, InboundListener, InboundSettings};
    use librevox::simulator::{Fault, FaultProxy, Rule, Simulator, SimulatorConfig};
    use librevox::Event;
    use tokio::sync::mpsc;
    use tokio_util::sync::CancellationToken;

    struct Watcher {
        tx: mpsc::UnboundedSender<String>,
        reconnects: Mutex<u32>,
    }

    impl InboundListener for Watcher {
        async fn connection_completed(&self, _ctx: &Inbound) {
            let _ = self.tx.send("completed".into());
        }
        async fn reconnected(&self, _ctx: &Inbound) {
            *self.reconnects.lock().unwrap() += 1;
            let _ = self.tx.send("reconnected".into());
        }
        async fn handle_event(&self, _ctx: &Inbound, event: &Event) {
            if let Some(i) = event.header("X-I") {
                let _ = self.tx.send(format!("event:{i}"));
            }
        }
    }

    async fn next(rx: &mut mpsc::UnboundedReceiver<String>) -> String {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("nothing recorded")
            .unwrap()
    }

    /// The next event the listener reports, skipping others (the
    /// simulator's own).
    async fn next_event(rx: &mut mpsc::UnboundedReceiver<String>) -> String {
        loop {
            let got = next(rx).await;
            if got.starts_with("event:") {
                return got;
            }
        }
    }

    /// A switch that stops reading and writing without closing (frozen by a
    /// stall in both directions): the listener notices within interval +
    /// timeout, reconnects once the switch thaws, and gets events again.
    #[tokio::test]
    async fn an_inbound_listener_notices_a_frozen_switch_and_recovers() {
        let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
        let proxy = FaultProxy::start(sim.local_addr().unwrap()).await.unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let watcher = Arc::new(Watcher {
            tx,
            reconnects: Mutex::new(0),
        });
        let mut settings = InboundSettings::new(proxy.addr().to_string());
        settings.backoff = Backoff::new(Duration::from_millis(20), Duration::from_millis(100));
        settings.connect_timeout = Duration::from_millis(500);
        settings.config.liveness = Some(Liveness::new(INTERVAL, TIMEOUT));
        let token = CancellationToken::new();
        let task = tokio::spawn(run_inbound(watcher.clone(), settings, token.clone()));

        assert_eq!(next(&mut rx).await, "completed");
        sim.fire_event("HEARTBEAT", &[("X-I", "1")], None);
        assert_eq!(next_event(&mut rx).await, "event:1");

        let freeze = proxy.add(Rule::new(Fault::Stall));
        let frozen_at = Instant::now();
        // The listener gives up on the frozen connection and dials again
        // (the proxy accepts; the stalled switch never greets).
        proxy
            .wait_for(INTERVAL + TIMEOUT + SLACK, |s| s.accepted >= 2)
            .await
            .expect("the listener noticed the frozen switch");
        let detected = frozen_at.elapsed();
        eprintln!("frozen switch detected after {detected:?} (interval {INTERVAL:?} + timeout {TIMEOUT:?})");
        assert!(
            detected >= INTERVAL + TIMEOUT - Duration::from_millis(5),
            "{detected:?}"
        );
        assert_eq!(*watcher.reconnects.lock().unwrap(), 0);

        proxy.remove(freeze);
        assert_eq!(next(&mut rx).await, "reconnected");
        assert_eq!(next(&mut rx).await, "completed");
        assert_eq!(*watcher.reconnects.lock().unwrap(), 1);
        sim.fire_event("HEARTBEAT", &[("X-I", "2")], None);
        assert_eq!(next_event(&mut rx).await, "event:2");

        token.cancel();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the listener stopped")
            .unwrap()
            .unwrap();
        sim.shutdown().await;
    }
}
