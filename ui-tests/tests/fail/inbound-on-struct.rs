use librevox::inbound;

#[inbound]
struct Monitor;

fn main() {}
