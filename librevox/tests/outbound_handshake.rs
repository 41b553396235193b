//! The outbound handshake refuses a `connect` reply it cannot serve a call
//! from (issue 13.4): no channel data, or channel data without `Unique-ID`.
//! The session ends with `Error::Protocol` before `session_initiated`, sends
//! nothing after `connect`, and closes the connection at once (13.7: no
//! `exit`, no wait for the peer's close). A peer that never answers is
//! closed at the setup timeout the same way.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use librevox::listener::{run_outbound_session, OutboundListener, OutboundSettings, Session};
use librevox::Error;
use support::peer::{connect_reply, reply, Peer};
use tokio::time::Instant;

struct Flag(Arc<AtomicBool>);

impl OutboundListener for Flag {
    async fn session_initiated(&self, _call: &Session) -> librevox::Result<()> {
        self.0.store(true, Ordering::SeqCst);
        Ok(())
    }
}

/// Answers `connect` with `answer`; returns the session's result, whether
/// `session_initiated` ran. The client must send nothing after `connect`
/// and close the connection at once (on the paused clock: in no time).
async fn refused(answer: Vec<u8>) -> (librevox::Result<()>, bool) {
    let (client, server) = tokio::io::duplex(1 << 16);
    let ran = Arc::new(AtomicBool::new(false));
    let handler = Flag(ran.clone());
    let session = tokio::spawn(async move {
        run_outbound_session(client, handler, &OutboundSettings::default()).await
    });
    let mut peer = Peer::new(server);
    assert_eq!(peer.packet().await.raw.as_ref(), b"connect\n\n");
    let answered = Instant::now();
    peer.send(answer).await;
    assert_eq!(peer.until_closed().await, b"", "nothing after `connect`");
    // No timer ran out first (tokio's timers tick in milliseconds).
    let after = answered.elapsed();
    assert!(after < Duration::from_millis(1), "closed after {after:?}");
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

#[tokio::test(start_paused = true)]
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

#[tokio::test(start_paused = true)]
async fn a_connect_reply_that_is_not_channel_data_is_refused() {
    let (result, ran) = refused(reply("+OK").into_bytes()).await;
    assert_protocol(result, "no channel data");
    assert!(!ran);
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_never_answers_is_closed_at_the_setup_timeout() {
    const SETUP: Duration = Duration::from_secs(3);
    let (client, server) = tokio::io::duplex(1 << 16);
    let ran = Arc::new(AtomicBool::new(false));
    let handler = Flag(ran.clone());
    let settings = OutboundSettings {
        setup_timeout: SETUP,
        ..OutboundSettings::default()
    };
    let started = Instant::now();
    let session =
        tokio::spawn(async move { run_outbound_session(client, handler, &settings).await });
    let mut peer = Peer::new(server);
    assert_eq!(peer.packet().await.raw.as_ref(), b"connect\n\n");
    // Silence. The socket closes at the deadline, with no `exit` and no
    // wait for a close after it.
    assert_eq!(peer.until_closed().await, b"", "nothing after `connect`");
    let closed = started.elapsed();
    assert!(
        closed >= SETUP && closed <= SETUP + Duration::from_millis(1),
        "closed after {closed:?}"
    );
    let result = tokio::time::timeout(Duration::from_secs(1), session)
        .await
        .expect("the session ended with the close")
        .unwrap();
    assert!(
        matches!(result, Err(Error::Timeout { after, .. }) if after == SETUP),
        "{result:?}"
    );
    assert!(!ran.load(Ordering::SeqCst));
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
