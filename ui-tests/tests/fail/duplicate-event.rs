use librevox::{event, inbound, Event};

struct Monitor;

#[inbound(events = ["DTMF", "TALK", "DTMF"])]
impl Monitor {
    #[event(dtmf, "DTMF")]
    async fn digit(&self, _event: &Event) {}
}

fn main() {}
