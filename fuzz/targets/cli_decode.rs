//! AFL++ entry point for `librevox_fuzz::cli_decode`.
fn main() {
    afl::fuzz!(|data: &[u8]| librevox_fuzz::cli_decode(data));
}
