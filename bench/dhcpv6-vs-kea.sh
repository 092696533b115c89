#!/usr/bin/env bash
# DHCPv6 SARR throughput, headend vs ISC Kea 2.2 kea-dhcp6, side by side on this machine.
#
# Method (shared/docs/peers.md §2, §3.4, §3.5): two namespaces joined by a veth pair,
# server in one (2001:db8:1::1 on vs0), perfdhcp -6 in the other (2001:db8:1::2 on vc0)
# in relayed mode (-A 1: every SOLICIT/REQUEST inside a Relay-Forward whose
# link-address is perfdhcp's own address, as from a CMTS). Both servers persist every
# lease before replying (Kea: memfile persist=true, multi-threaded; headend: sled with
# group commit), serve the same /64 and return the same options: 23 and CableLabs
# 17/4491 sub-options 32, 33, 34, 37, 38 to perfdhcp's DOCSIS 3.0 option 16 and CL ORO.
#
# State: before the ramp each server is preloaded through its own durable path with
# PRELOAD SARR exchanges over PRELOAD clients of another DUID base than the ramp's
# (perfdhcp 2.2 walks its -R clients in order, so each preload exchange binds a new
# client); the bindings each server then holds are printed. (headend has no DHCPv6
# `store seed`; going through the protocol treats both servers alike.)
# The ramp: the same rates against each; the result is the highest rate with < 0.1 %
# of SOLICIT-ADVERTISE and of REQUEST-REPLY exchanges lost. For every rate the server's
# and perfdhcp's CPU seconds are printed (they share the 2 cores), and the summary
# compares the servers' CPU per SARR at every rate both ran: on a small machine the
# ramp tops out where perfdhcp does, and CPU per exchange still tells them apart.
#
# Run by hand as root (not by CI), with a release build:
#   cargo build --release -p headend -p headend-sim
#   bench/dhcpv6-vs-kea.sh [kea|headend|both|floor|all]
# "floor" runs a stateless answerer under the same load (headend-sim-reflector:
# recvmmsg/sendmmsg batches, every relayed SOLICIT/REQUEST answered with an
# ADVERTISE/REPLY built in place, no binding, no disk, no preload): its CPU per
# SARR is this machine's limit for one; "all" runs the floor, Kea and headend
# and prints each server's CPU per SARR as a multiple of it.
# Environment (defaults in brackets):
#   RATES    ascending ["4000 8000 10000 12000 16000 20000 24000 28000 32000"]
#   PERIOD   seconds per rate [20]          CLIENTS  perfdhcp -R in the ramp [100000]
#   PRELOAD  preload exchanges/clients [1000000]  PRELOAD_RATE [10000]
#   RETRIES  extra tries at a failing rate [1]     KEA_THREADS [2]
#   PERF_MODE  perfdhcp threading: single, multi, auto (single up to 8000/s) [single]
#              (here -g multi cost perfdhcp twice the CPU at 10,000/s and lost more)
#   HEADEND  binary [target/release/headend]       KEEP=1 keeps the work directory
#   COMMIT_WINDOW_US  headend's group-commit window [1000]
#   TIMELINE          headend's [server] timeline: stored, memory, off [stored]
#   WORKERS           headend run --workers (packet-path threads) [one per core]
#   LOAD     ramp load generator: perfdhcp, or sim (headend-sim: DOCSIS eCMs over
#            DHCPv6, Table 3 options, relayed with link-address 2001:db8:1::2, each
#            message sent once, fresh MACs every run) [perfdhcp]; the preload
#            always uses perfdhcp
#   STORE_ACCOUNTS    whether headend stores the account it auto-provisions for
#                     every new device, one more durable write Kea does not do [true]
# Bounded: every perfdhcp run and wait has a limit; everything started here is stopped
# by PID and the namespaces are deleted on exit.
set -euo pipefail

WHICH=${1:-both}
RATES=${RATES:-"4000 8000 10000 12000 16000 20000 24000 28000 32000"}
PERIOD=${PERIOD:-20}
CLIENTS=${CLIENTS:-100000}
PRELOAD=${PRELOAD:-1000000}
PRELOAD_RATE=${PRELOAD_RATE:-10000}
RETRIES=${RETRIES:-1}
KEA_THREADS=${KEA_THREADS:-2}
PERF_MODE=${PERF_MODE:-single}
REPO=$(cd "$(dirname "$0")/.." && pwd)
HEADEND=${HEADEND:-$REPO/target/release/headend}
SIM=${SIM:-$(dirname "$HEADEND")/headend-sim}
LOAD=${LOAD:-perfdhcp}
PATH=$PATH:/usr/sbin:/sbin
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"
SRV=2001:db8:1::1
CLI=2001:db8:1::2
# A DOCSIS 3.0 eCM: option 16 (4491, "docsis3.0"), option 17 (4491, CL ORO 32 33 34 37 38).
PERF_OPTS=(-o 16,0000118b0009646f63736973332e30 -o 17,0000118b0001000a00200021002200250026)

select_servers "$WHICH"
case $PERF_MODE in auto|single|multi) ;; *) echo "PERF_MODE must be auto, single or multi" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 2; }
for t in ip perfdhcp awk timeout; do command -v $t >/dev/null || { echo "missing $t" >&2; exit 2; }; done
REFLECTOR=${REFLECTOR:-$(dirname "$HEADEND")/headend-sim-reflector}
[ $run_kea = 0 ] || command -v kea-dhcp6 >/dev/null || { echo "missing kea-dhcp6" >&2; exit 2; }
[ $run_headend = 0 ] || [ -x "$HEADEND" ] || { echo "no $HEADEND: cargo build --release -p headend" >&2; exit 2; }
[ $run_floor = 0 ] || [ -x "$REFLECTOR" ] || { echo "no $REFLECTOR: cargo build --release -p headend-sim" >&2; exit 2; }

WORK=$(mktemp -d /tmp/headend-bench6.XXXXXX)
CPU_LOG=$WORK/cpu.tsv
NS_S=hb6srv$$; NS_C=hb6cli$$
SERVER_PID=
cleanup() {
    set +e
    if [ -n "$SERVER_PID" ]; then stop_pid "$SERVER_PID"; fi
    ip netns del $NS_S 2>/dev/null
    ip netns del $NS_C 2>/dev/null
    if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Udp6RcvbufErrors of namespace $1: datagrams lost on a full socket buffer.
rcvbuf_errors() {
    ip netns exec "$1" awk '/^Udp6RcvbufErrors/ { print $2 }' /proc/net/snmp6
}

ip netns add $NS_S; ip netns add $NS_C
ip link add vs0 netns $NS_S type veth peer name vc0 netns $NS_C
for ns in $NS_S $NS_C; do ip -n $ns link set lo up; done
ip -n $NS_S link set vs0 up; ip -n $NS_C link set vc0 up
ip -n $NS_S addr add $SRV/64 dev vs0 nodad
ip -n $NS_C addr add $CLI/64 dev vc0 nodad
# perfdhcp does not size its socket buffer: at 10,000/s and more its 208 KiB default
# overflows (a server's replies arrive in bursts) and perfdhcp counts the replies it
# lost as the server's drops. rmem_default is not per namespace on this kernel, so
# it is left alone; each line reports Udp6RcvbufErrors of both namespaces instead.
# perfdhcp -l vc0 sends from the interface's link-local address too: wait for it.
for i in $(seq 100); do
    ip -n $NS_C -6 addr show dev vc0 scope link | grep -q tentative || break; sleep 0.1
done
echo "namespaces $NS_S/$NS_C, work directory $WORK"
echo "load: perfdhcp -6 -A 1 from $CLI -> $SRV:547, -R $CLIENTS, -W 1 s, ${PERIOD} s per rate; rates: $RATES"
echo

# perfdhcp -6 relayed; $1 = output file, the rest = extra arguments. Prints its CPU seconds.
perf() {
    local out=$1; shift
    local t0 t1
    TIMEFORMAT='%U %S'
    { time timeout -s INT -k 5 $((PERIOD + 60)) ip netns exec $NS_C perfdhcp "$@" > "$out" 2>&1 || true; } 2> "$out.time"
    awk '{ printf "%.1f", $1 + $2 }' "$out.time"
}

# Preloads the server with PID $1 (name $2): PRELOAD exchanges at PRELOAD_RATE.
preload() {
    local pid=$1 name=$2 secs out
    secs=$(( (PRELOAD + PRELOAD_RATE - 1) / PRELOAD_RATE ))
    [ "$PRELOAD" -gt 0 ] || return 0
    out="$WORK/preload-$name.txt"
    echo "$name: preloading, $PRELOAD exchanges at $PRELOAD_RATE/s over $PRELOAD clients ($secs s)"
    PERIOD=$secs perf "$out" -g single -6 -A 1 -l vc0 -b mac=02:00:00:00:00:00 -r "$PRELOAD_RATE" -R "$PRELOAD" \
        -p "$secs" -W 1000000 "${PERF_OPTS[@]}" "$SRV" > /dev/null
    kill -0 "$pid" 2>/dev/null || { echo "$name died during the preload" >&2; return 1; }
    awk -v name="$name" '/Statistics for: REQUEST-REPLY/ { s = 1 } s && /^received packets:/ { print name ": preload REPLYs received: " $3; exit }' "$out"
}

SIM_RUN=0
# One headend-sim run (LOAD=sim), same contract as step().
step_sim() {
    local pid=$1 rate=$2 name=$3 out u0 u1 c0 c1 t0 t1 pcpu
    out="$WORK/sim-$name-$rate-$(date +%s).json"
    SIM_RUN=$((SIM_RUN + 1))
    u0=$(rcvbuf_errors $NS_S); c0=$(rcvbuf_errors $NS_C); t0=$(cpu_ticks "$pid")
    TIMEFORMAT='%U %S'
    { time timeout -k 5 $((PERIOD + 30)) ip netns exec $NS_C "$SIM" --server6 "[$SRV]:547" \
        --relay6-bind "[$CLI]:0" --link6 "$CLI" --ecm-v6 --cm $((rate * PERIOD)) --rate "$rate" \
        --dhcp-only --dhcp-attempts 1 --mac-offset $((16777216 * SIM_RUN)) --duration $((PERIOD + 10)) \
        --json > "$out" 2>/dev/null || true; } 2> "$out.time"
    pcpu=$(awk '{ printf "%.1f", $1 + $2 }' "$out.time")
    u1=$(rcvbuf_errors $NS_S); c1=$(rcvbuf_errors $NS_C); t1=$(cpu_ticks "$pid" 2>/dev/null || echo "$t0")
    kill -0 "$pid" 2>/dev/null || { echo "$name died during the $rate/s run" >&2; return 2; }
    python3 "$REPO/bench/sim_step.py" v6 "$out" "$rate" "$name" "$PERIOD" $((t1 - t0)) "$HZ" "$CPU_LOG" $((u1 - u0)) "$pcpu" $((c1 - c0))
}

# One perfdhcp run at rate $2 against the server with PID $1 (name $3).
# Prints a result line; returns 0 when < 0.1 % of SA and of RR exchanges were lost.
step() {
    [ "$LOAD" = sim ] && { step_sim "$@"; return; }
    local pid=$1 rate=$2 name=$3 out u0 u1 c0 c1 t0 t1 pcpu pdx=()
    out="$WORK/perf-$name-$rate-$(date +%s).txt"
    case $PERF_MODE in
        single) pdx=(-g single) ;;
        multi) pdx=(-g multi) ;;
        auto) [ "$rate" -le 8000 ] && pdx=(-g single) ;;
    esac
    u0=$(rcvbuf_errors $NS_S); c0=$(rcvbuf_errors $NS_C); t0=$(cpu_ticks "$pid")
    pcpu=$(perf "$out" "${pdx[@]}" -6 -A 1 -l vc0 -r "$rate" -R "$CLIENTS" -p "$PERIOD" -W 1000000 \
        "${PERF_OPTS[@]}" "$SRV")
    u1=$(rcvbuf_errors $NS_S); c1=$(rcvbuf_errors $NS_C); t1=$(cpu_ticks "$pid" 2>/dev/null || echo "$t0")
    kill -0 "$pid" 2>/dev/null || { echo "$name died during the $rate/s run" >&2; return 2; }
    awk -v rate="$rate" -v name="$name" -v rcv=$((u1 - u0)) -v crcv=$((c1 - c0)) -v cpu=$((t1 - t0)) -v hz="$HZ" -v cpulog="$CPU_LOG" \
        -v pcpu="$pcpu" -v period="$PERIOD" '
        /Statistics for: SOLICIT-ADVERTISE/ { s = "SA" } /Statistics for: REQUEST-REPLY/ { s = "RR" }
        /^sent packets:/ { sent[s] = $3 } /^received packets:/ { recv[s] = $3 }
        /^avg delay:/ { delay[s] = $3 }
        END {
            if (sent["SA"] == "" || sent["RR"] == "") { print name, rate "/s: no perfdhcp report"; exit 1 }
            lost_sa = sent["SA"] - recv["SA"]; lost_rr = sent["RR"] - recv["RR"]
            psa = sent["SA"] ? 100 * lost_sa / sent["SA"] : 100
            prr = sent["RR"] ? 100 * lost_rr / sent["RR"] : 100
            ok = (sent["SA"] > 0 && sent["RR"] > 0 && lost_sa * 1000 < sent["SA"] && lost_rr * 1000 < sent["RR"])
            printf "%-8s %6d/s asked, %8.0f/s REPLYs: SA lost %.4f %%, RR lost %.4f %%, avg delay %s/%s ms, server CPU %.1f s (%.0f us per SARR), perfdhcp CPU %s s, Udp6RcvbufErrors server %d / perfdhcp %d  %s\n",
                name, rate, recv["RR"] / period, psa, prr, delay["SA"], delay["RR"], cpu / hz,
                recv["RR"] ? cpu / hz / recv["RR"] * 1e6 : 0, pcpu, rcv, crcv, ok ? "ok" : "LOSSY"
            if (recv["RR"]) printf "%s %d %.1f\n", name, rate, cpu / hz / recv["RR"] * 1e6 >> cpulog
            exit ok ? 0 : 1
        }' "$out"
}

KEA_BEST=
HEADEND_BEST=
FLOOR_BEST=

if [ $run_floor = 1 ]; then
    floor_ramp $NS_S "[$SRV]:547"
fi

if [ $run_kea = 1 ]; then
    mkdir -p "$WORK/kea"
    cat > "$WORK/kea/kea6.json" <<JSON
{ "Dhcp6": {
  "interfaces-config": { "interfaces": [ "vs0/$SRV" ] },
  "server-id": { "type": "LLT", "persist": false },
  "lease-database": { "type": "memfile", "persist": true, "name": "$WORK/kea/leases6.csv", "lfc-interval": 3600 },
  "multi-threading": { "enable-multi-threading": true, "thread-pool-size": $KEA_THREADS, "packet-queue-size": 256 },
  "preferred-lifetime": 3600, "valid-lifetime": 7200, "renew-timer": 1800, "rebind-timer": 2880,
  "subnet6": [ { "id": 1, "subnet": "2001:db8:1::/64", "interface": "vs0",
      "pools": [ { "pool": "2001:db8:1::1000 - 2001:db8:1::ffff:ffff" } ],
      "option-data": [
        { "name": "dns-servers", "data": "$SRV" },
        { "name": "tftp-servers",   "space": "vendor-4491", "data": "$SRV" },
        { "name": "config-file",    "space": "vendor-4491", "data": "cm-basic.cfg" },
        { "name": "syslog-servers", "space": "vendor-4491", "data": "$SRV" },
        { "name": "time-servers",   "space": "vendor-4491", "data": "$SRV" },
        { "name": "time-offset",    "space": "vendor-4491", "data": "0" } ] } ],
  "loggers": [
    { "name": "kea-dhcp6", "output_options": [ { "output": "$WORK/kea/kea6.log" } ], "severity": "WARN" },
    { "name": "kea-dhcp6.dhcp6", "output_options": [ { "output": "$WORK/kea/kea6.log" } ], "severity": "INFO" } ]
} }
JSON
    export KEA_LOCKFILE_DIR=$WORK/kea KEA_PIDFILE_DIR=$WORK/kea
    ip netns exec $NS_S kea-dhcp6 -t "$WORK/kea/kea6.json" > "$WORK/kea/check.txt" 2>&1 || { cat "$WORK/kea/check.txt" >&2; exit 1; }
    ip netns exec $NS_S kea-dhcp6 -c "$WORK/kea/kea6.json" > "$WORK/kea/stdout.txt" 2>&1 &
    SERVER_PID=$!
    wait_for_line "$WORK/kea/kea6.log" DHCP6_STARTED 600 "$SERVER_PID"
    echo "kea: $(kea-dhcp6 -V | head -1), $KEA_THREADS threads"
    preload "$SERVER_PID" kea
    echo "kea: leases in its memfile: $(tail -n +2 "$WORK/kea/leases6.csv" | cut -d, -f1 | sort -u | wc -l) distinct addresses"
    ramp "$SERVER_PID" kea
    KEA_BEST=$BEST
    stop_pid "$SERVER_PID"; SERVER_PID=
    echo "kea: highest rate with < 0.1 % loss: $KEA_BEST/s"
    echo
fi

if [ $run_headend = 1 ]; then
    mkdir -p "$WORK/headend"
    cat > "$WORK/headend/headend.toml" <<TOML
[server]
name = "bench6"
store = "$WORK/headend/store"
commit_window_us = ${COMMIT_WINDOW_US:-1000}
${TIMELINE:+timeline = \"$TIMELINE\"}
[dhcpv6]
listen = ["[$SRV]:547"]
preferred_lifetime = 3600
valid_lifetime = 7200
tftp_servers = ["$SRV"]
config_file = '"cm-basic.cfg"'
syslog_servers = ["$SRV"]
time_servers = ["$SRV"]
time_offset = 0
dns_servers = ["$SRV"]
[provisioning]
store_accounts = ${STORE_ACCOUNTS:-true}
[[pool6]]
name = "bench6"
prefix = "2001:db8:1::/64"
# perfdhcp -A 1 puts its own address in link-address.
links = ["$CLI"]
TOML
    "$HEADEND" check --config "$WORK/headend/headend.toml"
    ip netns exec $NS_S "$HEADEND" run --config "$WORK/headend/headend.toml" ${WORKERS:+--workers "$WORKERS"} > "$WORK/headend/log.txt" 2>&1 &
    SERVER_PID=$!
    wait_for_line "$WORK/headend/log.txt" "headend: ready" 600 "$SERVER_PID"
    echo "headend: $("$HEADEND" --version)"
    preload "$SERVER_PID" headend
    kill -USR1 "$SERVER_PID"; sleep 1
    echo "headend: bindings held: $(grep -o 'leases_active{family=dhcpv6}=[0-9]*' "$WORK/headend/log.txt" | tail -1 | sed "s/.*=//")"
    ramp "$SERVER_PID" headend
    HEADEND_BEST=$BEST
    stop_pid "$SERVER_PID"; SERVER_PID=
    echo "headend: highest rate with < 0.1 % loss: $HEADEND_BEST/s"
    echo
fi

echo "=== summary ($(nproc) cores, ${PERIOD} s per rate) ==="
summary kea-dhcp6 SARR/s
