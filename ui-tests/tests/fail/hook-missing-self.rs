use librevox::{event, inbound, Event};

struct Monitor;

#[inbound]
impl Monitor {
    #[event(channel_hangup)]
    async fn hangup(_event: &Event) {}

    async fn on_event(self) {}
}

fn main() {}
