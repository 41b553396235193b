//! Compile-time tests of the `start!` options that need a librevox feature
//! (`metrics =` needs `prometheus`), built against
//! librevox with its default features only. The cases are in `tests/fail`,
//! driven by `tests/ui.rs`; this library is empty. The cases with the
//! features on are in `ui-tests`.
