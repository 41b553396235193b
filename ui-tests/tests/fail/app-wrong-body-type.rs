use librevox::app;

#[app]
fn sleep(ms: u32) -> u32 {
    ms
}

fn main() {}
