use librevox::{outbound, Session};

#[derive(Default)]
struct Ivr;

#[outbound(linger = forever, event_lock = "yes")]
impl Ivr {
    async fn session_initiated(&self, _call: &Session) -> librevox::Result<()> {
        Ok(())
    }
}

fn main() {}
