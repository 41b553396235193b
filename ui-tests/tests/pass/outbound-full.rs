//! The outbound listener of the issue, and every outbound option.

use librevox::{event, outbound, Event, EventFormat, OutboundListener, Session, SessionEnd};
use std::sync::Mutex;

#[derive(Default)]
struct Ivr {
    digits: Mutex<Option<String>>,
}

#[outbound]
impl Ivr {
    async fn session_initiated(&self, _call: &Session) -> librevox::Result<()> {
        *self.digits.lock().unwrap() = Some("1".to_owned());
        Ok(())
    }

    #[event(channel_hangup)]
    async fn gone(&self, _call: &Session) {}

    // Two hooks for one event are fine: they run in declaration order.
    #[event(channel_hangup)]
    async fn gone_too(&self, _call: &Session, _event: &Event) {}

    async fn on_event(&self, _event: &Event) {}

    async fn session_ended(&self, _call: &Session, how: &SessionEnd) {
        let _ = (how.hangup_cause(), how.duration(), how.error());
    }
}

#[derive(Default)]
struct Configured;

#[outbound(linger = 30, event_lock = false, events = ["BACKGROUND_JOB", "CUSTOM my::thing"], format = "json")]
impl Configured {
    async fn session_initiated(&self) -> librevox::Result<()> {
        Ok(())
    }

    #[event(background_job)]
    async fn job(&self, _event: &Event) {}

    #[event(custom = "my::thing")]
    async fn thing(&self) {}

    // Every parameter after `&self` is optional.
    async fn session_ended(&self) {}
}

#[derive(Default)]
struct NoLinger;

#[outbound(linger = false, format = xml)]
impl NoLinger {
    async fn session_initiated(&self, _call: &Session) -> librevox::Result<()> {
        Ok(())
    }
}

fn main() {
    let o = Ivr::default().options();
    assert_eq!(o.linger, librevox::Linger::Forever);
    assert!(o.event_lock);
    assert!(o.events.is_empty());
    assert_eq!(o.format, EventFormat::Plain);

    let o = Configured.options();
    assert_eq!(o.linger, librevox::Linger::Seconds(30));
    assert!(!o.event_lock);
    assert_eq!(o.events, ["BACKGROUND_JOB", "CUSTOM my::thing"]);
    assert_eq!(o.format, EventFormat::Json);

    let o = NoLinger.options();
    assert_eq!(o.linger, librevox::Linger::Off);
    assert_eq!(o.format, EventFormat::Xml);
}
