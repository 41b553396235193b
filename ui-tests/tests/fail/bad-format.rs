use librevox::{inbound, Event};

struct Monitor;

#[inbound(format = "yaml")]
impl Monitor {
    async fn on_event(&self, _event: &Event) {}
}

fn main() {}
