#!/usr/bin/env bash
# Issue 3 "Proof": per-call cost of the plugin hooks and of a Rhai option
# expression on this machine, against the issue's targets:
#   flow selection through the host  <= 10 µs median (encode/decode included)
#   eUE config generation            >= 20,000 files/s on one core (~1 KB file)
#   Rhai option expression           <= 2 µs
#
# Builds everything in release (plugins/build.sh for the .wasm files, the
# plugin_bench example, the headend-model test binary), then runs
#   engine/plugin/examples/plugin_bench.rs   (median, p99, p99.9 per call; files/s
#                                             = files / wall time of the loop)
#   headend-model's ignored `expr_bench` test (mean ns per `relay.address + 1`;
#                                             run RHAI_RUNS times, the median and
#                                             worst run are reported)
# and prints the machine load (`uptime`) before and after measuring: other
# jobs on the machine make every figure slower, so read the numbers together
# with the load. Everything runs on one thread.
#
# usage: bench/plugins.sh [CALLS]      (CALLS flow selections, CALLS/5 files; default 100000)
#        RHAI_RUNS=N bench/plugins.sh  (default 11)
set -euo pipefail
CALLS=${1:-100000}
RHAI_RUNS=${RHAI_RUNS:-11}
cd "$(dirname "$0")/.."

say() { echo "bench/plugins.sh: $*" >&2; }

say "building (release)"
plugins/build.sh >/dev/null 2>&1 || plugins/build.sh
cargo build --release -q -p headend-plugin --example plugin_bench
# The test binary of headend-model's library (where expr_bench lives).
RHAI_BIN=$(cargo test --release -q -p headend-model --lib --no-run --message-format=json 2>/dev/null |
    python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m.get("profile", {}).get("test"):
        print(m["executable"])
' | tail -n 1)
[ -x "$RHAI_BIN" ] || { say "error: no headend-model test binary"; exit 1; }

LOAD_BEFORE=$(uptime)
CORES=$(nproc)
echo "machine: $CORES cores; load before: $LOAD_BEFORE"
ONE_MIN=$(awk '{print $1}' /proc/loadavg)
if awk -v l="$ONE_MIN" 'BEGIN { exit !(l > 0.5) }'; then
    echo "note: 1-minute load average $ONE_MIN > 0.5: other jobs share the CPU, figures are pessimistic"
fi

OUT=$(target/release/examples/plugin_bench "$CALLS")
echo "$OUT"

RHAI=()
for _ in $(seq "$RHAI_RUNS"); do
    ns=$("$RHAI_BIN" --ignored --exact expr::tests::expr_bench --nocapture 2>/dev/null |
        sed -n 's/^expr_bench eval only: \([0-9]*\) ns\/eval.*/\1/p')
    [ -n "$ns" ] || { say "error: expr_bench printed no figure"; exit 1; }
    RHAI+=("$ns")
done
SORTED=$(printf '%s\n' "${RHAI[@]}" | sort -n)
RHAI_MEDIAN=$(echo "$SORTED" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
RHAI_WORST=$(echo "$SORTED" | tail -n 1)
echo "Rhai option expression (\`relay.address + 1\`, compiled once, eval per call): median of $RHAI_RUNS runs $RHAI_MEDIAN ns/eval, worst run $RHAI_WORST ns/eval"

LOAD_AFTER=$(uptime)
echo "load after: $LOAD_AFTER"

# The verdict against the issue's targets.
FLOW_MEDIAN=$(echo "$OUT" | sed -n 's/^flow selection.* median \([0-9.]*\) µs.*/\1/p')
FILES=$(echo "$OUT" | sed -n 's/^eUE config generation.* \([0-9]*\) files\/s.*/\1/p')
verdict() { # name value op target unit
    if awk -v v="$2" -v t="$4" -v op="$3" 'BEGIN { exit !((op == "<=" && v <= t) || (op == ">=" && v >= t)) }'; then
        echo "  $1: $2 $5 (target $3 $4) ok"
    else
        echo "  $1: $2 $5 (target $3 $4) MISSED"
    fi
}
echo "summary:"
if [ -n "$FLOW_MEDIAN" ]; then verdict "flow selection median" "$FLOW_MEDIAN" "<=" 10 "µs"; fi
if [ -n "$FILES" ]; then verdict "eUE config generation" "$FILES" ">=" 20000 "files/s"; fi
verdict "Rhai option expression" "$RHAI_MEDIAN" "<=" 2000 "ns"
