//! JSON logs (`LogFormat::Json`): every record one line that parses as
//! JSON, with the spans of the inbound connection, the hook run, the
//! outbound session and the application, and their fields. A binary of
//! its own: the subscriber is process-wide.
#![cfg(feature = "simulator")]

use std::sync::Arc;
use std::time::Duration;

use librevox::apps::Hangup;
use librevox::listener::{
    init_logging, run_inbound, serve_outbound, Inbound, InboundListener, InboundSettings,
    LogFormat, LogOptions, OutboundListener, OutboundSettings, Session,
};
use librevox::simulator::{CallSpec, Extension, Simulator, SimulatorConfig};
use librevox::Event;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

struct Answer;

impl OutboundListener for Answer {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        call.application("answer", "").await?;
        call.application("playback", "tone_stream://%(100,0,440)")
            .await?;
        match call.hangup("NORMAL_CLEARING").await {
            Err(e) if !e.is_hangup() => Err(e),
            _ => Ok(()),
        }
    }
}

struct Hooks(mpsc::UnboundedSender<()>);

impl InboundListener for Hooks {
    async fn handle_event(&self, _ctx: &Inbound, event: &Event) {
        if event.name() == Some("CHANNEL_HANGUP_COMPLETE") {
            tracing::info!(body = "two\nlines", "hook saw the hangup");
            let _ = self.0.send(());
        }
    }
}

/// The span named `name` in a record's `spans` list.
fn span<'a>(record: &'a Value, name: &str) -> Option<&'a Value> {
    record["spans"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_parse_and_carry_the_spans_and_their_fields() {
    let dir = std::env::temp_dir().join(format!("librevox-logging-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("log.json");
    let _ = std::fs::remove_file(&file);
    init_logging(&LogOptions {
        file: Some(file.clone()),
        level: Some("librevox=debug,logging=info".into()),
        format: LogFormat::Json,
    })
    .unwrap();

    let out = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let out_addr = out.local_addr().unwrap();
    let sim = Simulator::start(
        SimulatorConfig::default()
            .extension(Extension::socket("svc", &format!("{out_addr} async full"))),
    )
    .await
    .unwrap();
    let token = CancellationToken::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let switch = sim.local_addr().unwrap().to_string();
    let inbound = tokio::spawn(run_inbound(
        Arc::new(Hooks(tx)),
        InboundSettings::new(switch.clone()),
        token.clone(),
    ));
    let outbound = tokio::spawn(serve_outbound(
        out,
        || Answer,
        OutboundSettings::default(),
        token.clone(),
    ));
    sim.wait_for(Duration::from_secs(10), |s| {
        s.connections()
            .iter()
            .any(|c| c.received.iter().any(|p| p.starts_with(b"event plain ALL")))
    })
    .await
    .expect("the inbound listener subscribed");
    let call = sim.place_call(CallSpec::new("svc").caller("1000"));
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the hook saw the hangup");
    drop(call);
    token.cancel();
    inbound.await.unwrap().unwrap();
    outbound.await.unwrap().unwrap();
    sim.shutdown().await;

    let text = std::fs::read_to_string(&file).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(records.len() > 10, "{text}");
    // The hook's record: inside the connection's span and the hook's.
    let hook = records
        .iter()
        .find(|r| r["fields"]["message"] == "hook saw the hangup")
        .expect("the hook's record");
    assert_eq!(hook["fields"]["body"], "two\nlines");
    let conn = span(hook, "inbound").expect("an inbound span");
    assert_eq!(conn["switch"], switch.as_str());
    assert_eq!(conn["role"], "inbound");
    assert_eq!(
        span(hook, "hook").unwrap()["event"],
        "CHANNEL_HANGUP_COMPLETE"
    );
    // An application's end: inside the session and the application span.
    let ended: Vec<&Value> = records
        .iter()
        .filter(|r| r["fields"]["message"] == "application ended")
        .collect();
    assert_eq!(ended.len(), 3, "{text}");
    for (record, app) in ended.iter().zip(["answer", "playback", "hangup"]) {
        let session = span(record, "session").expect("a session span");
        assert_eq!(session["caller"], "1000");
        assert_eq!(session["destination"], "svc");
        assert!(session["uuid"].as_str().is_some_and(|u| u.len() == 36));
        let application = span(record, "application").expect("an application span");
        assert_eq!(application["app"], app);
        assert!(application["event_uuid"]
            .as_str()
            .is_some_and(|u| u.len() == 36));
        assert!(application["duration_ms"]
            .as_f64()
            .is_some_and(|d| d >= 0.0));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
