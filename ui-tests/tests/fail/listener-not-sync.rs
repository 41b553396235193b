use librevox::{event, inbound, Event};

use std::cell::Cell;

struct Monitor {
    count: Cell<u32>,
}

#[inbound]
impl Monitor {
    #[event(dtmf)]
    async fn digit(&self, _event: &Event) {
        self.count.set(self.count.get() + 1);
    }
}

fn main() {}
