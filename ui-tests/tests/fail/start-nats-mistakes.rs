use librevox::{inbound, start};

#[derive(Default)]
struct Billing;

#[inbound]
impl Billing {}

#[derive(Default)]
struct Audit;

#[inbound]
impl Audit {}

#[derive(Default)]
struct Cdr;

#[inbound]
impl Cdr {}

fn main() {
    let _run = start!(
        Billing(nats = "nats://127.0.0.1:4222"),
        Audit(consumer = "audit"),
        Cdr(nats = "nats://127.0.0.1:4222", consumer = "cdr", password = "x", port = 8021),
    );
}
