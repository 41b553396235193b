use librevox::{outbound, Session};

#[derive(Default)]
struct Ivr;

#[outbound(filters("Caller-Context" = "default"))]
impl Ivr {
    async fn session_initiated(&self, _call: &Session) -> librevox::Result<()> {
        Ok(())
    }
}

fn main() {}
