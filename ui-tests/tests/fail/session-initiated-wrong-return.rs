use librevox::{outbound, Session};

#[derive(Default)]
struct Ivr;

#[outbound]
impl Ivr {
    async fn session_initiated(&self, _call: &Session) -> Result<(), String> {
        Ok(())
    }
}

fn main() {}
