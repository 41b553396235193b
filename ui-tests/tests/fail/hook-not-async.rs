use librevox::{event, inbound, Event};

struct Monitor;

#[inbound]
impl Monitor {
    #[event(channel_hangup)]
    fn hangup(&self, _event: &Event) {}

    fn on_event(&self) {}
}

fn main() {}
