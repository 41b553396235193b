use librevox::{inbound, Event};

struct Monitor;

// A literal that is not a string, inside a list.
#[inbound(filters("X-Number" = [5, "6"]))]
impl Monitor {
    async fn on_event(&self, _event: &Event) {}
}

fn main() {}
