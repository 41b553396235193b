use librevox::{inbound, start};

struct Monitor;

#[inbound]
impl Monitor {}

fn main() {
    let _run = start!(Monitor(factory = || Monitor) = Monitor);
    let _run = start!(Monitor(value = Monitor));
}
