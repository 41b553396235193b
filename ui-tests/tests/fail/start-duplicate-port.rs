use librevox::{inbound, outbound, start, Session};

#[derive(Default)]
struct Monitor;

#[inbound]
impl Monitor {}

#[derive(Default)]
struct Ivr;

#[outbound]
impl Ivr {
    async fn session_initiated(&self, _call: &Session) -> librevox::Result<()> {
        Ok(())
    }
}

#[derive(Default)]
struct Other;

#[outbound]
impl Other {
    async fn session_initiated(&self, _call: &Session) -> librevox::Result<()> {
        Ok(())
    }
}

fn main() {
    let _run = start!(Ivr(port = 8090), Other(port = 8090), Monitor, Monitor);
}
