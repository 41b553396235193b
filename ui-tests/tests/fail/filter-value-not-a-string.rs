use librevox::{inbound, Event};

struct Monitor {
    port: u16,
}

#[inbound(filters("X-Port" = self.port, "X-Number" = [5, "6"]))]
impl Monitor {
    async fn on_event(&self, _event: &Event) {}
}

fn main() {}
