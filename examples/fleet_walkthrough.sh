#!/usr/bin/env bash
# README "Running a fleet", the walk-through, run as written there: a
# nats-server, the simulator as two switches (fs1, fs2), two bridges on both,
# a consumer; a call on each switch, hung up; one bridge killed, another call
# on each switch; every hang-up printed by the consumer exactly once.
#
#   examples/fleet_walkthrough.sh
#
# Between the README's commands it waits (each wait bounded) for what the
# previous one started, and at the end checks the consumer's output. Every
# process it started is stopped when it ends, however it ends. The ports are
# the README's (4222, 8021, 8022, 9464, 9465): they must be free.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work" /tmp/fleet-nats' EXIT

# wait_for SECONDS DESCRIPTION COMMAND...: runs COMMAND until it succeeds.
wait_for() {
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "walk-through: $what did not happen within the wait" >&2
      exit 1
    fi
    sleep 0.2
  done
}
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in 4222 8021 8022 9464 9465; do
  if listening "$port"; then
    echo "walk-through: port $port is taken; it needs 4222, 8021, 8022, 9464, 9465" >&2
    exit 1
  fi
done
command -v nats-server >/dev/null || export PATH=$PATH:/usr/sbin

# --- the README's commands, in order ---
cargo build -p librevox-cli
cargo build -p librevox --features nats --example fleet_consumer
export PATH=$PWD/target/debug:$PWD/target/debug/examples:$PATH

nats-server -js -sd /tmp/fleet-nats -p 4222 &
wait_for 10 "nats-server listening on 4222" listening 4222
librevox --port 8021 sim &
librevox --port 8022 sim &
wait_for 10 "the simulators listening" bash -c "exec 3<>/dev/tcp/127.0.0.1/8021 && exec 4<>/dev/tcp/127.0.0.1/8022"
librevox bridge --switch fs1=127.0.0.1:8021 --switch fs2=127.0.0.1:8022 --metrics 127.0.0.1:9464 &
bridge_a=$!
librevox bridge --switch fs1=127.0.0.1:8021 --switch fs2=127.0.0.1:8022 --metrics 127.0.0.1:9465 &
wait_for 20 "bridge A ready" curl -sf 127.0.0.1:9464/ready
wait_for 20 "bridge B ready" curl -sf 127.0.0.1:9465/ready
curl -s 127.0.0.1:9464/ready
curl -s 127.0.0.1:9465/ready

# (The consumer's output goes to a file, to be checked below.)

fleet_consumer nats://127.0.0.1:4222 billing >"$work/consumer.out" &
librevox --port 8021 api 'originate loopback/park &park()'
librevox --port 8022 api 'originate loopback/park &park()'
librevox --port 8021 api hupall
librevox --port 8022 api hupall
kill "$bridge_a"
librevox --port 8021 api 'originate loopback/park &park()'
librevox --port 8022 api 'originate loopback/park &park()'
librevox --port 8021 api hupall
librevox --port 8022 api hupall
# --- end of the README's commands ---

# The loopback calls have two legs each: 4 calls, 8 channels hung up.
count() { grep -c " hung up: " "$work/consumer.out" || true; }
ok=0
for _ in $(seq 150); do
  if [ "$(count)" -ge 8 ]; then ok=1; break; fi
  sleep 0.2
done
cat "$work/consumer.out"
if [ "$ok" != 1 ]; then
  echo "walk-through: $(count) hang-ups at the consumer within 30 s, expected 8" >&2
  exit 1
fi
for sw in fs1 fs2; do
  n=$(grep -c "^$sw .* hung up" "$work/consumer.out" || true)
  if [ "$n" != 4 ]; then
    echo "walk-through: $n hang-ups of $sw, expected 4 (2 calls of 2 legs)" >&2
    exit 1
  fi
done
dups=$(awk '{print $2}' "$work/consumer.out" | sort | uniq -d | wc -l)
if [ "$dups" != 0 ]; then
  echo "walk-through: $dups events printed twice" >&2
  exit 1
fi
echo "walk-through: 8 hang-ups (4 per switch), none twice, after one bridge was killed"
