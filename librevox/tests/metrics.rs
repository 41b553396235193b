//! The built-in Prometheus exporter: `/metrics` after a simulated call,
//! `/ready` 503 while the switch is frozen and 200 after it recovers.
#![cfg(all(feature = "prometheus", feature = "simulator"))]

mod support;

use std::sync::Arc;
use std::time::Duration;

use librevox::apps::Hangup;
use librevox::listener::{
    run_inbound, serve_outbound, Backoff, Inbound, InboundListener, InboundSettings,
    OutboundListener, OutboundSettings, Session,
};
use librevox::simulator::{
    CallSpec, Extension, Fault, FaultProxy, Rule, Simulator, SimulatorConfig,
};
use librevox::{Event, Liveness};
use support::scrape::{get, value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

struct Answer;

impl OutboundListener for Answer {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        call.application("answer", "").await?;
        call.application("playback", "tone_stream://%(100,0,440)")
            .await?;
        call.hangup("NORMAL_CLEARING").await.or_else(
            |e| {
                if e.is_hangup() {
                    Ok(())
                } else {
                    Err(e)
                }
            },
        )
    }
}

struct Watcher(mpsc::UnboundedSender<&'static str>);

impl InboundListener for Watcher {
    async fn connection_completed(&self, _ctx: &Inbound) {
        let _ = self.0.send("completed");
    }
    async fn handle_event(&self, _ctx: &Inbound, _event: &Event) {}
}

async fn wait_status(addr: std::net::SocketAddr, path: &str, want: u16) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = get(addr, path).await;
        if status == want {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} stayed {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn metrics_move_after_a_call_and_ready_follows_a_frozen_switch() {
    let server = librevox::telemetry::serve("127.0.0.1:0").await.unwrap();
    let http = server.local_addr();
    assert_eq!(get(http, "/health").await.0, 200);
    // Nothing registered yet: ready.
    assert_eq!(
        get(http, "/ready").await,
        (200, r#"{"not_ready":[],"ready":true}"#.to_owned())
    );

    // One outbound call through the simulator.
    let out = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let out_addr = out.local_addr().unwrap();
    let sim = Simulator::start(
        SimulatorConfig::default()
            .extension(Extension::socket("svc", &format!("{out_addr} async full"))),
    )
    .await
    .unwrap();
    let token = CancellationToken::new();
    let outbound = tokio::spawn(serve_outbound(
        out,
        || Answer,
        OutboundSettings::default(),
        token.clone(),
    ));
    let call = sim.place_call(CallSpec::new("svc"));
    let metrics = {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let (_, text) = get(http, "/metrics").await;
            if text.contains("librevox_sessions_total{cause=\"NORMAL_CLEARING\"}") {
                break text;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no session end in\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    drop(call);
    assert_eq!(
        value(
            &metrics,
            "librevox_sessions_total{cause=\"NORMAL_CLEARING\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &metrics,
            "librevox_application_seconds_count{application=\"answer\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &metrics,
            "librevox_application_seconds_count{application=\"playback\"}"
        ),
        1.0
    );
    assert!(
        value(
            &metrics,
            "librevox_application_seconds_sum{application=\"playback\"}"
        ) > 0.0
    );
    assert!(metrics
        .contains("librevox_application_seconds_bucket{application=\"playback\",le=\"0.5\"}"));

    // An inbound listener behind a proxy that can freeze the switch.
    let proxy = FaultProxy::start(sim.local_addr().unwrap()).await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut settings = InboundSettings::new(proxy.addr().to_string());
    settings.backoff = Backoff::new(Duration::from_millis(20), Duration::from_millis(100));
    settings.connect_timeout = Duration::from_millis(500);
    settings.config.liveness = Some(Liveness::new(
        Duration::from_millis(200),
        Duration::from_millis(300),
    ));
    let inbound = tokio::spawn(run_inbound(Arc::new(Watcher(tx)), settings, token.clone()));
    assert_eq!(rx.recv().await, Some("completed"));
    wait_status(http, "/ready", 200).await;
    let (_, text) = get(http, "/metrics").await;
    let switch = proxy.addr().to_string();
    assert_eq!(
        value(
            &text,
            &format!("librevox_connects_total{{switch=\"{switch}\"}}")
        ),
        1.0
    );
    assert_eq!(value(&text, "librevox_connections{role=\"inbound\"}"), 1.0);

    let freeze = proxy.add(Rule::new(Fault::Stall));
    let body = wait_status(http, "/ready", 503).await;
    assert_eq!(
        body,
        format!(r#"{{"not_ready":["inbound {switch}"],"ready":false}}"#)
    );
    proxy.remove(freeze);
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap(),
        Some("completed")
    );
    wait_status(http, "/ready", 200).await;
    let (_, text) = get(http, "/metrics").await;
    assert_eq!(
        value(
            &text,
            &format!("librevox_reconnects_total{{switch=\"{switch}\"}}")
        ),
        1.0
    );

    token.cancel();
    inbound.await.unwrap().unwrap();
    outbound.await.unwrap().unwrap();
    sim.shutdown().await;
}
