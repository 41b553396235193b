use librevox::app;

#[app]
struct Playback;

fn main() {}
