//! Every outbound connection closed without serving a call is counted in
//! `librevox_connections_refused_total`, by reason: outside the allow-list
//! (`not_allowed`), beyond `max_sessions`, silent past `setup_timeout`
//! (`setup_timeout`), and a setup that failed otherwise (`setup`: the peer
//! closed, or its channel data had no `Unique-ID`). The log lines are rate
//! limited; the counter counts every refusal. A refusal is counted before
//! the connection is closed, so the count is read as soon as the peer sees
//! the close.
//!
//! One test in its own binary: the recorder is global to the process, so
//! the counts start at zero and nothing else moves them.
#![cfg(feature = "prometheus")]

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use librevox::listener::{serve_outbound, OutboundListener, OutboundSettings, Session, Shutdown};
use support::peer::connect_reply;
use support::scrape::metrics;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Every wait gives up after this.
const WAIT: Duration = Duration::from_secs(10);

struct Idle;

impl OutboundListener for Idle {
    async fn session_initiated(&self, _call: &Session) -> librevox::Result<()> {
        Ok(())
    }
}

/// The refusals counted so far: not_allowed, max_sessions, setup_timeout,
/// setup (a reason not counted yet has no series).
async fn refused(http: SocketAddr) -> [u64; 4] {
    let text = metrics(http).await;
    ["not_allowed", "max_sessions", "setup_timeout", "setup"].map(|reason| {
        let prefix = format!("librevox_connections_refused_total{{reason=\"{reason}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map_or(0, |v| v.parse().unwrap())
    })
}

/// An outbound server of `Idle` sessions on a fresh port.
async fn server(settings: OutboundSettings) -> (SocketAddr, Shutdown) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let token = Shutdown::new();
    tokio::spawn(serve_outbound(
        listener,
        || Idle,
        OutboundSettings {
            shutdown_grace: Duration::ZERO,
            ..settings
        },
        token.clone(),
    ));
    (addr, token)
}

/// Reads until the server closes; returns what it sent.
async fn until_closed(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut got))
        .await
        .expect("the server closed the connection")
        .unwrap();
    got
}

/// Connects like FreeSWITCH and reads the first 9 bytes (`connect\n\n`),
/// or what came before the server closed.
async fn dial(addr: SocketAddr) -> (TcpStream, Vec<u8>) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut got = vec![0u8; 9];
    let mut n = 0;
    while n < 9 {
        let k = tokio::time::timeout(WAIT, s.read(&mut got[n..]))
            .await
            .expect("the server wrote or closed")
            .unwrap();
        if k == 0 {
            break;
        }
        n += k;
    }
    got.truncate(n);
    (s, got)
}

#[tokio::test]
async fn every_refused_outbound_connection_is_counted_by_its_reason() {
    let http = librevox::telemetry::serve("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr();
    assert_eq!(refused(http).await, [0, 0, 0, 0]);

    // Outside the allow-list: three peers closed unanswered, each counted
    // (the warning is logged once a second).
    let (addr, token) = server(OutboundSettings::default().allow("10.0.0.0/8").unwrap()).await;
    for _ in 0..3 {
        assert_eq!(dial(addr).await.1, b"", "closed without a word");
    }
    assert_eq!(refused(http).await, [3, 0, 0, 0]);
    token.trigger();

    // Beyond max_sessions: one call in its setup, the next two refused.
    let (addr, token) = server(OutboundSettings {
        max_sessions: 1,
        setup_timeout: Duration::from_secs(600),
        ..OutboundSettings::default()
    })
    .await;
    let (mut held, greeting) = dial(addr).await;
    assert_eq!(greeting, b"connect\n\n");
    for _ in 0..2 {
        assert_eq!(dial(addr).await.1, b"", "closed without a word");
    }
    assert_eq!(refused(http).await, [3, 2, 0, 0]);
    // The call in its setup hangs up before answering `connect`: a failed
    // setup.
    held.shutdown().await.unwrap();
    assert_eq!(until_closed(&mut held).await, b"");
    assert_eq!(refused(http).await, [3, 2, 0, 1]);
    token.trigger();

    // Silent past the setup timeout.
    const SETUP: Duration = Duration::from_millis(300);
    let (addr, token) = server(OutboundSettings {
        setup_timeout: SETUP,
        ..OutboundSettings::default()
    })
    .await;
    let dialled = Instant::now();
    let (mut silent, greeting) = dial(addr).await;
    assert_eq!(greeting, b"connect\n\n");
    assert_eq!(
        until_closed(&mut silent).await,
        b"",
        "nothing after `connect`"
    );
    assert!(
        dialled.elapsed() >= SETUP,
        "closed after {:?}",
        dialled.elapsed()
    );
    assert_eq!(refused(http).await, [3, 2, 1, 1]);

    // Channel data without Unique-ID.
    let data = String::from_utf8(connect_reply()).unwrap();
    let stripped: String = data
        .lines()
        .filter(|l| !l.starts_with("Unique-ID:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let (mut bad, greeting) = dial(addr).await;
    assert_eq!(greeting, b"connect\n\n");
    bad.write_all(stripped.as_bytes()).await.unwrap();
    assert_eq!(until_closed(&mut bad).await, b"", "nothing after `connect`");
    assert_eq!(refused(http).await, [3, 2, 1, 2]);

    // A call that completes its setup is not a refusal.
    let (mut good, greeting) = dial(addr).await;
    assert_eq!(greeting, b"connect\n\n");
    good.write_all(&connect_reply()).await.unwrap();
    let mut next = [0u8; 10];
    tokio::time::timeout(WAIT, good.read_exact(&mut next))
        .await
        .expect("myevents")
        .unwrap();
    assert_eq!(&next, b"myevents\n\n");
    assert_eq!(refused(http).await, [3, 2, 1, 2]);
    token.trigger();
}
