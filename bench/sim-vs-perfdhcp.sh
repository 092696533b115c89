#!/usr/bin/env bash
# Validates the simulator as a load generator against perfdhcp (issue 15):
# at rates both can produce, ISC Kea 2.2 (memfile, persist, 2 threads) is
# loaded once by perfdhcp and once by headend-sim in DHCP-only mode, same
# offered rate, same period, a fresh lease file each run; both act as relay
# 127.0.0.2:67 on loopback in a namespace of their own. Reported per run:
# the ACK rate, the DISCOVER-OFFER and REQUEST-ACK loss, and Kea's CPU per
# exchange. The simulator sends each message once (--dhcp-attempts 1), as
# perfdhcp does, so its failed devices are perfdhcp's "drops".
# Agreement is claimed within TOL_RATE % on the ACK rate and TOL_LOSS
# percentage points on each loss. Kea's CPU per exchange is shown too but not
# part of the claim: the simulator sends in 1 ms batches (one poll wake-up
# each), perfdhcp spaces every packet, and Kea spends more per packet when
# each arrives alone.
#
#   RATES="2000 4000 6000" PERIOD=20 bench/sim-vs-perfdhcp.sh
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
. bench/lib.sh
PATH=$PATH:/usr/sbin:/sbin
RATES=${RATES:-"2000 4000 6000"}
PERIOD=${PERIOD:-20}
TOL_RATE=${TOL_RATE:-2}
TOL_LOSS=${TOL_LOSS:-0.5}
for t in kea-dhcp4 perfdhcp ip python3; do command -v $t >/dev/null || { echo "missing $t (scripts/setup --peers)" >&2; exit 1; }; done
[ "$(id -u)" = 0 ] || { echo "needs root (network namespace, port 67)" >&2; exit 1; }
cargo build --release -q -p headend-sim
WORK=$(mktemp -d /tmp/headend-sim-vs-perfdhcp.XXXXXX)
cp target/release/headend-sim "$WORK/"
NS=hesimpd$$
KEA=""
cleanup() { [ -n "$KEA" ] && stop_pid "$KEA"; ip netns del "$NS" 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$WORK"; }
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" addr add 127.0.0.2/8 dev lo
cat > "$WORK/kea4.json" <<JSON
{ "Dhcp4": {
    "interfaces-config": { "interfaces": [ "lo/127.0.0.1" ], "dhcp-socket-type": "udp" },
    "lease-database": { "type": "memfile", "persist": true, "name": "$WORK/leases4.csv", "lfc-interval": 3600 },
    "valid-lifetime": 3600, "renew-timer": 900, "rebind-timer": 1800,
    "multi-threading": { "enable-multi-threading": true, "thread-pool-size": 2, "packet-queue-size": 256 },
    "subnet4": [ { "id": 1, "subnet": "10.0.0.0/11", "pools": [ { "pool": "10.0.0.10 - 10.31.255.250" } ],
                   "relay": { "ip-addresses": [ "127.0.0.2" ] },
                   "option-data": [ { "name": "routers", "data": "10.0.0.1" } ] } ],
    "loggers": [ { "name": "kea-dhcp4", "output_options": [ { "output": "$WORK/kea4.log" } ], "severity": "WARN" } ] } }
JSON
export KEA_LOCKFILE_DIR=$WORK KEA_PIDFILE_DIR=$WORK
start_kea() {
    [ -n "$KEA" ] && stop_pid "$KEA"
    rm -f "$WORK"/leases4.csv*
    ip netns exec "$NS" kea-dhcp4 -c "$WORK/kea4.json" > "$WORK/kea4.out" 2>&1 &
    KEA=$!
    sleep 1.5
    kill -0 "$KEA" || { cat "$WORK/kea4.out" >&2; exit 1; }
}
warn_if_busy "kea"
echo "Kea 2 threads, memfile persist; ${PERIOD} s per run; loss = lost/sent per exchange"
printf '%-6s %-10s %10s %9s %9s %12s\n' rate generator "ACK/s" "DO lost%" "RA lost%" "kea µs/DORA"
for R in $RATES; do
    # perfdhcp: distinct clients so that every exchange is a new lease, like the simulator's devices.
    start_kea; t0=$(cpu_ticks "$KEA")
    timeout -s INT -k 5 $((PERIOD + 20)) ip netns exec "$NS" perfdhcp -g single -4 -l 127.0.0.2 \
        -r "$R" -R $((R * PERIOD * 2)) -p "$PERIOD" -W 1000000 127.0.0.1 > "$WORK/perf-$R.txt" 2>&1 || true
    t1=$(cpu_ticks "$KEA")
    P_LINE=$(awk -v r="$R" -v p="$PERIOD" -v cpu=$((t1 - t0)) -v hz="$HZ" '
        /Statistics for: DISCOVER-OFFER/ { s = "DO" } /Statistics for: REQUEST-ACK/ { s = "RA" }
        /^sent packets:/ { sent[s] = $3 } /^received packets:/ { recv[s] = $3 }
        END { printf "%d %.1f %.4f %.4f %.1f", r, recv["RA"] / p,
              100 * (sent["DO"] - recv["DO"]) / sent["DO"], 100 * (sent["RA"] - recv["RA"]) / sent["RA"],
              cpu / hz / recv["RA"] * 1e6 }' "$WORK/perf-$R.txt")
    start_kea; t0=$(cpu_ticks "$KEA")
    timeout -k 5 $((PERIOD + 40)) ip netns exec "$NS" "$WORK/headend-sim" --server4 127.0.0.1:67 \
        --relay 127.0.0.2 --relay-port 67 --cpe $((R * PERIOD)) --rate "$R" --dhcp-only \
        --dhcp-attempts 1 --dhcp-timeout 2 --duration $((PERIOD + 20)) --json > "$WORK/sim-$R.json" || true
    t1=$(cpu_ticks "$KEA")
    S_LINE=$(python3 - "$R" "$PERIOD" $((t1 - t0)) "$HZ" "$WORK/sim-$R.json" <<'PY'
import json, sys
r, p, cpu, hz, rep = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), json.load(open(sys.argv[5]))
acks = sum(d["completed"] for d in rep["devices"])
fail = {f["reason"]: f["count"] for f in rep["failures"]}
sent_do = r * p
lost_do = fail.get("no DHCPOFFER", 0)
sent_ra = sent_do - lost_do
lost_ra = fail.get("no DHCPACK", 0)
print(f"{r} {acks / p:.1f} {100 * lost_do / sent_do:.4f} {100 * lost_ra / max(sent_ra, 1):.4f} {cpu / hz / max(acks, 1) * 1e6:.1f}")
PY
)
    read -r _ pr pdo pra pcpu <<<"$P_LINE"
    read -r _ sr sdo sra scpu <<<"$S_LINE"
    printf '%-6s %-10s %10s %9s %9s %12s\n' "$R" perfdhcp "$pr" "$pdo" "$pra" "$pcpu"
    printf '%-6s %-10s %10s %9s %9s %12s\n' "$R" simulator "$sr" "$sdo" "$sra" "$scpu"
    awk -v pr="$pr" -v sr="$sr" -v pdo="$pdo" -v sdo="$sdo" -v pra="$pra" -v sra="$sra" -v pc="$pcpu" -v sc="$scpu" \
        -v tr="$TOL_RATE" -v tl="$TOL_LOSS" 'function abs(x) { return x < 0 ? -x : x } BEGIN {
        dr = 100 * abs(sr - pr) / pr; dc = 100 * abs(sc - pc) / pc
        ok = dr <= tr && abs(sdo - pdo) <= tl && abs(sra - pra) <= tl
        printf "       agreement: ACK rate %.2f %%, DO loss %.4f pp, RA loss %.4f pp: %s (Kea CPU differs %.1f %%)\n",
            dr, abs(sdo - pdo), abs(sra - pra), ok ? "within tolerance" : "OUTSIDE tolerance", dc }'
done
