//! The outbound handshake refuses a `connect` reply it cannot serve a call
//! from (issue 13.4): no channel data, or channel data without `Unique-ID`.
//! The session ends with `Error::Protocol` before `session_initiated`, sends
//! nothing after `connect` but its `exit`, and closes the connection.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use librevox::listener::{run_outbound_session, OutboundListener, OutboundSettings, Session};
use librevox::Error;
use support::peer::{connect_reply, reply, Peer};

struct Flag(Arc<AtomicBool>);

impl OutboundListener for Flag {
    async fn session_initiated(&self, _call: &Session) -> librevox::Result<()> {
        self.0.store(true, Ordering::SeqCst);
        Ok(())
    }
}

/// Answers `connect` with `answer`; returns the session's result, whether
/// `session_initiated` ran. The client's only packet after `connect` must be
/// its `exit` goodbye; the peer then closes, as FreeSWITCH does.
async fn refused(answer: Vec<u8>) -> (librevox::Result<()>, bool) {
    let (client, server) = tokio::io::duplex(1 << 16);
    let ran = Arc::new(AtomicBool::new(false));
    let handler = Flag(ran.clone());
    let session = tokio::spawn(async move {
        run_outbound_session(client, handler, &OutboundSettings::default()).await
    });
    let mut peer = Peer::new(server);
    assert_eq!(peer.packet().await.raw.as_ref(), b"connect\n\n");
    peer.send(answer).await;
    assert_eq!(peer.packet().await.raw.as_ref(), b"exit\n\n");
    drop(peer);
    let result = tokio::time::timeout(Duration::from_secs(10), session)
        .await
        .expect("the session ended")
        .unwrap();
    (result, ran.load(Ordering::SeqCst))
}

fn assert_protocol(result: librevox::Result<()>, what: &str) {
    match result {
        Err(Error::Protocol(msg)) => assert!(msg.contains(what), "{msg}"),
        other => panic!("expected a protocol error about {what}, got {other:?}"),
    }
}

#[tokio::test]
async fn channel_data_without_unique_id_is_refused() {
    let data = String::from_utf8(connect_reply()).unwrap();
    let stripped: String = data
        .lines()
        .filter(|l| !l.starts_with("Unique-ID:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(stripped.contains("Event-Name: CHANNEL_DATA"));
    assert!(!stripped.lines().any(|l| l.starts_with("Unique-ID:")));
    let (result, ran) = refused(stripped.into_bytes()).await;
    assert_protocol(result, "no Unique-ID");
    assert!(!ran, "session_initiated ran for a channel with no UUID");
}

#[tokio::test]
async fn a_connect_reply_that_is_not_channel_data_is_refused() {
    let (result, ran) = refused(reply("+OK").into_bytes()).await;
    assert_protocol(result, "no channel data");
    assert!(!ran);
}

#[tokio::test]
async fn the_captured_connect_reply_still_starts_a_session() {
    // The positive control: the same helper with the real reply gets past
    // `connect` (the next packet is myevents).
    let (client, server) = tokio::io::duplex(1 << 16);
    let ran = Arc::new(AtomicBool::new(false));
    let handler = Flag(ran.clone());
    let _session = tokio::spawn(async move {
        run_outbound_session(client, handler, &OutboundSettings::default()).await
    });
    let mut peer = Peer::new(server);
    assert_eq!(peer.packet().await.raw.as_ref(), b"connect\n\n");
    peer.send(connect_reply()).await;
    assert_eq!(peer.packet().await.raw.as_ref(), b"myevents\n\n");
}
