use librevox::{inbound, Event};

struct Monitor;

#[inbound(filters("Caller-Context" = [], "Caller-Context" = "x", "Bad Header" = "y", "X" = "a\nb", "Y" = 3, "Z" = [""]))]
impl Monitor {
    async fn on_event(&self, _event: &Event) {}
}

fn main() {}
