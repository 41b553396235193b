use librevox::{outbound, start, Session};

#[derive(Default)]
struct Ivr;

#[outbound]
impl Ivr {
    async fn session_initiated(&self, _call: &Session) -> librevox::Result<()> {
        Ok(())
    }
}

fn main() {
    let _run = start!(Ivr(hosts = ["10.0.0.1:8021"]));
}
