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

fn main() {
    let _run = start!(Monitor(host = "10.0.0.1:8021"), Ivr(port = 0), Ivr(port = 70000));
}
