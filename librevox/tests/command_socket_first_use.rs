//! Issue 13.9: `CommandSocket::bgapi` subscribes the socket to
//! BACKGROUND_JOB the first time, once. Concurrent first calls must all wait
//! for that one subscription: a `bgapi` written before FreeSWITCH
//! acknowledged it would have its BACKGROUND_JOB fired to a socket not yet
//! subscribed, and wait out the job timeout.

use std::sync::Arc;
use std::time::Duration;

use librevox::simulator::{Simulator, SimulatorConfig};
use librevox::{CommandSocket, ConnectOptions, ConnectionConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_first_bgapi_calls_all_resolve() {
    let sim = Simulator::start(SimulatorConfig::default().in_memory())
        .await
        .unwrap();
    sim.register_api("greet", |args| format!("hello {args}\n"));
    // A lost job shows as a Timeout after 5 s, not after the default 120 s.
    let config = ConnectionConfig {
        job_timeout: Duration::from_secs(5),
        ..ConnectionConfig::default()
    };
    let socket = CommandSocket::connect_io(
        sim.connect_in_memory(),
        ConnectOptions::new("sim").config(config),
    )
    .await
    .unwrap();
    let socket = Arc::new(socket);
    let start = Arc::new(tokio::sync::Barrier::new(50));
    let calls: Vec<_> = (0..50)
        .map(|i| {
            let socket = socket.clone();
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                socket.bgapi(&format!("greet {i}")).await?.output().await
            })
        })
        .collect();
    for (i, call) in calls.into_iter().enumerate() {
        let out = call.await.unwrap();
        assert_eq!(out.unwrap(), format!("hello {i}\n"), "job {i}");
    }
}

mod support;

use support::peer::{reply, Peer};

/// On the wire: while the first subscription is unacknowledged, no `bgapi`
/// is written (paused time: the 1 s wait ends only once every task is idle,
/// so "nothing was written" is certain, not a guess about timing).
#[tokio::test(start_paused = true)]
async fn no_bgapi_is_written_before_the_subscription_is_acknowledged() {
    let (client, server) = tokio::io::duplex(1 << 16);
    let mut peer = Peer::new(server);
    let connect = tokio::spawn(CommandSocket::connect_io(
        client,
        ConnectOptions::new("peer"),
    ));
    peer.send("Content-Type: auth/request\n\n").await;
    assert!(peer.packet().await.command.starts_with("auth "));
    peer.send(reply("+OK accepted")).await;
    let socket = Arc::new(connect.await.unwrap().unwrap());
    let calls: Vec<_> = (0..50)
        .map(|i| {
            let socket = socket.clone();
            tokio::spawn(async move { socket.bgapi(&format!("status {i}")).await.map(|_| ()) })
        })
        .collect();
    assert_eq!(peer.packet().await.command, "event plain BACKGROUND_JOB");
    let early = tokio::time::timeout(Duration::from_secs(1), peer.packet()).await;
    assert!(
        early.is_err(),
        "written before the acknowledgement: {:?}",
        early.map(|p| p.command)
    );
    peer.send(reply("+OK event listener enabled plain")).await;
    for _ in 0..50 {
        let p = peer.packet().await;
        assert!(p.command.starts_with("bgapi status "), "{}", p.command);
        peer.send(reply("+OK Job-UUID: x")).await;
    }
    for call in calls {
        call.await.unwrap().unwrap();
    }
}
