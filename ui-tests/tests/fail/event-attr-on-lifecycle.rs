use librevox::{event, inbound, Event};

struct Monitor;

#[inbound]
impl Monitor {
    #[event(dtmf)]
    async fn on_event(&self, _event: &Event) {}

    #[event(channel_create)]
    async fn connection_completed(&self) {}
}

fn main() {}
