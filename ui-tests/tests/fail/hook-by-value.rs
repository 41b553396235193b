use librevox::{event, inbound, Event};

struct Monitor;

#[inbound]
impl Monitor {
    #[event(dtmf)]
    async fn digit(&self, _event: Event) {}

    #[event(talk)]
    async fn talk(&self, _event: &Event, _again: &Event) {}
}

fn main() {}
