//! Compile tests of `start!` against librevox without its optional
//! features: everything under `fail/` must fail with exactly the
//! diagnostics in the neighbouring `.stderr` file (rustc 1.95's wording, as
//! in `ui-tests`). Bless a deliberate change with
//! `TRYBUILD=overwrite cargo test -p librevox-ui-tests-default-features`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/fail/*.rs");
}
