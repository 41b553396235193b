//! AFL++ entry point for `librevox_fuzz::packet`.
fn main() {
    afl::fuzz!(|data: &[u8]| librevox_fuzz::packet(data));
}
