//! AFL++ entry point for `librevox_fuzz::percent`.
fn main() {
    afl::fuzz!(|data: &[u8]| librevox_fuzz::percent(data));
}
