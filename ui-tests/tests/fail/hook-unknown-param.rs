use librevox::{event, inbound, Event};

struct Monitor;

#[inbound]
impl Monitor {
    #[event(dtmf)]
    async fn digit(&self, _event: &Event, digit: char) {
        let _ = digit;
    }
}

fn main() {}
