//! The differential test's channel-data scripts replayed against the
//! simulator alone: its transcript of each must be one the real switch
//! produced, as saved in `testdata/live/differential/` by
//! `LIBREVOX_DIFF_DUMP`. Needs no switch, so it runs in the plain
//! `cargo test --workspace`: a change to the simulator's caller profile,
//! loopback variables or inline dialplan that the switch would not make
//! fails here first.

use std::path::Path;

use librevox::simulator::{Extension, Simulator, SimulatorConfig};

#[path = "differential/channel_data.rs"]
mod channel_data;
#[path = "differential/wire.rs"]
mod wire;

use wire::{fresh_uuid, mask_uuids, Conn};

/// The switch's saved transcripts of `name`.
fn saved(name: &str) -> Vec<Vec<String>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/live/differential");
    let file: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let prefix = format!("{file}.switch-");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("testdata/live/differential") {
        let entry = entry.expect("a directory entry");
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let text = std::fs::read_to_string(entry.path()).expect("a saved transcript");
            out.push(text.lines().map(str::to_owned).collect());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_matches_the_switchs_saved_channel_data() {
    let config = SimulatorConfig::default()
        .extension(Extension::new("echo_test", &[("answer", ""), ("echo", "")]));
    let sim = Simulator::start(config)
        .await
        .expect("the simulator starts");
    let addr = sim.local_addr().expect("the simulator listens").to_string();
    let password = SimulatorConfig::default().password;
    let mut failures = Vec::new();
    for case in channel_data::cases() {
        let real = saved(case.name);
        assert!(
            !real.is_empty(),
            "no saved switch transcript of {:?} in testdata/live/differential",
            case.name
        );
        let sim_t = channel_data::run(&addr, &password, "127.0.0.1", &case).await;
        if !real.contains(&sim_t) {
            let closest = &real[0];
            let at = closest
                .iter()
                .zip(&sim_t)
                .position(|(a, b)| a != b)
                .unwrap_or(closest.len().min(sim_t.len()));
            failures.push(format!(
                "{:?} ({} exchanges): the simulator differs from the switch's saved transcript \
                 at line {at}:\n- {}\n+ {}",
                case.name,
                channel_data::exchanges(&case),
                closest.get(at).map_or("(end)", String::as_str),
                sim_t.get(at).map_or("(end)", String::as_str),
            ));
        }
    }
    sim.shutdown().await;
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
