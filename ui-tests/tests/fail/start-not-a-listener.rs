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
struct Plain;

fn main() {
    let _run = start!(Monitor, Plain);
}
