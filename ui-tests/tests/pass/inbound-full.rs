//! The inbound listener of the issue, with every kind of hook signature.

use librevox::{event, inbound, Event, EventFormat, Inbound, InboundListener, Subscription};

struct Monitor;

#[inbound(events = ["CHANNEL_EXECUTE", "CHANNEL_HANGUP", "CHANNEL_BRIDGE", "CUSTOM conference::maintenance"],
          filters("Caller-Context" = ["default", "example"], "Caller-Privacy-Hide-Name" = "no"))]
impl Monitor {
    async fn on_event(&self, _ctx: &Inbound, _event: &Event) {}

    #[event(channel_hangup)]
    async fn hangup(&self, _ctx: &Inbound) {}

    #[event(channel_bridge)]
    async fn bridged(&self, event: &Event) {
        println!("{:?}", event.header("Caller-Caller-ID-Number"));
    }

    #[event(custom = "conference::maintenance")]
    async fn conf(&self, _event: &Event) {}

    #[event("CHANNEL_EXECUTE", channel_hangup)]
    async fn both(&self) {}

    async fn connection_completed(&self, _ctx: &Inbound) {}

    async fn reconnected(&self) {}

    /// Not a hook: left alone.
    fn helper(&self) -> u32 {
        1
    }
}

fn main() {
    let sub: Subscription = Monitor.subscription();
    assert_eq!(
        sub.events,
        ["CHANNEL_EXECUTE", "CHANNEL_HANGUP", "CHANNEL_BRIDGE", "CUSTOM conference::maintenance"]
    );
    assert_eq!(sub.format, EventFormat::Plain);
    let filters: Vec<(&str, &str)> = sub.filters.iter().map(|(h, v)| (h.as_str(), v.as_str())).collect();
    assert_eq!(
        filters,
        [
            ("Caller-Context", "default"),
            ("Caller-Context", "example"),
            ("Caller-Privacy-Hide-Name", "no"),
        ]
    );
    assert_eq!(Monitor.helper(), 1);
}
