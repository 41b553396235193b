use librevox::{inbound, Event};

struct Monitor;

#[inbound(evnts = ["DTMF"], linger = 3)]
impl Monitor {
    async fn on_event(&self, _event: &Event) {}
}

fn main() {}
