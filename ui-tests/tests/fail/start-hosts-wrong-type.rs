use librevox::{inbound, start};

#[derive(Default)]
struct Monitor;

#[inbound]
impl Monitor {}

fn main() {
    let port: u16 = 8021;
    let _run = start!(Monitor(hosts = [fs1 = "10.0.0.1:8021", fs2 = port]));
}
