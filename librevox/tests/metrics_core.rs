//! The connection core's series, scraped from the built-in exporter:
//! commands and reply times by kind, events dropped by policy, the event
//! backlog, liveness probes and failures. A test binary of its own: the
//! recorder is process-wide, and these exact counts must not see other
//! tests' connections.
#![cfg(feature = "prometheus")]

mod support;

use std::time::Duration;

use librevox::protocol::Message;
use librevox::{Connection, ConnectionConfig, Error, EventStream, Liveness, OverflowPolicy};
use support::peer::{api, event, Peer};
use support::scrape::{metrics, value};

fn pair(config: ConnectionConfig) -> (Connection, EventStream, Peer) {
    let (client, server) = tokio::io::duplex(1 << 16);
    let (conn, events) = Connection::new(client, config);
    (conn, events, Peer::new(server))
}

/// `n` CUSTOM events in one write, so one read takes them all.
fn flood(n: usize) -> String {
    (0..n)
        .map(|i| event(&[("Event-Name", "CUSTOM"), ("X-I", &i.to_string())], None))
        .collect()
}

/// One `api` round trip: every frame the peer sent before its reply has
/// been through the connection's socket task.
async fn round_trip(conn: &Connection, peer: &mut Peer) {
    let c = conn.clone();
    let t = tokio::spawn(async move { c.api("status").await });
    assert_eq!(peer.packet().await.command, "api status");
    peer.send(api("UP")).await;
    t.await.unwrap().unwrap();
}

#[tokio::test]
async fn core_series_count_commands_drops_backlog_and_probes() {
    let server = librevox::telemetry::serve("127.0.0.1:0").await.unwrap();
    let http = server.local_addr();

    // DropNewest with room for 4: 20 events, 16 dropped, 4 waiting.
    let (conn, mut events, mut peer) = pair(ConnectionConfig {
        event_capacity: 4,
        overflow: OverflowPolicy::DropNewest,
        ..ConnectionConfig::default()
    });
    round_trip(&conn, &mut peer).await;
    peer.send(flood(20)).await;
    round_trip(&conn, &mut peer).await;
    let text = metrics(http).await;
    assert_eq!(value(&text, r#"librevox_commands_total{kind="api"}"#), 2.0);
    assert_eq!(
        value(&text, r#"librevox_reply_seconds_count{kind="api"}"#),
        2.0
    );
    assert!(value(&text, r#"librevox_reply_seconds_sum{kind="api"}"#) > 0.0);
    assert_eq!(conn.dropped_events(), 16);
    assert_eq!(
        value(
            &text,
            r#"librevox_events_dropped_total{policy="drop_newest"}"#
        ),
        16.0
    );
    assert_eq!(value(&text, "librevox_event_backlog"), 4.0);
    // The consumer takes them: the backlog empties.
    for _ in 0..4 {
        assert!(matches!(events.try_recv(), Some(Message::Event(_))));
    }
    assert_eq!(value(&metrics(http).await, "librevox_event_backlog"), 0.0);
    drop((conn, events, peer));

    // Backpressure with room for 2 and at most 1 parked: a flood while a
    // reply is awaited closes the connection; what it read but could not
    // deliver is counted as dropped.
    let (conn, mut events, mut peer) = pair(ConnectionConfig {
        event_capacity: 2,
        max_backlog: 1,
        ..ConnectionConfig::default()
    });
    let c = conn.clone();
    let waiting = tokio::spawn(async move { c.api("status").await });
    assert_eq!(peer.packet().await.command, "api status");
    peer.send(flood(10)).await;
    let err = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the backlog closes the connection")
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::EventBacklog { limit: 1 }), "{err:?}");
    let mut received = 0;
    while let Some(msg) = tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("the stream ends")
    {
        assert!(matches!(msg, Message::Event(_)), "{msg:?}");
        received += 1;
    }
    let text = metrics(http).await;
    let lost = value(
        &text,
        r#"librevox_events_dropped_total{policy="backpressure"}"#,
    );
    assert!(lost >= 1.0, "{text}");
    assert_eq!(received as f64 + lost, 10.0, "{text}");
    assert_eq!(value(&text, "librevox_event_backlog"), 0.0);
    drop((conn, events, peer));

    // A peer that never answers the liveness probe.
    let (conn, _events, mut peer) = pair(ConnectionConfig {
        liveness: Some(Liveness::new(
            Duration::from_millis(100),
            Duration::from_millis(100),
        )),
        ..ConnectionConfig::default()
    });
    assert_eq!(peer.packet().await.command, "api version");
    let closed = tokio::time::timeout(Duration::from_secs(10), conn.closed())
        .await
        .expect("liveness closes the connection");
    assert!(matches!(closed, Error::Unresponsive { .. }), "{closed:?}");
    let text = metrics(http).await;
    assert_eq!(value(&text, "librevox_liveness_probes_total"), 1.0);
    assert_eq!(value(&text, "librevox_liveness_failures_total"), 1.0);
    // The probe is an api command; it got no reply.
    assert_eq!(value(&text, r#"librevox_commands_total{kind="api"}"#), 4.0);
    assert_eq!(
        value(&text, r#"librevox_reply_seconds_count{kind="api"}"#),
        2.0
    );
}
