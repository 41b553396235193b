//! A consumer of the fleet's JetStream stream: the same `#[inbound]`
//! listener as on a socket, fed by a durable pull consumer.
//!
//! ```sh
//! cargo run -p librevox --features nats --example fleet_consumer -- nats://127.0.0.1:4222 billing
//! ```
//!
//! Run it twice with the same consumer name and the two processes share
//! the events. Stops on Ctrl-C / SIGTERM.

use librevox::prelude::*;
use librevox::{inbound, start};

struct Billing;

#[inbound(events = ["CHANNEL_HANGUP_COMPLETE"])]
impl Billing {
    async fn on_event(&self, ctx: &Inbound, e: &Event) {
        // Delivered at least once: a real consumer keys its writes on
        // Core-UUID + Event-Sequence so that a redelivery changes nothing.
        println!(
            "{} {}:{} {} hung up: {}",
            ctx.switch().name(),
            e.header("Core-UUID").unwrap_or("?"),
            e.header("Event-Sequence").unwrap_or("?"),
            e.unique_id().unwrap_or("?"),
            e.header("Hangup-Cause").unwrap_or("?"),
        );
    }
}

#[tokio::main]
async fn main() -> librevox::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "nats://127.0.0.1:4222".into());
    let consumer = args.next().unwrap_or_else(|| "billing".into());
    start!(Billing(nats = url, consumer = consumer) = Billing).await
}
