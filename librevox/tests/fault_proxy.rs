//! The fault proxy between real clients (raw TCP and `CommandSocket`) and the
//! simulator over loopback TCP: each fault does exactly what it says, on
//! exact bytes, and heals when its rule is removed.
#![cfg(feature = "simulator")]

use std::time::{Duration, Instant};

use librevox::simulator::{Direction, Fault, FaultProxy, Rule, Simulator, SimulatorConfig};
use librevox::{CommandSocket, Error};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const T: Duration = Duration::from_secs(10);
const GREETING: &[u8] = b"Content-Type: auth/request\n\n";
const ACCEPTED: &[u8] = b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n";

async fn setup() -> (Simulator, FaultProxy) {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let proxy = FaultProxy::start(sim.local_addr().unwrap()).await.unwrap();
    (sim, proxy)
}

async fn raw(proxy: &FaultProxy) -> TcpStream {
    TcpStream::connect(proxy.addr()).await.unwrap()
}

async fn read_exact(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    tokio::time::timeout(T, s.read_exact(&mut buf))
        .await
        .expect("bytes within the timeout")
        .unwrap();
    buf
}

/// Everything until EOF (or the error that ended the stream).
async fn read_to_end(s: &mut TcpStream) -> (Vec<u8>, std::io::Result<usize>) {
    let mut out = Vec::new();
    let r = tokio::time::timeout(T, s.read_to_end(&mut out))
        .await
        .expect("the stream ends within the timeout");
    (out, r)
}

async fn socket(proxy: &FaultProxy) -> CommandSocket {
    CommandSocket::connect(&proxy.addr().to_string(), "ClueCon")
        .await
        .unwrap()
}

#[tokio::test]
async fn without_rules_bytes_pass_both_ways_unchanged() {
    let (_sim, proxy) = setup().await;
    let mut c = raw(&proxy).await;
    assert_eq!(read_exact(&mut c, GREETING.len()).await, GREETING);
    c.write_all(b"auth ClueCon\n\n").await.unwrap();
    assert_eq!(read_exact(&mut c, ACCEPTED.len()).await, ACCEPTED);
    let stats = proxy
        .wait_for(T, |s| {
            s.to_server == 14 && s.to_client == (GREETING.len() + ACCEPTED.len()) as u64
        })
        .await
        .unwrap();
    assert_eq!((stats.accepted, stats.live), (1, 1));
    drop(c);
    proxy.wait_for(T, |s| s.live == 0).await.unwrap();
}

#[tokio::test]
async fn split_writes_every_byte_on_its_own() {
    let (_sim, proxy) = setup().await;
    proxy.add(Rule::new(Fault::Split(1)).direction(Direction::ServerToClient));
    let mut c = raw(&proxy).await;
    assert_eq!(read_exact(&mut c, GREETING.len()).await, GREETING);
    let stats = proxy.stats();
    assert_eq!(stats.to_client, GREETING.len() as u64);
    assert_eq!(stats.writes_to_client, GREETING.len() as u64);
    // The client's decoder takes the frames apart however they arrive.
    let s = socket(&proxy).await;
    let long = "x".repeat(3000);
    assert_eq!(s.api(&format!("echo {long}")).await.unwrap().text(), long);
    let stats = proxy.stats();
    assert_eq!(stats.writes_to_client, stats.to_client);
    assert_eq!(
        stats.writes_to_server, 2,
        "the other direction is untouched"
    );
}

#[tokio::test]
async fn close_after_a_pattern_cuts_the_frame_exactly_there() {
    let (_sim, proxy) = setup().await;
    let cut = proxy.add(
        Rule::new(Fault::Close)
            .direction(Direction::ServerToClient)
            .after_pattern("Reply-Text: +OK", 4),
    );
    let mut c = raw(&proxy).await;
    assert_eq!(read_exact(&mut c, GREETING.len()).await, GREETING);
    c.write_all(b"auth ClueCon\n\n").await.unwrap();
    let (got, end) = read_to_end(&mut c).await;
    assert_eq!(got, b"Content-Type: command/reply\nReply-Text: +OK acc");
    assert!(end.is_ok(), "a FIN, not a reset: {end:?}");
    assert_eq!(proxy.fired(cut), 1);
    let stats = proxy.wait_for(T, |s| s.live == 0).await.unwrap();
    assert_eq!(stats.closed_by_fault, 1);
}

#[tokio::test]
async fn a_cut_mid_frame_fails_the_pending_command_with_a_typed_error() {
    let (_sim, proxy) = setup().await;
    let s = socket(&proxy).await;
    proxy.add(
        Rule::new(Fault::Close)
            .direction(Direction::ServerToClient)
            .after_pattern("Content-Type: api/response", 5),
    );
    let err = tokio::time::timeout(T, s.api("echo hello"))
        .await
        .expect("no wait outlives the cut")
        .unwrap_err();
    assert!(
        matches!(err, Error::Protocol(ref m) if m.contains("header block")),
        "{err}"
    );
}

#[tokio::test]
async fn a_pattern_split_across_reads_is_still_found() {
    // Two proxies in a row: the first one writes byte by byte, so the
    // second reads the pattern in pieces.
    let (_sim, inner) = setup().await;
    inner.add(Rule::new(Fault::Split(1)).direction(Direction::ServerToClient));
    let outer = FaultProxy::start(inner.addr()).await.unwrap();
    outer.add(
        Rule::new(Fault::Close)
            .direction(Direction::ServerToClient)
            .after_pattern("auth/request", 0),
    );
    let mut c = raw(&outer).await;
    let (got, _) = read_to_end(&mut c).await;
    assert_eq!(got, b"Content-Type: auth/request");
}

#[tokio::test]
async fn after_bytes_counts_from_the_connection_start() {
    let (_sim, proxy) = setup().await;
    proxy.add(
        Rule::new(Fault::Close)
            .direction(Direction::ServerToClient)
            .after_bytes(30),
    );
    let mut c = raw(&proxy).await;
    assert_eq!(read_exact(&mut c, GREETING.len()).await, GREETING);
    c.write_all(b"auth ClueCon\n\n").await.unwrap();
    let (got, _) = read_to_end(&mut c).await;
    assert_eq!(got, b"Co", "28 bytes of greeting, then 2 of the reply");
}

#[tokio::test]
async fn reset_sends_an_rst_to_the_client() {
    let (_sim, proxy) = setup().await;
    let mut c = raw(&proxy).await;
    assert_eq!(read_exact(&mut c, GREETING.len()).await, GREETING);
    proxy.add(Rule::new(Fault::Reset));
    let (got, end) = read_to_end(&mut c).await;
    assert!(got.is_empty());
    assert_eq!(end.unwrap_err().kind(), std::io::ErrorKind::ConnectionReset);
    let stats = proxy.wait_for(T, |s| s.live == 0).await.unwrap();
    assert_eq!(stats.reset_by_fault, 1);
}

#[tokio::test]
async fn reset_all_and_close_all_reach_every_live_connection() {
    let (_sim, proxy) = setup().await;
    let mut a = raw(&proxy).await;
    let mut b = raw(&proxy).await;
    read_exact(&mut a, GREETING.len()).await;
    read_exact(&mut b, GREETING.len()).await;
    proxy.close_all();
    assert!(read_to_end(&mut a).await.1.is_ok());
    assert!(read_to_end(&mut b).await.1.is_ok());
    let mut c = raw(&proxy).await;
    read_exact(&mut c, GREETING.len()).await;
    proxy.reset_all();
    assert_eq!(
        read_to_end(&mut c).await.1.unwrap_err().kind(),
        std::io::ErrorKind::ConnectionReset
    );
    let stats = proxy.wait_for(T, |s| s.live == 0).await.unwrap();
    assert_eq!((stats.closed_by_fault, stats.reset_by_fault), (2, 1));
}

#[tokio::test]
async fn a_stall_holds_bytes_without_closing_and_heals() {
    let (_sim, proxy) = setup().await;
    let s = socket(&proxy).await;
    let stall = proxy.add(Rule::new(Fault::Stall).direction(Direction::ServerToClient));
    let waited = tokio::time::timeout(Duration::from_millis(300), s.api("echo held")).await;
    assert!(waited.is_err(), "no reply while stalled: {waited:?}");
    let stats = proxy.stats();
    assert_eq!(stats.live, 1, "half-open, not closed");
    let before = stats.to_client;
    // The server's reply is in the proxy, not forwarded.
    proxy
        .wait_for(T, |s| s.to_server > 0 && s.to_client == before)
        .await
        .unwrap();
    assert!(proxy.remove(stall));
    // Healed: the held reply is delivered (to the slot its caller left) and
    // the next command gets its own.
    assert_eq!(s.api("echo again").await.unwrap().text(), "again");
}

#[tokio::test]
async fn a_client_to_server_stall_blocks_a_sender_that_keeps_writing() {
    let (_sim, proxy) = setup().await;
    let mut c = raw(&proxy).await;
    read_exact(&mut c, GREETING.len()).await;
    proxy.add(Rule::new(Fault::Stall).direction(Direction::ClientToServer));
    // Write until the writes stop completing: the proxy stopped reading, so
    // the kernel buffers filled. Bounded: at most 256 MiB are tried.
    let chunk = vec![b'x'; 64 * 1024];
    let mut written = 0usize;
    let blocked = loop {
        match tokio::time::timeout(Duration::from_millis(500), c.write_all(&chunk)).await {
            Ok(Ok(())) => written += chunk.len(),
            Ok(Err(e)) => panic!("the connection must stay open: {e}"),
            Err(_) => break true,
        }
        if written > 256 << 20 {
            break false;
        }
    };
    assert!(blocked, "writes never blocked after {written} bytes");
    assert_eq!(proxy.stats().to_server, 0);
    assert_eq!(proxy.stats().live, 1);
}

#[tokio::test]
async fn a_blackhole_discards_and_counts() {
    let (_sim, proxy) = setup().await;
    let mut c = raw(&proxy).await;
    read_exact(&mut c, GREETING.len()).await;
    let hole = proxy.add(Rule::new(Fault::Blackhole).direction(Direction::ServerToClient));
    c.write_all(b"auth ClueCon\n\n").await.unwrap();
    proxy
        .wait_for(T, |s| s.discarded == ACCEPTED.len() as u64)
        .await
        .unwrap();
    proxy.remove(hole);
    c.write_all(b"api echo hi\n\n").await.unwrap();
    let reply = b"Content-Type: api/response\nContent-Length: 2\n\nhi";
    assert_eq!(read_exact(&mut c, reply.len()).await, reply);
}

#[tokio::test]
async fn a_delay_holds_every_byte_at_least_that_long() {
    let (_sim, proxy) = setup().await;
    let s = socket(&proxy).await;
    proxy.add(Rule::new(Fault::Delay(Duration::from_millis(200))));
    let started = Instant::now();
    assert_eq!(s.api("echo late").await.unwrap().text(), "late");
    // Both directions are delayed: at least 400 ms for the round trip.
    assert!(started.elapsed() >= Duration::from_millis(400));
}

#[tokio::test]
async fn a_throttle_paces_bytes_to_its_rate() {
    let (_sim, proxy) = setup().await;
    let s = socket(&proxy).await;
    proxy.add(
        Rule::new(Fault::Throttle {
            bytes_per_second: 4000,
        })
        .direction(Direction::ServerToClient),
    );
    let long = "y".repeat(2000);
    let started = Instant::now();
    assert_eq!(s.api(&format!("echo {long}")).await.unwrap().text(), long);
    // 2,047 bytes at 4,000 B/s: the first slice goes at once, the rest take
    // at least (2047 - 200) / 4000 s.
    assert!(started.elapsed() >= Duration::from_millis(450));
    assert!(proxy.stats().writes_to_client >= 10);
}

#[tokio::test]
async fn a_once_rule_spares_the_next_connection() {
    let (_sim, proxy) = setup().await;
    let cut = proxy.add(
        Rule::new(Fault::Close)
            .after_pattern("auth/request", 0)
            .once(),
    );
    let first = CommandSocket::connect(&proxy.addr().to_string(), "ClueCon").await;
    assert!(first.is_err());
    let s = socket(&proxy).await;
    assert_eq!(s.api("echo ok").await.unwrap().text(), "ok");
    assert_eq!(proxy.fired(cut), 1);
}

#[tokio::test]
async fn an_immediate_close_refuses_new_connections_until_removed() {
    let (_sim, proxy) = setup().await;
    let down = proxy.add(Rule::new(Fault::Close));
    for _ in 0..3 {
        let mut c = raw(&proxy).await;
        let (got, _) = read_to_end(&mut c).await;
        assert!(got.is_empty());
    }
    proxy.remove(down);
    let mut c = raw(&proxy).await;
    assert_eq!(read_exact(&mut c, GREETING.len()).await, GREETING);
    assert_eq!(proxy.stats().closed_by_fault, 3);
}

#[tokio::test]
async fn an_unreachable_upstream_is_counted_and_the_client_closed() {
    let (sim, proxy) = setup().await;
    sim.shutdown().await;
    let mut c = raw(&proxy).await;
    let (got, _) = read_to_end(&mut c).await;
    assert!(got.is_empty());
    assert_eq!(proxy.stats().upstream_failures, 1);
    // Pointed at a new switch, it forwards again.
    let sim2 = Simulator::start(SimulatorConfig::default()).await.unwrap();
    proxy.set_upstream(sim2.local_addr().unwrap());
    let mut c = raw(&proxy).await;
    assert_eq!(read_exact(&mut c, GREETING.len()).await, GREETING);
}

#[tokio::test]
async fn dropping_the_proxy_closes_its_connections() {
    let (_sim, proxy) = setup().await;
    let mut c = raw(&proxy).await;
    read_exact(&mut c, GREETING.len()).await;
    drop(proxy);
    let (got, _) = read_to_end(&mut c).await;
    assert!(got.is_empty());
}
