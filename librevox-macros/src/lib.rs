//! Procedural macros for [librevox](https://docs.rs/librevox).
//!
//! Do not depend on this crate directly: the `librevox` crate re-exports
//! everything it defines. The attribute macros (`#[inbound]`, `#[outbound]`,
//! `#[event]`, `#[app]`) and `start!` arrive with the listener layer; until
//! then this crate is an empty shell that keeps the workspace layout stable.
