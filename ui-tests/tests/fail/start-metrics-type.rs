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
    let port: u16 = 9464;
    let _run = start!(metrics = port, Monitor, Ivr);
}
