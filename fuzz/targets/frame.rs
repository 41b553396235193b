//! AFL++ entry point for `librevox_fuzz::frame`.
fn main() {
    afl::fuzz!(|data: &[u8]| librevox_fuzz::frame(data));
}
