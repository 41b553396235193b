use librevox::{event, inbound, Event};

struct Monitor;

#[inbound(events = ["CHANNEL_ANSWER", "CUSTOM conference::maintenance"])]
impl Monitor {
    #[event(channel_hangup)]
    async fn hangup(&self, _event: &Event) {}

    #[event(custom = "sofia::register")]
    async fn registered(&self) {}

    #[event(channel_answer)]
    async fn answered(&self) {}
}

fn main() {}
