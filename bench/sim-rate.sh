#!/usr/bin/env bash
# How fast one core of the simulator drives DHCPv4 DORA (issue 15: at least
# 50,000 DORA/s against a server that keeps up). No provisioning server keeps
# up with that on this machine, so the simulator (pinned to core 0) runs
# against headend-sim-reflector (pinned to core 1), a stateless answerer;
# both in a network namespace of their own. For each rate: devices done, the
# achieved rate, retransmissions, and the simulator's CPU per DORA.
#
#   RATES="20000 50000 80000" DEVICES=400000 bench/sim-rate.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
RATES=${RATES:-"20000 50000 80000"}
DEVICES=${DEVICES:-400000}
[ "$(id -u)" = 0 ] || { echo "needs root (network namespace)" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || echo "WARNING: fewer than 2 cores: the simulator and the reflector share one" >&2
cargo build --release -q -p headend-sim
BIN=$(mktemp -d /tmp/headend-sim-rate.XXXXXX)
cp target/release/headend-sim target/release/headend-sim-reflector "$BIN/"
NS=hesimrate$$
ip netns add "$NS"
REFL=""
cleanup() { [ -n "$REFL" ] && stop_pid "$REFL"; ip netns del "$NS" 2>/dev/null || true; rm -rf "$BIN"; }
trap cleanup EXIT
ip -n "$NS" link set lo up
ip netns exec "$NS" taskset -c 1 "$BIN/headend-sim-reflector" 127.0.0.1:6767 2>"$BIN/refl.log" &
REFL=$!
sleep 0.5
warn_if_busy "simulator"
printf '%-8s %-9s %-9s %-8s %-10s %s\n' rate devices done/s resent sim-cpu-s "µs/DORA"
for R in $RATES; do
    /usr/bin/time -f "%U %S" -o "$BIN/time" ip netns exec "$NS" taskset -c 0 "$BIN/headend-sim" \
        --server4 127.0.0.1:6767 --cpe "$DEVICES" --dhcp-only --rate "$R" --duration 60 --json \
        > "$BIN/report.json" || true
    python3 - "$R" "$DEVICES" "$BIN/report.json" "$BIN/time" <<'PY'
import json, sys
rate, n, rep, tm = sys.argv[1], int(sys.argv[2]), json.load(open(sys.argv[3])), open(sys.argv[4]).read().split()
cpu = float(tm[0]) + float(tm[1])
done = sum(d["completed"] for d in rep["devices"])
resent = rep["datagrams_sent"] - 2 * done
print(f"{rate:<8} {done:<9} {rep['completed_per_s']:<9.0f} {resent:<8} {cpu:<10.2f} {cpu / max(done, 1) * 1e6:.1f}")
PY
done
