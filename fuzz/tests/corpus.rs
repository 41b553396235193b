//! Every committed input (the seeds, and every input a campaign found
//! interesting or that once crashed a target) replayed through its target
//! without AFL: `cargo test --manifest-path fuzz/Cargo.toml`.

use std::fs;
use std::path::Path;

#[test]
fn every_committed_input_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut total = 0;
    for (name, target) in librevox_fuzz::TARGETS {
        let dir = root.join(name);
        let mut files: Vec<_> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no seeds for {name}");
        for path in files {
            let data = fs::read(&path).unwrap();
            target(&data);
            total += 1;
        }
    }
    println!("{total} inputs replayed");
}
