fn main() {
    let _run = librevox::start!();
}
