use librevox::{event, inbound, Event};

struct Monitor;

#[inbound]
impl Monitor {
    #[event(dtmf)]
    async fn digit<T: Default>(&self, _event: &Event) {
        let _ = T::default();
    }
}

fn main() {}
