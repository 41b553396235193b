//! `librevox-loadtest --smoke`: small runs of every workload that check
//! correctness only (every event counted, every call completed, no protocol
//! error, drops only under the lossy policy and then counted). No timing is
//! asserted.

#[test]
fn smoke_run_is_correct() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_librevox-loadtest"))
        .arg("--smoke")
        .output()
        .expect("run librevox-loadtest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "librevox-loadtest --smoke failed\n--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("all correctness checks passed"), "{stdout}");
}

/// The soak's short version (3,000 calls, 300 at once; 100,000 events):
/// correctness only, RSS is reported but not judged.
#[test]
fn soak_smoke_run_is_correct() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_librevox-loadtest"))
        .args(["--smoke", "--only", "soak"])
        .output()
        .expect("run librevox-loadtest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "librevox-loadtest --smoke --only soak failed\n--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("all correctness checks passed"), "{stdout}");
    assert!(
        stdout.contains("| soak | multi-thread | outbound"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| soak | multi-thread | inbound"),
        "{stdout}"
    );
}
