use librevox::{inbound, outbound, Inbound, Session};

struct Monitor;

#[inbound]
impl Monitor {
    async fn session_initiated(&self, _ctx: &Inbound) -> librevox::Result<()> {
        Ok(())
    }
}

#[derive(Default)]
struct Ivr;

#[outbound]
impl Ivr {
    async fn session_initiated(&self, _call: &Session) -> librevox::Result<()> {
        Ok(())
    }

    async fn connection_completed(&self) {}
}

fn main() {}
