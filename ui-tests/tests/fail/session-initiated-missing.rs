use librevox::{outbound, Session};

#[derive(Default)]
struct Ivr;

#[outbound]
impl Ivr {
    async fn session_initiate(&self, _call: &Session) -> librevox::Result<()> {
        Ok(())
    }
}

fn main() {}
