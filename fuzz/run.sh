#!/usr/bin/env bash
# Runs AFL++ campaigns on the fuzz targets, each bounded in time, and fails if
# any found a crash or a hang.
#
#   fuzz/run.sh SECONDS [TARGET...]     (default: every target)
#
# Needs `cargo install cargo-afl` (AFL++ is built by it) and the targets built:
#   (cd fuzz && cargo afl build --release --features afl)
# One campaign at a time, at nice 19 (the machine is shared); FUZZ_JOBS=2 runs
# two. cargo-afl is called directly, not through `cargo`, so a campaign never
# holds a cargo lock (CARGO_AFL names the binary, default cargo-afl on PATH).
# Findings go to fuzz/target/afl/TARGET/ (FUZZ_OUT changes the
# directory); a crash's input is in
# .../default/crashes/ — replay it with
#   cargo test --manifest-path fuzz/Cargo.toml (after copying it into
#   fuzz/corpus/TARGET/) or fuzz/target/release/TARGET < FILE.
# At the end it prints, per target, the executions done and what was found.
set -euo pipefail
cd "$(dirname "$0")"

seconds=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(frame event_plain event_json event_xml percent channel_data packet cli_decode)
fi
jobs=${FUZZ_JOBS:-1}
afl=${CARGO_AFL:-cargo-afl}
out_root=${FUZZ_OUT:-target/afl}

export AFL_NO_UI=1
export AFL_SKIP_CPUFREQ=1
export AFL_NO_AFFINITY=1
# CI machines send core dumps to a handler; the fuzzer only needs the signal.
export AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
export AFL_SKIP_CRASHES=0
export AFL_FAST_CAL=1

campaign() {
  local t=$1 out=$out_root/$1
  rm -rf "$out"
  mkdir -p "$out"
  # -V: stop after SECONDS; -t: a run over 2 s is a hang (generous, so a busy
  # machine does not report one by mistake).
  nice -n 19 "$afl" afl fuzz -i "corpus/$t" -o "$out" -V "$seconds" -t 2000 \
    "target/release/$t" > "$out/log.txt" 2>&1 || {
      echo "afl-fuzz failed to run $t:" >&2
      tail -30 "$out/log.txt" >&2
      return 1
    }
}

pids=()
for t in "${targets[@]}"; do
  campaign "$t" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}"
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p"; done

status=0
total=0
printf '%-14s %14s %8s %8s %8s\n' target executions crashes hangs corpus
for t in "${targets[@]}"; do
  stats=$out_root/$t/default/fuzzer_stats
  if [ ! -f "$stats" ]; then
    echo "$t: no fuzzer_stats (the campaign did not start)" >&2
    status=1
    continue
  fi
  field() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
  execs=$(field execs_done)
  crashes=$(field saved_crashes)
  hangs=$(field saved_hangs)
  corpus=$(field corpus_count)
  printf '%-14s %14s %8s %8s %8s\n' "$t" "$execs" "$crashes" "$hangs" "$corpus"
  total=$((total + execs))
  if [ "$execs" -eq 0 ] || [ "$crashes" -ne 0 ] || [ "$hangs" -ne 0 ]; then
    status=1
  fi
done
echo "total executions: $total"
if [ $status -ne 0 ]; then
  echo "fuzzing found a crash or a hang (or a campaign did not run): see fuzz/$out_root/*/default/" >&2
fi
exit $status
