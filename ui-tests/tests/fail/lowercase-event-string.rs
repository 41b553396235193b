use librevox::{event, inbound};

struct Monitor;

#[inbound(events = ["channel_hangup", "Custom a::b"])]
impl Monitor {
    #[event("channel_hangup")]
    async fn hangup(&self) {}
}

fn main() {}
