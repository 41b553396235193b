use librevox::{inbound, Event};

struct Monitor {
    port: u16,
}

// A computed filter value must be a string (or a list of strings).
#[inbound(filters("X-Port" = self.port))]
impl Monitor {
    async fn on_event(&self, _event: &Event) {}
}

fn main() {}
