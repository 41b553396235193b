//! Compile-time tests of the librevox macros (`#[inbound]`, `#[outbound]`,
//! `#[event]`, `#[app]`, `start!`). The cases are in `tests/pass` and
//! `tests/fail`, driven by `tests/ui.rs`; this library is empty.
