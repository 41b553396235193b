//! Compile tests of the librevox macros: everything under `pass/` must
//! compile (and run), everything under `fail/` must fail with exactly the
//! diagnostics in the neighbouring `.stderr` file.
//!
//! The toolchain is pinned, so the `.stderr` files are stable. After a
//! deliberate change to a message, read the new text as a user would, then
//! bless it with `TRYBUILD=overwrite cargo test -p librevox-ui-tests`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/pass/*.rs");
    t.compile_fail("tests/fail/*.rs");
}
