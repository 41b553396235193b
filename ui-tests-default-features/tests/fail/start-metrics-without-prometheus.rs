use librevox::{inbound, start};

#[derive(Default)]
struct Monitor;

#[inbound]
impl Monitor {}

fn main() {
    let _run = start!(metrics = "127.0.0.1:9464", Monitor);
}
