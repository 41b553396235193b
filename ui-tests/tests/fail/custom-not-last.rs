use librevox::{inbound, Event};

struct Monitor;

#[inbound(events = ["CUSTOM conference::maintenance", "CHANNEL_HANGUP"])]
impl Monitor {
    async fn on_event(&self, _event: &Event) {}
}

fn main() {}
