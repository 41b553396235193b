use librevox::{event, inbound, Event};

struct Monitor;

#[inbound(events = ["CUSTOM"])]
impl Monitor {
    #[event(custom)]
    async fn custom(&self, _event: &Event) {}

    #[event("CUSTOM")]
    async fn custom_too(&self) {}
}

fn main() {}
