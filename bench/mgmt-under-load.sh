#!/usr/bin/env bash
# The management API beside a loaded DHCP server (issue 13, "Load"):
#
#  1. Search latency: with SEED (1,000,000) leases in the store, curl asks
#     /api/v1/leases?ip=… and ?mac=… for SEARCHES random seeded leases over
#     one keep-alive connection each; the script prints p50 / p99 / max of
#     curl's time_total per request (the whole HTTP exchange, client side).
#  2. DHCP rate with and without API load: perfdhcp runs DORA at each of RATES for
#     PERIOD s, REPEAT times alone and then while curl asks lease searches at
#     SEARCH_RATE per second (by IP or MAC; PAGES=1 adds relay pages) — and the
#     script prints the ACKed rate, the loss and the server's CPU per
#     exchange of each run, and the ratio of the two ACKed rates.
#
# Run by hand as root (not by CI), with a release build:
#   cargo build --release -p headend
#   bench/mgmt-under-load.sh
# Environment (defaults in brackets):
#   SEED [1000000]  SEARCHES [1000]  RATES ["8000 10000 12000 14000"]  PERIOD [20]
#   SEARCH_RATE [200]
# The summary gives the ratio of the ACKed rates (with searches / alone) at
# each offered rate, up to the machine's saturation (about 13,000 DORA/s
# with perfdhcp on the same 2 cores). Far above it (20,000/s offered) the
# loss collapses chaotically and two identical runs differ by tens of per
# cent: ACK rates there measure nothing.
#   CLIENTS perfdhcp -R [100000]  HEADEND [target/release/headend]  KEEP=1 keep the work dir
#   PAGES=1 also ask relay pages of 100 leases in the load (heavier answers)
#   REPEAT [1] alone / with-searches pairs per rate
# Bounded: two perfdhcp runs under `timeout`, curl runs bounded by count and
# --max-time; everything started here is stopped by PID, the namespace deleted.
set -euo pipefail

SEED=${SEED:-1000000}
SEARCHES=${SEARCHES:-1000}
RATES=${RATES:-"8000 10000 12000 14000"}
PERIOD=${PERIOD:-20}
SEARCH_RATE=${SEARCH_RATE:-200}
CLIENTS=${CLIENTS:-100000}
REPO=$(cd "$(dirname "$0")/.." && pwd)
HEADEND=${HEADEND:-$REPO/target/release/headend}
PATH=$PATH:/usr/sbin:/sbin
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

SERVER=127.0.0.1
RELAY=127.0.0.2
API=http://127.0.0.1:6080
PASSWORD="bench password, long enough"
PERF_OPTS=(-o 60,646f63736973332e303a30353031303130363031 -o 55,7a7d)

[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 2; }
for t in ip perfdhcp awk curl python3 timeout; do
    command -v $t >/dev/null || { echo "missing $t (see .ci/run for the packages)" >&2; exit 2; }
done
[ -x "$HEADEND" ] || { echo "no $HEADEND: cargo build --release -p headend (or set HEADEND)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/headend-mgmt-bench.XXXXXX)
NS=hemgmt$$
SERVER_PID=
LOAD_PID=
cleanup() {
    set +e
    [ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null
    [ -n "$SERVER_PID" ] && stop_pid "$SERVER_PID"
    ip netns del "$NS" 2>/dev/null
    if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" addr add "$RELAY/8" dev lo

cat > "$WORK/headend.toml" <<EOF
[server]
name = "bench"
store = "$WORK/store"

[dhcpv4]
listen = ["$SERVER:67"]

[[pool]]
name = "bench"
relays = ["$RELAY"]
network = "10.0.0.0/11"
ranges = [["10.0.0.10", "10.31.255.250"]]
lifetime = 3600

[management]
listen = ["127.0.0.1:6080"]
EOF
"$HEADEND" check --config "$WORK/headend.toml" >/dev/null
echo "seeding $SEED leases"
timeout 1800 "$HEADEND" store seed --config "$WORK/headend.toml" --pool bench --count "$SEED" >/dev/null
echo "$PASSWORD" | "$HEADEND" user add --config "$WORK/headend.toml" bench --role viewer 2>/dev/null
ip netns exec "$NS" "$HEADEND" run --config "$WORK/headend.toml" > "$WORK/log.txt" 2>&1 &
SERVER_PID=$!
wait_for_line "$WORK/log.txt" "headend: ready" 600 "$SERVER_PID"

TOKEN=$(ip netns exec "$NS" curl -sS --max-time 10 -H 'content-type: application/json' \
    -d "{\"user\":\"bench\",\"password\":\"$PASSWORD\"}" "$API/api/v1/login" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

# Seeded lease i: address 10.0.0.10 + i, client 02:00 followed by i in 4 bytes.
urls() {  # $1 = ip|mac|mixed, $2 = count
    python3 - "$1" "$2" "$SEED" "$API" "${PAGES:-0}" <<'PY'
import random, sys, ipaddress
kind, n, seed, api = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
pages = sys.argv[5] == "1"
base = int(ipaddress.IPv4Address("10.0.0.10"))
for k in range(n):
    i = random.randrange(seed)
    k2 = kind if kind != "mixed" else random.choice(["ip", "mac"] + (["page"] if pages else []))
    if k2 == "ip":
        print(f"url = \"{api}/api/v1/leases?ip={ipaddress.IPv4Address(base + i)}\"")
    elif k2 == "mac":
        mac = "02:00:" + ":".join(f"{b:02x}" for b in i.to_bytes(4, "big"))
        print(f"url = \"{api}/api/v1/leases?mac={mac}\"")
    else:
        print(f"url = \"{api}/api/v1/leases?relay=127.0.0.2&limit=100&after={ipaddress.IPv4Address(base + i)}\"")
    print("output = \"/dev/null\"")
PY
}

latency() {  # $1 = ip|mac
    urls "$1" "$SEARCHES" > "$WORK/urls-$1.txt"
    ip netns exec "$NS" curl -sS --max-time 600 -H "Authorization: Bearer $TOKEN" \
        -w '%{http_code} %{time_total}\n' -K "$WORK/urls-$1.txt" > "$WORK/times-$1.txt"
    printf 'search by %-3s: %s\n' "$1" "$(percentiles "$WORK/times-$1.txt")"
}

# "N requests, p50 …, p99 …, max …, non-200: K" of a file of "status seconds" lines.
percentiles() {
    local bad
    bad=$(awk '$1 != 200' "$1" | wc -l)
    awk '$1 == 200 { printf "%.3f\n", $2 * 1000 }' "$1" | sort -n | awk -v bad="$bad" '
        { t[NR] = $1 }
        END {
            if (NR == 0) { printf "no answers, non-200: %d", bad; exit }
            a = int(NR * 0.5); if (a < 1) a = 1
            b = int(NR * 0.99); if (b < 1) b = 1
            printf "%d requests, p50 %.2f ms, p99 %.2f ms, max %.2f ms, non-200: %d", NR, t[a], t[b], t[NR], bad
        }'
}

echo
echo "1. lease search latency, $SEED leases in the store (curl time_total per request, keep-alive)"
latency ip
latency mac

dora() {  # $1 = label, $2 = rate
    local out t0 t1 RATE=$2 pdx=()
    # perfdhcp's single-threaded mode is steadier up to 8000/s, as in dhcpv4-vs-kea.sh.
    [ "$RATE" -le 8000 ] && pdx=(-g single)
    out="$WORK/perf-$1.txt"
    t0=$(cpu_ticks "$SERVER_PID")
    timeout -s INT -k 5 $((PERIOD + 20)) ip netns exec "$NS" perfdhcp "${pdx[@]}" -4 -l "$RELAY" \
        -r "$RATE" -R "$CLIENTS" -p "$PERIOD" -W 1000000 "${PERF_OPTS[@]}" "$SERVER" > "$out" 2>&1 || true
    t1=$(cpu_ticks "$SERVER_PID")
    awk -v name="$1" -v cpu=$((t1 - t0)) -v hz="$HZ" -v period="$PERIOD" '
        /Statistics for: DISCOVER-OFFER/ { s = "DO" } /Statistics for: REQUEST-ACK/ { s = "RA" }
        /^sent packets:/ { sent[s] = $3 } /^received packets:/ { recv[s] = $3 }
        END {
            printf "%-22s %8.0f ACK/s, RA lost %.3f %%, server CPU %.1f s (%.0f us per exchange, API work included)\n",
                name, recv["RA"] / period, sent["RA"] ? 100 * (sent["RA"] - recv["RA"]) / sent["RA"] : 100,
                cpu / hz, recv["RA"] ? cpu / hz / recv["RA"] * 1e6 : 0
            print recv["RA"] / period > "/dev/stderr"
        }' "$out" 2>"$WORK/rate-$1.txt"
}

REPEAT=${REPEAT:-1}
for RATE in $RATES; do
for run in $(seq "$REPEAT"); do
echo
echo "2. DHCPv4 DORA at $RATE/s for $PERIOD s, alone and with $SEARCH_RATE lease searches/s (pair $run of $REPEAT)"
timeout -s INT 20 ip netns exec "$NS" perfdhcp -g single -4 -l "$RELAY" -r 1000 -R "$CLIENTS" -p 5 \
    -W 1000000 "${PERF_OPTS[@]}" "$SERVER" > "$WORK/warmup.txt" 2>&1 || true
dora "alone-$RATE-$run" "$RATE"
urls mixed $((SEARCH_RATE * (PERIOD + 5))) > "$WORK/urls-load.txt"
ip netns exec "$NS" curl -sS --max-time $((PERIOD + 30)) --rate "$SEARCH_RATE/s" \
    -H "Authorization: Bearer $TOKEN" -w '%{http_code} %{time_total}\n' -K "$WORK/urls-load.txt" \
    > "$WORK/times-load-$RATE-$run.txt" 2>/dev/null &
LOAD_PID=$!
sleep 1
c0=$(cpu_ticks "$LOAD_PID" 2>/dev/null || echo 0)
dora "searches-$RATE-$run" "$RATE"
c1=$(cpu_ticks "$LOAD_PID" 2>/dev/null || echo "$c0")
kill "$LOAD_PID" 2>/dev/null || true
wait "$LOAD_PID" 2>/dev/null || true
LOAD_PID=
echo "searches during the run: $(percentiles "$WORK/times-load-$RATE-$run.txt"); curl (the load generator) used $(awk -v t=$((c1 - c0)) -v hz="$HZ" 'BEGIN { printf "%.1f", t / hz }') s of CPU"
awk -v a="$(cat "$WORK/rate-alone-$RATE-$run.txt")" -v b="$(cat "$WORK/rate-searches-$RATE-$run.txt")" \
    'BEGIN { printf "DHCP rate with API load / alone: %.3f (%.1f %% change)\n", b / a, 100 * (b - a) / a }'
done
done

echo
printf 'ACK rate with %s searches/s over alone, per offered rate:' "$SEARCH_RATE"
for r in $RATES; do
    for run in $(seq "$REPEAT"); do
        awk -v r="$r" -v a="$(cat "$WORK/rate-alone-$r-$run.txt")" -v b="$(cat "$WORK/rate-searches-$r-$run.txt")" \
            'BEGIN { printf " %d/s %.3f", r, b / a }'
    done
done
echo
