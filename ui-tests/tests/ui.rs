//! Compile tests of the librevox macros: everything under `pass/` must
//! compile (and run), everything under `fail/` must fail with exactly the
//! diagnostics in the neighbouring `.stderr` file.
//!
//! The `.stderr` files are rustc 1.95's wording (the compiler CI runs); the
//! toolchain is not pinned, so another compiler may phrase its part of a
//! diagnostic differently and fail these cases. After a deliberate change
//! to a message, or a compiler upgrade, read the new text as a user would,
//! then bless it with `TRYBUILD=overwrite cargo test -p librevox-ui-tests`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/pass/*.rs");
    t.compile_fail("tests/fail/*.rs");
}
