use librevox::{inbound, Event, Inbound, InboundListener};

struct Monitor;

#[inbound]
impl InboundListener for Monitor {
    async fn handle_event(&self, _ctx: &Inbound, _event: &Event) {}
}

fn main() {}
