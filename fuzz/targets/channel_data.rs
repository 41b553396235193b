//! AFL++ entry point for `librevox_fuzz::channel_data`.
fn main() {
    afl::fuzz!(|data: &[u8]| librevox_fuzz::channel_data(data));
}
