//! `librevox-loadtest --smoke --only bridge`: the bridge workload's short
//! version (3,000 events through the bridge and through the raw publisher)
//! against a real nats-server the load tool starts; correctness only (every
//! event acknowledged and stored once, none dropped, the bridge's stream
//! configured as the raw publisher's). Part of the NATS tier: `test = false`,
//! `.ci/run` runs it by name.

#[test]
fn bridge_smoke_run_is_correct() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_librevox-loadtest"))
        .args(["--smoke", "--only", "bridge"])
        .output()
        .expect("run librevox-loadtest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "librevox-loadtest --smoke --only bridge failed\n--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("all correctness checks passed"), "{stdout}");
    assert!(
        stdout.contains("| bridge | multi-thread | events/s"),
        "{stdout}"
    );
}
