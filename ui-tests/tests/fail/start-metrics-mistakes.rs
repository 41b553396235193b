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
    let _run = start!(metrics = "127.0.0.1", Monitor);
    let _run = start!(metrics = "127.0.0.1:99999", Monitor);
    let _run = start!(metrics = 9464, Monitor);
    let _run = start!(metrics, Monitor);
    let _run = start!(metrics(port = 9464) = "127.0.0.1:9464", Monitor);
    let _run = start!(metrics = "127.0.0.1:9464", Ivr, metrics = "127.0.0.1:9465");
    let _run = start!(metrics = "127.0.0.1:9464");
}
