use librevox::{event, inbound, Event};

struct Monitor;

#[inbound(events = ["CHANEL_HANGUP"], format = "yaml", colour = "blue")]
impl Monitor {
    #[event(dtfm)]
    fn digit(&mut self, _event: &Event) {}
}

fn main() {}
