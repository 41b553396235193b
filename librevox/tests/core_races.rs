//! The connection core under concurrency (issue 18): callers write their
//! own commands while the driver reads, on a multi-thread runtime, so the
//! windows between queueing a promise, writing, reading and resolving are
//! crossed by real parallelism. Each test asserts exact alignment: every
//! answered caller gets the reply to its own command, events are never
//! taken for replies and keep their order.

mod support;

use std::time::Duration;

use librevox::protocol::Message;
use librevox::{Connection, ConnectionConfig, Error};
use support::peer::{api, event, Peer};

fn pair(config: ConnectionConfig) -> (Connection, librevox::EventStream, Peer) {
    let (client, server) = tokio::io::duplex(1 << 16);
    let (conn, events) = Connection::new(client, config);
    (conn, events, Peer::new(server))
}

/// The peer answers every `api echo X` with `X`, preceded by an event
/// numbered in order, until it has answered `total` commands; reads as many
/// packets as arrive before answering them in one write (so replies to
/// pipelined callers arrive together, as from FreeSWITCH).
async fn echo_with_events(mut peer: Peer, total: usize) -> (Peer, u64) {
    let mut answered = 0;
    let mut seq = 0u64;
    while answered < total {
        let p = peer.packet().await;
        let mut out = String::new();
        let mut batch = vec![p];
        // Whatever else is already buffered, answered in the same write.
        while let Some(p) = librevox::protocol::packet::read_packet(&mut peer.buf).unwrap() {
            batch.push(p);
        }
        for p in batch {
            let arg = p
                .command
                .strip_prefix("api echo ")
                .unwrap_or_else(|| panic!("unexpected command {:?}", p.command))
                .to_owned();
            seq += 1;
            out.push_str(&event(
                &[
                    ("Event-Name", "CUSTOM"),
                    ("Event-Sequence", &seq.to_string()),
                ],
                None,
            ));
            out.push_str(&api(&arg));
            answered += 1;
        }
        peer.send(out).await;
    }
    (peer, seq)
}

/// Events arrive in the order they were sent, none lost, none a reply.
async fn drain_events(mut events: librevox::EventStream, expected: u64) {
    let mut next = 1u64;
    while next <= expected {
        let msg = tokio::time::timeout(Duration::from_secs(20), events.recv())
            .await
            .expect("an event within 20 s")
            .expect("the stream stays open");
        match msg {
            Message::Event(e) => {
                assert_eq!(e.header("Event-Sequence"), Some(next.to_string().as_str()));
                next += 1;
            }
            other => panic!("expected an event, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_callers_on_two_workers_each_get_their_own_reply() {
    const TASKS: usize = 16;
    const EACH: usize = 300;
    let (conn, events, peer) = pair(ConnectionConfig::default());
    let peer = tokio::spawn(echo_with_events(peer, TASKS * EACH));
    let events = tokio::spawn(drain_events(events, (TASKS * EACH) as u64));
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let c = conn.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..EACH {
                let arg = format!("{t}-{i}");
                let r = c.api(&format!("echo {arg}")).await.unwrap();
                assert_eq!(r.text(), arg);
            }
        }));
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(30), t)
            .await
            .expect("callers finish")
            .unwrap();
    }
    let (_peer, sent) = peer.await.unwrap();
    assert_eq!(sent, (TASKS * EACH) as u64);
    events.await.unwrap();
}

/// Callers dropped at every point of their round trip (before queueing,
/// after appending to the write buffer, after their own write, while their
/// reply is being read) on a multi-thread runtime: every command that
/// reached the socket is answered, and every caller still waiting gets the
/// reply to its own command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_dropped_at_any_point_keep_later_replies_aligned() {
    const TASKS: usize = 8;
    const EACH: usize = 200;
    let (conn, _events, mut peer) = pair(ConnectionConfig::default());
    let answering = tokio::spawn(async move {
        // Answers until the marker, with the argument; counts the commands.
        let mut seen = 0usize;
        loop {
            let p = peer.packet().await;
            let arg = p.command.strip_prefix("api echo ").unwrap().to_owned();
            peer.send(api(&arg)).await;
            if arg == "marker" {
                return seen;
            }
            seen += 1;
        }
    });
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let c = conn.clone();
        tasks.push(tokio::spawn(async move {
            let mut answered = 0usize;
            for i in 0..EACH {
                let arg = format!("{t}-{i}");
                let cmd = format!("echo {arg}");
                let call = c.api(&cmd);
                // Give up after a number of yields that varies by call:
                // 0 drops it before it is first polled, larger numbers at
                // later points of the round trip.
                let patience = (i * 7 + t * 3) % 11;
                let gave_up = async {
                    for _ in 0..patience {
                        tokio::task::yield_now().await;
                    }
                };
                tokio::select! {
                    biased;
                    r = call, if patience > 0 => {
                        assert_eq!(r.unwrap().text(), arg, "a reply for another command");
                        answered += 1;
                    }
                    _ = gave_up => {}
                }
            }
            answered
        }));
    }
    let mut answered = 0;
    for t in tasks {
        answered += tokio::time::timeout(Duration::from_secs(30), t)
            .await
            .expect("callers finish")
            .unwrap();
    }
    // After all that, a patient caller gets its own reply.
    let marker = conn.api("echo marker").await.unwrap();
    assert_eq!(marker.text(), "marker");
    let seen = answering.await.unwrap();
    assert!(
        (answered..=TASKS * EACH).contains(&seen),
        "{seen} commands reached the socket, {answered} callers were answered"
    );
}

/// The peer closes while many replies are outstanding and more callers are
/// queueing: every one fails with the close, at once (a 60 s reply
/// timeout would otherwise show), none hangs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_under_pipelined_load_fails_every_caller_at_once() {
    let config = ConnectionConfig {
        reply_timeout: Duration::from_secs(60),
        ..ConnectionConfig::default()
    };
    let (conn, _events, mut peer) = pair(config);
    let mut tasks = Vec::new();
    for t in 0..32 {
        let c = conn.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            loop {
                match c.api(&format!("echo {t}-{i}")).await {
                    Ok(r) => assert_eq!(r.text(), format!("{t}-{i}")),
                    Err(e) => return e,
                }
                i += 1;
            }
        }));
    }
    for _ in 0..500 {
        let p = peer.packet().await;
        let arg = p.command.strip_prefix("api echo ").unwrap().to_owned();
        peer.send(api(&arg)).await;
    }
    drop(peer);
    for t in tasks {
        let err = tokio::time::timeout(Duration::from_secs(10), t)
            .await
            .expect("a caller hangs after the close")
            .unwrap();
        // EOF, or a write into the closed socket: either ends the connection.
        assert!(
            err.is_closed() || matches!(err, Error::Io(_)),
            "expected the close, got {err}"
        );
    }
    assert!(conn.is_closed());
}

/// A command queued while the driver waits in a read (so the caller does
/// not wake it), then a flood that fills the event stream before the reply:
/// the driver must see the reply is awaited and read on past the full
/// stream (parking events) rather than stop reading with the reply behind
/// them. The land of the outbox first failed here (metrics_core).
#[tokio::test]
async fn a_reply_queued_just_before_a_flood_is_still_read() {
    let (conn, mut events, mut peer) = pair(ConnectionConfig {
        event_capacity: 2,
        max_backlog: 100,
        reply_timeout: Duration::from_secs(60),
        ..ConnectionConfig::default()
    });
    let c = conn.clone();
    let waiting = tokio::spawn(async move { c.api("echo behind the flood").await });
    assert_eq!(peer.packet().await.command, "api echo behind the flood");
    let mut flood = String::new();
    for i in 1..=10 {
        flood.push_str(&event(
            &[("Event-Name", "CUSTOM"), ("Event-Sequence", &i.to_string())],
            None,
        ));
    }
    flood.push_str(&api("behind the flood"));
    peer.send(flood).await;
    let reply = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the reply behind the flood is read")
        .unwrap()
        .unwrap();
    assert_eq!(reply.text(), "behind the flood");
    // Nothing was dropped: the ten events come in order.
    for i in 1..=10u64 {
        match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
            Ok(Some(Message::Event(e))) => {
                assert_eq!(e.header("Event-Sequence"), Some(i.to_string().as_str()))
            }
            other => panic!("expected event {i}, got {other:?}"),
        }
    }
}
