//! Placeholder replaced by the catalogue issue.
fn main() {}
