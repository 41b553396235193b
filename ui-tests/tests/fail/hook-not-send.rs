use librevox::{event, inbound, Event};

use std::rc::Rc;

struct Monitor;

#[inbound]
impl Monitor {
    #[event(dtmf)]
    async fn digit(&self, _event: &Event) {
        let shared = Rc::new(1);
        std::future::ready(()).await;
        drop(shared);
    }
}

fn main() {}
