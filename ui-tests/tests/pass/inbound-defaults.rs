//! Without options an inbound listener subscribes to ALL; hooks may then
//! handle any event, CUSTOM subclasses included. Generic listeners work.

use librevox::{event, inbound, Event, EventFormat, InboundListener};
use std::marker::PhantomData;

struct Everything;

#[inbound]
impl Everything {
    #[librevox::event(dtmf)]
    async fn digit(&self, _event: &Event) {}

    #[event(custom = "sofia::register")]
    async fn registered(&self) {}
}

struct Json<T>(PhantomData<fn() -> T>);

#[inbound(events = ["ALL"], format = "json")]
impl<T: 'static> Json<T> {
    #[event(heartbeat)]
    async fn beat(&self) {}
}

fn main() {
    let sub = Everything.subscription();
    assert_eq!(sub.events, ["ALL"]);
    assert!(sub.filters.is_empty());
    assert_eq!(sub.format, EventFormat::Plain);
    assert_eq!(Json::<u8>(PhantomData).subscription().format, EventFormat::Json);
}
