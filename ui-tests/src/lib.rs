//! Compile-time tests of the librevox macros live in `tests/`; this crate has no code of its own.
