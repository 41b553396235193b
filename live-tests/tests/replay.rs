//! The differential test's channel-data scripts replayed against the
//! simulator alone: its transcript of each must be one the real switch
//! produced, as saved in `testdata/live/differential/` by
//! `LIBREVOX_DIFF_DUMP`. Needs no switch, so it runs in the plain
//! `cargo test --workspace`: a change to the simulator's caller profile,
//! loopback variables or inline dialplan that the switch would not make
//! fails here first. The outbound scripts replay too, the call placed by
//! the simulator's dialplan under each seed of its order mode: each seed's
//! transcript must be one of the switch's saved orders, and each saved
//! order must come from some seed.

use std::path::Path;

use std::collections::BTreeSet;

use librevox::simulator::{Extension, Order, Simulator, SimulatorConfig};

#[path = "differential/channel_data.rs"]
mod channel_data;
// Its switch half (`run`, against a real switch) is the differential's.
#[allow(dead_code)]
#[path = "differential/outbound.rs"]
mod outbound;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_simulator_produces_every_saved_outbound_order_and_no_other() {
    let mut failures = Vec::new();
    for call in outbound::calls() {
        let real: BTreeSet<Vec<String>> = saved(call.name).into_iter().collect();
        assert!(
            real.len() >= 2,
            "fewer than two saved switch orders of {:?} in testdata/live/differential",
            call.name
        );
        let mut placed = BTreeSet::new();
        for seed in outbound::SIM_SEEDS {
            let config = SimulatorConfig {
                order: Order::Seeded(seed),
                ..SimulatorConfig::default()
            };
            let t = outbound::run_placed(config, &outbound::seeded_uuid(seed), &call).await;
            if !real.contains(&t) {
                failures.push(format!(
                    "{:?}, seed {seed}: the simulator's transcript is none of the switch's saved \
                     orders:\n{}",
                    call.name,
                    t.join("\n")
                ));
            }
            placed.insert(t);
        }
        for t in real.difference(&placed) {
            failures.push(format!(
                "{:?}: no seed of {:?} produced this saved order of the switch's:\n{}",
                call.name,
                outbound::SIM_SEEDS,
                t.join("\n")
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
