use librevox::{inbound, Event};

struct Monitor;

#[inbound(events = ["ALL", "CHANNEL_HANGUP"])]
impl Monitor {
    async fn on_event(&self, _event: &Event) {}
}

fn main() {}
