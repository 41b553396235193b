use librevox::{event, inbound, Event};

struct Monitor;

#[inbound(events = ["CHANEL_HANGUP", "HANGUP", "SWITCH_EVENT_DTMF", "NO_SUCH_THING"])]
impl Monitor {
    #[event(chanel_hangup)]
    async fn hangup(&self, _event: &Event) {}

    #[event("HEARTBEET")]
    async fn beat(&self) {}
}

fn main() {}
