use librevox::{outbound, Event, Session, SessionEnd};

struct TakesEvent;

#[outbound]
impl TakesEvent {
    async fn session_initiated(&self, _call: &Session) -> librevox::Result<()> {
        Ok(())
    }

    async fn session_ended(&self, _call: &Session, _event: &Event) {}
}

struct WrongOrder;

#[outbound]
impl WrongOrder {
    async fn session_initiated(&self, _call: &Session) -> librevox::Result<()> {
        Ok(())
    }

    async fn session_ended(&self, _how: &SessionEnd, _call: &Session) {}
}

struct ReturnsSomething;

#[outbound]
impl ReturnsSomething {
    async fn session_initiated(&self, _call: &Session) -> librevox::Result<()> {
        Ok(())
    }

    async fn session_ended(&self, _how: &SessionEnd) -> librevox::Result<()> {
        Ok(())
    }
}

struct ByValue;

#[outbound]
impl ByValue {
    async fn session_initiated(&self, _call: &Session) -> librevox::Result<()> {
        Ok(())
    }

    async fn session_ended(&self, _how: SessionEnd) {}
}

fn main() {}
