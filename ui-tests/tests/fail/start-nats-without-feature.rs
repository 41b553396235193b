use librevox::{inbound, start};

#[derive(Default)]
struct Billing;

#[inbound]
impl Billing {}

fn main() {
    let _run = start!(Billing(nats = "nats://127.0.0.1:4222", consumer = "billing"));
}
