#!/usr/bin/env bash
# DHCPv4 DORA throughput, headend vs ISC Kea 2.2, side by side on this machine.
#
# Method (shared/docs/peers.md §3.1-§3.3): perfdhcp acts as relay 127.0.0.2 and the
# server listens on 127.0.0.1:67, both on loopback inside a namespace this script
# creates. Each server holds SEED (1,000,000) active leases before the load starts,
# serves the same pool (10.0.0.0/11), and returns the same CableLabs options
# (122 sub-options 1/2, 125 enterprise 4491 sub-option 2) to perfdhcp's DOCSIS 3.0
# option 60. The same rate ramp runs against each; the result is the highest rate
# with < 0.1 % of DISCOVER-OFFER and of REQUEST-ACK exchanges lost. The summary also
# compares the servers' CPU per exchange at every rate both ran.
#
# Run by hand as root (not by CI), with a release build:
#   cargo build --release -p headend -p headend-sim
#   bench/dhcpv4-vs-kea.sh [kea|headend|both|floor|all]
# "floor" runs the machine's limit for a DORA under the same load: a
# stateless answerer (headend-sim-reflector: recvmmsg/sendmmsg batches, each
# DISCOVER/REQUEST turned into an OFFER/ACK in place, no lease, no disk), so
# its CPU per exchange is what the kernel and the socket calls cost; "all"
# runs the floor, Kea and headend and prints headend's CPU as a multiple of it.
# Environment (defaults in brackets):
#   RATES    rates to ramp through, ascending ["2000 4000 6000 8000 10000 12000 16000 20000 24000 28000 32000"]
#   PERIOD   seconds per rate [25]            CLIENTS  perfdhcp -R [100000]
#   SEED     leases pre-loaded [1000000]      RETRIES  extra tries at a failing rate [1]
#   KEA_THREADS  Kea's thread pool [2]        HEADEND  binary [target/release/headend]
#   WORKERS  headend run --workers (packet-path threads) [one per core]
#   PERF_MODE  perfdhcp threading: auto (-g single up to 8000/s, multi above), single, multi [auto]
#   KEEP=1   keep the work directory (configs, perfdhcp outputs, logs)
#   TIMELINE headend's [server] timeline: stored, memory, off [stored]
#   LOAD     load generator: perfdhcp, or sim (headend-sim: DOCSIS 3.0 modems,
#            DHCP only, each message sent once like perfdhcp, fresh MACs every
#            run, lost = devices without OFFER/ACK) [perfdhcp]
# Bounded: at most (number of RATES + RETRIES) perfdhcp runs per server, each under
# `timeout`; every wait has a limit; everything started here is stopped by PID and the
# namespace is deleted on exit.
set -euo pipefail

WHICH=${1:-both}
RATES=${RATES:-"2000 4000 6000 8000 10000 12000 16000 20000 24000 28000 32000"}
PERIOD=${PERIOD:-25}
CLIENTS=${CLIENTS:-100000}
SEED=${SEED:-1000000}
RETRIES=${RETRIES:-1}
KEA_THREADS=${KEA_THREADS:-2}
PERF_MODE=${PERF_MODE:-auto}
LOAD=${LOAD:-perfdhcp}
REPO=$(cd "$(dirname "$0")/.." && pwd)
HEADEND=${HEADEND:-$REPO/target/release/headend}
SIM=${SIM:-$(dirname "$HEADEND")/headend-sim}
PATH=$PATH:/usr/sbin:/sbin
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

SERVER=127.0.0.1
RELAY=127.0.0.2
NETWORK=10.0.0.0/11
FIRST=10.0.0.10
LAST=10.31.255.250
# DOCSIS 3.0 modem: option 60 "docsis3.0:0501010601"; option 55 gets 122 and 125 appended.
PERF_OPTS=(-o 60,646f63736973332e303a30353031303130363031 -o 55,7a7d)

select_servers "$WHICH"
REFLECTOR=${REFLECTOR:-$(dirname "$HEADEND")/headend-sim-reflector}
case $PERF_MODE in auto|single|multi) ;; *) echo "PERF_MODE must be auto, single or multi" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 2; }
for t in ip perfdhcp awk ss timeout; do
    command -v $t >/dev/null || { echo "missing $t (see .ci/run for the packages)" >&2; exit 2; }
done
if [ $run_floor = 1 ]; then
    [ -x "$REFLECTOR" ] || { echo "no $REFLECTOR: cargo build --release -p headend-sim (or set REFLECTOR)" >&2; exit 2; }
fi
if [ $run_kea = 1 ]; then
    command -v kea-dhcp4 >/dev/null || { echo "missing kea-dhcp4" >&2; exit 2; }
fi
if [ $run_headend = 1 ]; then
    [ -x "$HEADEND" ] || { echo "no $HEADEND: cargo build --release -p headend (or set HEADEND)" >&2; exit 2; }
fi

WORK=$(mktemp -d /tmp/headend-bench.XXXXXX)
CPU_LOG=$WORK/cpu.tsv
NS=hebench$$
SERVER_PID=
cleanup() {
    set +e
    if [ -n "$SERVER_PID" ]; then stop_pid "$SERVER_PID"; fi
    ip netns del "$NS" 2>/dev/null
    if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rcvbuf_errors() {
    ip netns exec "$NS" awk '/^Udp:/ { n++; if (n == 1) for (i = 1; i <= NF; i++) c[$i] = i; else print $c["RcvbufErrors"] }' /proc/net/snmp
}

ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" addr add "$RELAY/8" dev lo
echo "namespace $NS, work directory $WORK"
if [ "$LOAD" = sim ]; then
    [ -x "$SIM" ] || { echo "no $SIM: cargo build --release -p headend-sim (or set SIM)" >&2; exit 2; }
    echo "load: headend-sim DOCSIS 3.0 modems, relay $RELAY:67 -> $SERVER:67, ${PERIOD} s per rate, one try per message; rates: $RATES"
else
    echo "load: perfdhcp -4 relay $RELAY -> $SERVER:67, -R $CLIENTS, -W 1 s, ${PERIOD} s per rate; rates: $RATES"
fi
echo "state: $SEED active leases pre-loaded in each server; pool $FIRST - $LAST"
echo

SIM_RUN=0
# One headend-sim run (LOAD=sim), same contract as step(); fresh MACs each run.
step_sim() {
    local pid=$1 rate=$2 name=$3 out u0 u1 t0 t1
    out="$WORK/sim-$name-$rate-$(date +%s).json"
    SIM_RUN=$((SIM_RUN + 1))
    u0=$(rcvbuf_errors); t0=$(cpu_ticks "$pid")
    timeout -k 5 $((PERIOD + 30)) ip netns exec "$NS" "$SIM" --server4 "$SERVER:67" --relay "$RELAY" \
        --relay-port 67 --cm $((rate * PERIOD)) --rate "$rate" --dhcp-only --dhcp-attempts 1 \
        --dhcp-timeout 1 --mac-offset $((16777216 * SIM_RUN)) --duration $((PERIOD + 10)) --json > "$out" 2>/dev/null || true
    u1=$(rcvbuf_errors); t1=$(cpu_ticks "$pid" 2>/dev/null || echo "$t0")
    kill -0 "$pid" 2>/dev/null || { echo "$name died during the $rate/s run" >&2; return 2; }
    python3 "$REPO/bench/sim_step.py" v4 "$out" "$rate" "$name" "$PERIOD" $((t1 - t0)) "$HZ" "$CPU_LOG" $((u1 - u0))
}

# One perfdhcp run at rate $2 against the server with PID $1 (name $3).
# Prints a result line; returns 0 when < 0.1 % of DO and of RA exchanges were lost.
step() {
    [ "$LOAD" = sim ] && { step_sim "$@"; return; }
    local pid=$1 rate=$2 name=$3 out u0 u1 t0 t1 pdx=()
    out="$WORK/perf-$name-$rate-$(date +%s).txt"
    # peers.md §3.1: single-threaded perfdhcp is cleaner up to ~8k/s, multi-threaded keeps up above.
    case $PERF_MODE in
        single) pdx=(-g single) ;;
        multi) pdx=(-g multi) ;;
        auto) [ "$rate" -le 8000 ] && pdx=(-g single) ;;
    esac
    u0=$(rcvbuf_errors); t0=$(cpu_ticks "$pid")
    timeout -s INT -k 5 $((PERIOD + 20)) ip netns exec "$NS" perfdhcp "${pdx[@]}" -4 -l "$RELAY" \
        -r "$rate" -R "$CLIENTS" -p "$PERIOD" -W 1000000 "${PERF_OPTS[@]}" "$SERVER" > "$out" 2>&1 || true
    u1=$(rcvbuf_errors); t1=$(cpu_ticks "$pid" 2>/dev/null || echo "$t0")
    kill -0 "$pid" 2>/dev/null || { echo "$name died during the $rate/s run" >&2; return 2; }
    awk -v rate="$rate" -v name="$name" -v rcv=$((u1 - u0)) -v cpu=$((t1 - t0)) -v hz="$HZ" -v cpulog="$CPU_LOG" -v period="$PERIOD" '
        /Statistics for: DISCOVER-OFFER/ { s = "DO" } /Statistics for: REQUEST-ACK/ { s = "RA" }
        /^sent packets:/ { sent[s] = $3 } /^received packets:/ { recv[s] = $3 }
        /^avg delay:/ { delay[s] = $3 }
        END {
            if (sent["DO"] == "" || sent["RA"] == "") { print name, rate "/s: no perfdhcp report"; exit 1 }
            lost_do = sent["DO"] - recv["DO"]; lost_ra = sent["RA"] - recv["RA"]
            pdo = sent["DO"] ? 100 * lost_do / sent["DO"] : 100
            pra = sent["RA"] ? 100 * lost_ra / sent["RA"] : 100
            ok = (sent["DO"] > 0 && sent["RA"] > 0 && lost_do * 1000 < sent["DO"] && lost_ra * 1000 < sent["RA"])
            printf "%-9s %6d/s asked, %8.0f/s ACKed: DO lost %.4f %%, RA lost %.4f %%, avg delay %s/%s ms, server CPU %.1f s (%.0f us per exchange), RcvbufErrors %d  %s\n",
                name, rate, recv["RA"] / period, pdo, pra, delay["DO"], delay["RA"], cpu / hz,
                recv["RA"] ? cpu / hz / recv["RA"] * 1e6 : 0, rcv, ok ? "ok" : "LOSSY"
            if (recv["RA"]) printf "%s %d %.1f\n", name, rate, cpu / hz / recv["RA"] * 1e6 >> cpulog
            exit ok ? 0 : 1
        }' "$out"
}

# Uncounted warm-up before the ramp: the first seconds after start-up (caches, first
# lease-file writes) lose packets on both servers, which would otherwise fail the first rate.
warmup() {
    if [ "$LOAD" = sim ]; then
        timeout -k 5 30 ip netns exec "$NS" "$SIM" --server4 "$SERVER:67" --relay "$RELAY" --relay-port 67 \
            --cm 5000 --rate 1000 --dhcp-only --mac-offset 4278190080 --duration 15 > /dev/null 2>&1 || true
        return
    fi
    timeout -s INT -k 5 20 ip netns exec "$NS" perfdhcp -g single -4 -l "$RELAY" -r 1000 -R "$CLIENTS" \
        -p 5 -W 1000000 "${PERF_OPTS[@]}" "$SERVER" > "$WORK/warmup-$2.txt" 2>&1 || true
}

# Writes the first $SEED addresses of the pool as active leases to clients
# 02:00:xx:xx:xx:xx, the same set `headend store seed` writes.
kea_preload() {
    local file=$1 now
    now=$(date +%s)
    awk -v n="$SEED" -v now="$now" 'BEGIN {
        print "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context"
        a = 10 * 16777216 + 10   # 10.0.0.10
        for (i = 0; i < n; i++) {
            ip = a + i
            printf "%d.%d.%d.%d,02:00:%02x:%02x:%02x:%02x,,86400,%d,1,0,0,,0,\n",
                int(ip / 16777216), int(ip / 65536) % 256, int(ip / 256) % 256, ip % 256,
                int(i / 16777216), int(i / 65536) % 256, int(i / 256) % 256, i % 256, now + 86400
        }
    }' > "$file"
}

KEA_BEST=
HEADEND_BEST=
FLOOR_BEST=

if [ $run_floor = 1 ]; then
    floor_ramp "$NS" "$SERVER:67"
fi

if [ $run_kea = 1 ]; then
    mkdir -p "$WORK/kea"
    cat > "$WORK/kea/kea4.json" <<EOF
{ "Dhcp4": {
  "interfaces-config": { "interfaces": [ "lo/$SERVER" ], "dhcp-socket-type": "udp" },
  "lease-database": { "type": "memfile", "persist": true, "name": "$WORK/kea/leases4.csv", "lfc-interval": 3600 },
  "multi-threading": { "enable-multi-threading": true, "thread-pool-size": $KEA_THREADS, "packet-queue-size": 256 },
  "valid-lifetime": 3600, "renew-timer": 1800, "rebind-timer": 3150,
  "option-def": [ { "name": "cablelabs-client-conf", "code": 122, "type": "binary", "space": "dhcp4" } ],
  "client-classes": [ {
      "name": "docsis",
      "test": "substring(option[60].text,0,6) == 'docsis'",
      "option-data": [
        { "name": "cablelabs-client-conf", "code": 122, "csv-format": false, "data": "0104c00002010204c0000201" },
        { "name": "vivso-suboptions", "data": "4491" },
        { "name": "tftp-servers", "space": "vendor-4491", "data": "192.0.2.1" } ] } ],
  "subnet4": [ {
      "id": 1, "subnet": "$NETWORK", "relay": { "ip-addresses": [ "$RELAY" ] },
      "pools": [ { "pool": "$FIRST - $LAST" } ],
      "option-data": [ { "name": "routers", "data": "10.0.0.1" } ] } ],
  "loggers": [
    { "name": "kea-dhcp4", "output_options": [ { "output": "$WORK/kea/kea4.log" } ], "severity": "WARN" },
    { "name": "kea-dhcp4.dhcp4", "output_options": [ { "output": "$WORK/kea/kea4.log" } ], "severity": "INFO" } ]
} }
EOF
    export KEA_LOCKFILE_DIR=$WORK/kea KEA_PIDFILE_DIR=$WORK/kea
    ip netns exec "$NS" kea-dhcp4 -t "$WORK/kea/kea4.json" > "$WORK/kea/check.txt" 2>&1 \
        || { cat "$WORK/kea/check.txt" >&2; exit 1; }
    echo "kea: writing $SEED leases to its memfile"
    kea_preload "$WORK/kea/leases4.csv"
    t=$(date +%s)
    ip netns exec "$NS" kea-dhcp4 -c "$WORK/kea/kea4.json" > "$WORK/kea/stdout.txt" 2>&1 &
    SERVER_PID=$!
    wait_for_line "$WORK/kea/kea4.log" DHCP4_STARTED 600 "$SERVER_PID"
    echo "kea: $(kea-dhcp4 -V | head -1), $KEA_THREADS threads, serving after $(($(date +%s) - t)) s of lease loading"
    ramp "$SERVER_PID" kea
    KEA_BEST=$BEST
    stop_pid "$SERVER_PID"; SERVER_PID=
    echo "kea: highest rate with < 0.1 % loss: $KEA_BEST/s"
    echo
fi

if [ $run_headend = 1 ]; then
    mkdir -p "$WORK/headend"
    cat > "$WORK/headend/headend.toml" <<EOF
[server]
name = "bench"
store = "$WORK/headend/store"
${TIMELINE:+timeline = \"$TIMELINE\"}

[dhcpv4]
listen = ["$SERVER:67"]

[[pool]]
name = "bench"
relays = ["$RELAY"]
network = "$NETWORK"
ranges = [["$FIRST", "$LAST"]]
lifetime = 3600
policies = ["cablelabs"]
[pool.options]
routers = "10.0.0.1"

[[policy]]
name = "cablelabs"
enforced = true
[policy.options]
"122/1" = "192.0.2.1"
"122/2" = "192.0.2.1"
# A Rhai option expression, evaluated per packet: the TFTP server is the
# relay's next address, the seed manual's own example.
"125/4491/2" = { expr = '[relay.address + 1]' }
EOF
    "$HEADEND" check --config "$WORK/headend/headend.toml"
    echo "headend: seeding $SEED leases"
    t=$(date +%s)
    timeout 1800 "$HEADEND" store seed --config "$WORK/headend/headend.toml" --pool bench --count "$SEED"
    echo "headend: seeded in $(($(date +%s) - t)) s"
    t=$(date +%s)
    ip netns exec "$NS" "$HEADEND" run --config "$WORK/headend/headend.toml" ${WORKERS:+--workers "$WORKERS"} > "$WORK/headend/log.txt" 2>&1 &
    SERVER_PID=$!
    wait_for_line "$WORK/headend/log.txt" "headend: ready" 600 "$SERVER_PID"
    echo "headend: $("$HEADEND" --version), serving after $(($(date +%s) - t)) s of start-up"
    ramp "$SERVER_PID" headend
    HEADEND_BEST=$BEST
    stop_pid "$SERVER_PID"; SERVER_PID=
    echo "headend: highest rate with < 0.1 % loss: $HEADEND_BEST/s"
    echo
fi

echo "=== summary ($(nproc) cores, ${PERIOD} s per rate, $SEED leases pre-loaded) ==="
summary kea-dhcp4 DORA/s
