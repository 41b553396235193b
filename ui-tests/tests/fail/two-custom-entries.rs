use librevox::{inbound, Event};

struct Monitor;

#[inbound(events = ["CUSTOM conference::maintenance", "CUSTOM sofia::register"])]
impl Monitor {
    async fn on_event(&self, _event: &Event) {}
}

fn main() {}
