use librevox::{event, inbound};

struct Monitor;

#[inbound(events = ["CHANNEL_HANGUP DTMF"])]
impl Monitor {
    #[event("CUSTOM a::b c::d")]
    async fn custom(&self) {}
}

fn main() {}
