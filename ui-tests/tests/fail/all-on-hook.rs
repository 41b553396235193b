use librevox::{event, inbound, Event};

struct Monitor;

#[inbound]
impl Monitor {
    #[event(all)]
    async fn everything(&self, _event: &Event) {}
}

fn main() {}
