//! Attribute values that come from `macro_rules!` fragments (`$f:literal`,
//! `$e:expr`) reach the macros wrapped in invisible groups; they must be
//! read like the same text written directly.

use librevox::{event, inbound, outbound, start, EventFormat, InboundListener, OutboundListener, Session};

macro_rules! monitor {
    ($name:ident, $format:literal, $event:literal, $header:literal, $value:literal, $more:expr) => {
        struct $name;

        #[inbound(format = $format, events = [$event], filters($header = $value, "X-More" = [$more, "2"]))]
        impl $name {
            #[event($event)]
            async fn on_answer(&self) {}
        }
    };
}

macro_rules! ivr {
    ($name:ident, $linger:literal, $lock:literal) => {
        #[derive(Default)]
        struct $name;

        #[outbound(linger = $linger, event_lock = $lock)]
        impl $name {
            async fn session_initiated(&self, _call: &Session) -> librevox::Result<()> {
                Ok(())
            }
        }
    };
}

monitor!(Monitor, "json", "CHANNEL_ANSWER", "Caller-Context", "default", "1");
ivr!(Ivr, 30, false);

macro_rules! start_on {
    ($port:literal, $host:literal) => {
        start!(Ivr(host = $host, port = $port))
    };
}

fn main() {
    let sub = Monitor.subscription();
    assert_eq!(sub.format, EventFormat::Json);
    assert_eq!(sub.events, ["CHANNEL_ANSWER"]);
    let filters: Vec<(&str, &str)> = sub
        .filters
        .iter()
        .map(|(h, v)| (h.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        filters,
        [("Caller-Context", "default"), ("X-More", "1"), ("X-More", "2")]
    );
    let options = Ivr.options();
    assert_eq!(options.linger, librevox::Linger::Seconds(30));
    assert!(!options.event_lock);
    drop(start_on!(8099, "127.0.0.1"));
}
