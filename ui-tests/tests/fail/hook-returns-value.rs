use librevox::{event, inbound, Event};

struct Monitor;

#[inbound]
impl Monitor {
    #[event(dtmf)]
    async fn digit(&self, _event: &Event) -> librevox::Result<()> {
        Ok(())
    }
}

fn main() {}
