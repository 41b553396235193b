use librevox::{inbound, outbound, start, Session};

struct Monitor;

#[inbound]
impl Monitor {}

struct Ivr;

#[outbound]
impl Ivr {
    async fn session_initiated(&self, _call: &Session) -> librevox::Result<()> {
        Ok(())
    }
}

struct Other;

fn main() {
    // A value for an outbound listener: it needs a factory.
    let _a = start!(Ivr = Ivr);
    // A factory for an inbound listener: it takes a value.
    let _b = start!(Monitor(factory = || Monitor));
    // A factory that is not a closure.
    let _c = start!(Ivr(factory = Ivr));
    // A factory that builds something else.
    let _d = start!(Ivr(factory = || Other));
    // A value of another type.
    let _e = start!(Monitor = Other);
}
