use librevox::{inbound, Event};

struct Monitor;

#[inbound(filters(Caller-Context = "default"))]
impl Monitor {
    async fn on_event(&self, _event: &Event) {}
}

fn main() {}
