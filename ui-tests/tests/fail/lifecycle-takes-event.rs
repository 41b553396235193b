use librevox::{inbound, Event, Inbound};

struct Monitor;

#[inbound]
impl Monitor {
    async fn connection_completed(&self, _ctx: &Inbound, _event: &Event) {}
}

fn main() {}
