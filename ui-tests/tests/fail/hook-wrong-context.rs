use librevox::{event, inbound, outbound, Inbound, Session};

struct Monitor;

#[inbound]
impl Monitor {
    #[event(dtmf)]
    async fn digit(&self, _call: &Session) {}
}

#[derive(Default)]
struct Ivr;

#[outbound]
impl Ivr {
    async fn session_initiated(&self, _ctx: &Inbound) -> librevox::Result<()> {
        Ok(())
    }
}

fn main() {}
