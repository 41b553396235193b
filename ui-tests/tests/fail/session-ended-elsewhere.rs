use librevox::{event, inbound, outbound, Inbound, Session, SessionEnd};

struct Monitor;

#[inbound]
impl Monitor {
    async fn session_ended(&self, _ctx: &Inbound) {}
}

struct Ivr;

#[outbound]
impl Ivr {
    async fn session_initiated(&self, _call: &Session, _how: &SessionEnd) -> librevox::Result<()> {
        Ok(())
    }

    #[event(channel_hangup)]
    async fn gone(&self, _call: &Session, _how: &SessionEnd) {}
}

fn main() {}
