use librevox::{event, inbound, Event, Inbound};

struct Monitor;

#[inbound]
impl Monitor {
    #[event(dtmf)]
    async fn digit(&self, _event: &Event, _ctx: &Inbound) {}
}

fn main() {}
