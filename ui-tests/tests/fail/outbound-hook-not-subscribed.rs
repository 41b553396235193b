use librevox::{event, outbound, Event, Session};

#[derive(Default)]
struct Ivr;

#[outbound]
impl Ivr {
    async fn session_initiated(&self, _call: &Session) -> librevox::Result<()> {
        Ok(())
    }

    #[event(background_job)]
    async fn job(&self, _event: &Event) {}

    #[event(channel_hangup_complete)]
    async fn done(&self) {}
}

fn main() {}
