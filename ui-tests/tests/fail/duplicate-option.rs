use librevox::{inbound, Inbound};

struct Monitor;

#[inbound(events = ["DTMF"], format = "json", events = ["TALK"])]
impl Monitor {
    async fn on_event(&self, _ctx: &Inbound) {}
}

fn main() {}
