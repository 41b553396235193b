use librevox::{inbound, start};

#[derive(Default)]
struct Monitor;

#[inbound]
impl Monitor {}

#[derive(Default)]
struct Audit;

#[inbound]
impl Audit {}

#[derive(Default)]
struct Billing;

#[inbound]
impl Billing {}

fn main() {
    let _run = start!(
        Monitor(hosts = "10.0.0.1:8021"),
        Audit(hosts = [], port = 8021),
        Billing(hosts = [fs1 = "10.0.0.1:8021", fs1 = "10.0.0.2:8021", "10.0.0.1:8021", 8021, a::b = "x:1", "bad host"]),
    );
}
