#!/bin/bash
# SNMP provisioning server benchmark (not CI): Hybrid-flow enrollments per
# second (INFORM -> Response -> SET -> Response, the eUE file generated once
# per eUE and then served from the config server's cache) with the process
# CPU per enrollment, then INFORM receipt (INFORM -> Response) at headend and
# at net-snmp's snmptrapd side by side in the same run, with the same load
# generator (engine/server/examples/snmp_enroll_bench.rs).
#
# usage: bench/snmp-enroll.sh [eues] [seconds] [inform-clients]
# needs: snmptrapd (Debian snmptrapd), cargo; loopback only, bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
EUES=${1:-512}
SECS=${2:-10}
CLIENTS=${3:-64}
command -v snmptrapd >/dev/null || { echo "snmptrapd missing: apt-get install snmptrapd" >&2; exit 1; }
cargo build --release -q -p headend-server --example snmp_enroll_bench
BIN="${CARGO_TARGET_DIR:-target}/release/examples/snmp_enroll_bench"
export RUST_LOG=warn

echo "== enrollments: $EUES eUEs, ${SECS}s (load $(cut -d' ' -f1 /proc/loadavg))"
"$BIN" enroll "$EUES" "$SECS"

TMP=$(mktemp -d)
PORT=$((20000 + RANDOM % 20000))
cat >"$TMP/snmptrapd.conf" <<CONF
snmpTrapdAddr udp:127.0.0.1:$PORT
authCommunity log bench
CONF
snmptrapd -f -m "" -Lf /dev/null -C -c "$TMP/snmptrapd.conf" -p "$TMP/pid" &
TRAPD=$!
trap 'kill $TRAPD 2>/dev/null || true; wait $TRAPD 2>/dev/null || true; rm -rf "$TMP"' EXIT
sleep 1

echo "== INFORM receipt, $CLIENTS clients, ${SECS}s each"
T=$("$BIN" inform "127.0.0.1:$PORT" "$CLIENTS" "$SECS" | tee /dev/stderr | sed -n 's/.* = \([0-9]*\)\/s.*/\1/p')
H=$("$BIN" inform headend "$CLIENTS" "$SECS" | tee /dev/stderr | sed -n 's/.* = \([0-9]*\)\/s.*/\1/p')
TRAPD_CPU=$(awk '{print ($14+$15)/100}' /proc/$TRAPD/stat)
echo "snmptrapd CPU over its run: ${TRAPD_CPU}s"
if [ -n "$T" ] && [ "$T" -gt 0 ]; then
    echo "ratio headend/snmptrapd INFORM receipt: $(awk -v h="$H" -v t="$T" 'BEGIN{printf "%.1f", h/t}')x"
fi
