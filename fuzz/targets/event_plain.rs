//! AFL++ entry point for `librevox_fuzz::event_plain`.
fn main() {
    afl::fuzz!(|data: &[u8]| librevox_fuzz::event_plain(data));
}
