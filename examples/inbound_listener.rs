//! An inbound listener: connects to FreeSWITCH, subscribes, and reacts to
//! events with `on_event` and per-event hooks.
//!
//! Against the simulator (no FreeSWITCH needed), in two terminals:
//!
//! ```sh
//! cargo run -p librevox-cli -- sim --dial 127.0.0.1:8084 --calls 3   # FreeSWITCH stand-in on 8021
//! cargo run --example inbound_listener
//! ```
//!
//! Against a real FreeSWITCH: `cargo run --example inbound_listener -- 10.0.0.5:8021 ClueCon`.
//! Stop with Ctrl-C (the listener sends `exit`). `RUST_LOG=debug` shows more.

use librevox::prelude::*;
use librevox::{event, inbound, Runner};

#[derive(Default)]
struct Monitor;

// Subscribe to a few channel events, only for calls in the `default`
// context. The DSL checks event names at compile time.
#[inbound(
    events = ["CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_HANGUP_COMPLETE"],
    filters("Caller-Context" = ["default", "public"])
)]
impl Monitor {
    /// Runs for every event, before the hooks.
    async fn on_event(&self, event: &Event) {
        println!(
            "{:<26} {}",
            event.name().unwrap_or("?"),
            event.unique_id().unwrap_or("-")
        );
    }

    /// Runs after the subscription is in place (and again after a reconnect).
    async fn connection_completed(&self, ctx: &Inbound) {
        match ctx.status().await {
            Ok(status) => println!("connected: {}", status.lines().next().unwrap_or("")),
            Err(e) => eprintln!("status failed: {e}"),
        }
    }

    #[event(channel_execute_complete)]
    async fn app_done(&self, event: &Event) {
        println!(
            "    {}({}) -> {}",
            event.application().unwrap_or("?"),
            event.application_data().unwrap_or(""),
            event.application_response().unwrap_or("")
        );
    }

    #[event(channel_hangup_complete)]
    async fn hangup(&self, ctx: &Inbound, event: &Event) {
        // Hooks may call FreeSWITCH: they run off the socket task.
        let calls = ctx.show_calls().await.map(|rows| rows.len()).unwrap_or(0);
        println!(
            "    hung up: {} ({} calls still up)",
            event
                .hangup_cause()
                .map_or("?".to_owned(), |c| c.to_string()),
            calls
        );
    }
}

fn main() -> librevox::Result<()> {
    librevox::listener::init_logging(&Default::default())?;
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8021".into());
    let password = args.next().unwrap_or_else(|| "ClueCon".into());
    Runner::new()
        .inbound(
            Monitor,
            librevox::InboundSettings::new(addr).password(password),
        )
        .run_blocking()
}
