use librevox::{event, Event};

struct Monitor;

impl Monitor {
    #[event(channel_hangup)]
    async fn hangup(&self, _event: &Event) {}
}

fn main() {}
