//! Several listeners in one process: an inbound monitor and two outbound
//! servers, started with `start!`. Ctrl-C or SIGTERM stops them gracefully.
//!
//! Against the simulator (no FreeSWITCH needed), in two terminals:
//!
//! ```sh
//! cargo run --example multiple_listeners
//! cargo run -p librevox-cli -- sim --dial 127.0.0.1:8084 --calls 2
//! ```
//!
//! Against a real FreeSWITCH: edit the addresses below (`host`, `password`).

use librevox::prelude::*;
use librevox::{inbound, outbound, start};

#[derive(Default)]
struct Monitor;

#[inbound(events = ["CHANNEL_ANSWER", "CHANNEL_HANGUP_COMPLETE"])]
impl Monitor {
    async fn on_event(&self, event: &Event) {
        println!(
            "[monitor] {} {}",
            event.name().unwrap_or("?"),
            event.unique_id().unwrap_or("-")
        );
    }
}

#[derive(Default)]
struct Greeter;

#[outbound]
impl Greeter {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        call.answer().await?;
        call.playback("ivr/ivr-welcome.wav").await?;
        call.hangup("").await
    }
}

#[derive(Default)]
struct Voicemail;

#[outbound(linger = 5)]
impl Voicemail {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        call.answer().await?;
        call.record("/tmp/voicemail.wav", &Default::default())
            .await?;
        Ok(())
    }
}

#[tokio::main]
async fn main() -> librevox::Result<()> {
    librevox::listener::init_logging(&Default::default())?;
    start!(
        Monitor(host = "127.0.0.1", port = 8021, password = "ClueCon"),
        Greeter(port = 8084),
        Voicemail(port = 8085),
    )
    .await
}
