#!/usr/bin/env bash
# DORA rate with dynamic DNS enabled vs disabled, in the same run (issue 17).
#
# Method: a namespace with 127.0.0.1 (headend on :67, BIND 9 `named` on :5353)
# and 127.0.0.2 (perfdhcp as the relay). headend runs twice on the same pool
# and a fresh store: once without [ddns] ("off"), once with [ddns] pointing at
# named with a hmac-sha256 key and a host name per device from an expression
# ("on": every ACK queues an A + DHCID and a PTR update). The same perfdhcp
# rates run against each; per rate the script prints the ACKs per second and
# the exchanges lost, then the difference on/off. The ACK never waits for DNS
# (the updater is off the packet path), so the target is < 5 % difference.
# After the "on" runs it waits for the update queue to drain (bounded) and
# counts the A records named holds (AXFR; at most 30 s: BIND takes fewer
# updates per second than the DORA rates here, the rest stay queued).
#
# Run by hand as root (not by CI), with a release build:
#   cargo build --release -p headend
#   bench/ddns.sh
# Environment (defaults in brackets):
#   RATES   perfdhcp rates, each a run per mode ["2000 4000 8000"]
#   PERIOD  seconds per run [10]         CLIENTS  perfdhcp -R [200000]
#   HEADEND binary [target/release/headend]   KEEP=1 keep the work directory
#   PIN     1: named on the last core, headend and perfdhcp on the others, so that
#           the DNS server's own work (in production another machine) does not
#           take the DHCP server's CPU; 0: no pinning [1 when there are 2+ cores]
# Bounded: 2 x (number of RATES) perfdhcp runs, each under `timeout`; every wait has
# a limit; everything started here is stopped by PID; the namespace is deleted on exit.
set -euo pipefail

RATES=${RATES:-"2000 4000 8000"}
PERIOD=${PERIOD:-10}
CLIENTS=${CLIENTS:-200000}
REPO=$(cd "$(dirname "$0")/.." && pwd)
HEADEND=${HEADEND:-$REPO/target/release/headend}
PATH=$PATH:/usr/sbin:/sbin
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

for tool in perfdhcp named dig; do
    command -v "$tool" >/dev/null || { echo "needs $tool (scripts/setup --peers)" >&2; exit 2; }
done
[ -x "$HEADEND" ] || { echo "no $HEADEND: cargo build --release -p headend" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "run as root (network namespace)" >&2; exit 2; }

CORES=$(nproc)
PIN=${PIN:-$([ "$CORES" -ge 2 ] && echo 1 || echo 0)}
DNS_CPU=(); DHCP_CPU=()
if [ "$PIN" = 1 ]; then
    DNS_CPU=(taskset -c $((CORES - 1)))
    DHCP_CPU=(taskset -c "0-$((CORES - 2))")
fi
SECRET=4xc0d+wrz3zGagarlKrvR6scLtnb5cD+5Fl/aQ/4RN4=
WORK=$(mktemp -d "${TMPDIR:-/tmp}/headend-ddns-bench.XXXXXX")
NS=heddns$$
SERVER_PID=
NAMED_PID=
cleanup() {
    set +e
    [ -n "$SERVER_PID" ] && stop_pid "$SERVER_PID"
    [ -n "$NAMED_PID" ] && stop_pid "$NAMED_PID"
    ip netns del "$NS" 2>/dev/null
    if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" addr add 127.0.0.2/8 dev lo

mkdir -p "$WORK/bind"
B=$WORK/bind
cat > "$B/named.conf" <<CONF
key "ddns-key" { algorithm hmac-sha256; secret "$SECRET"; };
options {
    directory "$B"; pid-file "$B/named.pid"; session-keyfile "$B/session.key";
    listen-on port 5353 { 127.0.0.1; }; listen-on-v6 { none; };
    recursion no; allow-query { any; }; allow-transfer { any; };
    dnssec-validation no; notify no;
};
controls { };
zone "example.test" { type primary; file "forward.db"; update-policy { grant ddns-key zonesub ANY; }; };
zone "10.in-addr.arpa" { type primary; file "reverse.db"; update-policy { grant ddns-key zonesub ANY; }; };
CONF
SOA='$TTL 300
@ IN SOA ns1.example.test. hostmaster.example.test. ( 1 3600 600 86400 300 )
  IN NS ns1.example.test.'
printf '%s\nns1 IN A 127.0.0.1\n' "$SOA" > "$B/forward.db"
printf '%s\n' "$SOA" > "$B/reverse.db"
ip netns exec "$NS" "${DNS_CPU[@]}" named -g -n 1 -c "$B/named.conf" > "$B/named.log" 2>&1 &
NAMED_PID=$!
wait_for_line "$B/named.log" "running" 30 "$NAMED_PID"
echo "named: $(named -v) on 127.0.0.1:5353; work directory $WORK; pinned: $PIN ($CORES cores)"

# headend config; $1 = off|on.
config() {
    cat <<CONF
[server]
store = "$WORK/$1/store"
[dhcpv4]
listen = ["127.0.0.1:67"]
[[pool]]
name = "bench"
relays = ["127.0.0.2"]
network = "10.0.0.0/11"
ranges = [["10.0.0.10", "10.31.255.250"]]
lifetime = 3600
CONF
    [ "$1" = on ] && cat <<CONF
[ddns]
server = "127.0.0.1:5353"
forward_zones = ["example.test"]
reverse_zones = ["10.in-addr.arpa"]
keys = [{ name = "ddns-key", secret = "$SECRET" }]
hostname = { expr = '"h" + device.mac.replace(":", "")' }
max_queue = 100000
max_in_flight = 64
channel = 16384
CONF
    return 0
}

declare -A ACKED CPU
run_mode() {
    local mode=$1 rate out
    mkdir -p "$WORK/$mode"
    config "$mode" > "$WORK/$mode/headend.toml"
    "$HEADEND" check --config "$WORK/$mode/headend.toml" > /dev/null
    ip netns exec "$NS" "${DHCP_CPU[@]}" "$HEADEND" run --config "$WORK/$mode/headend.toml" > "$WORK/$mode/log.txt" 2>&1 &
    SERVER_PID=$!
    wait_for_line "$WORK/$mode/log.txt" "headend: ready" 60 "$SERVER_PID"
    for rate in $RATES; do
        out="$WORK/$mode/perf-$rate.txt"
        local t0 t1
        t0=$(cpu_ticks "$SERVER_PID")
        timeout -s INT -k 5 $((PERIOD + 20)) ip netns exec "$NS" "${DHCP_CPU[@]}" perfdhcp -4 -l 127.0.0.2 -r "$rate" \
            -R "$CLIENTS" -p "$PERIOD" -W 1000000 127.0.0.1 > "$out" 2>&1 || true
        t1=$(cpu_ticks "$SERVER_PID")
        ACKED[$mode-$rate]=$(awk -v period="$PERIOD" '
            /Statistics for: REQUEST-ACK/ { s = 1 } s && /^received packets:/ { print $3 / period; exit }' "$out")
        # Server CPU (all threads, the updater's included) per ACK: the
        # measure that holds when perfdhcp and headend share a saturated core.
        CPU[$mode-$rate]=$(awk -v t="$((t1 - t0))" -v hz="$HZ" -v acks="${ACKED[$mode-$rate]:-0}" \
            -v period="$PERIOD" 'BEGIN { n = acks * period; printf "%.1f", (n > 0 ? 1e6 * t / hz / n : 0) }')
        awk -v rate="$rate" -v mode="$mode" -v period="$PERIOD" -v cpu="${CPU[$mode-$rate]}" '
            /Statistics for: DISCOVER-OFFER/ { s = "DO" } /Statistics for: REQUEST-ACK/ { s = "RA" }
            /^sent packets:/ { sent[s] = $3 } /^received packets:/ { recv[s] = $3 }
            /^avg delay:/ { delay[s] = $3 }
            END { printf "ddns %-3s %6d/s asked: %8.0f ACK/s, DO lost %.3f %%, RA lost %.3f %%, avg delay %s/%s ms, server CPU %s us/ACK\n",
                mode, rate, recv["RA"] / period, sent["DO"] ? 100 * (sent["DO"] - recv["DO"]) / sent["DO"] : 100,
                sent["RA"] ? 100 * (sent["RA"] - recv["RA"]) / sent["RA"] : 100, delay["DO"], delay["RA"], cpu }' "$out"
    done
    if [ "$mode" = on ]; then
        # Let the update queue drain (bounded), then count what BIND holds.
        local i n=0 last=-1
        for i in $(seq 15); do
            n=$(ip netns exec "$NS" dig @127.0.0.1 -p 5353 +noall +answer AXFR example.test 2>/dev/null | awk '$4 == "A"' | wc -l)
            [ "$n" = "$last" ] && break
            last=$n; sleep 2
        done
        echo "ddns on: named holds $((n - 1)) device A records after the runs (AXFR)"
        grep -c "ddns: update failed" "$WORK/$mode/log.txt" | sed 's/^/ddns on: failed attempts logged: /' || true
    fi
    stop_pid "$SERVER_PID"; SERVER_PID=
}

run_mode off
run_mode on
echo
for rate in $RATES; do
    awk -v r="$rate" -v off="${ACKED[off-$rate]:-0}" -v on="${ACKED[on-$rate]:-0}" \
        -v coff="${CPU[off-$rate]:-0}" -v con="${CPU[on-$rate]:-0}" 'BEGIN {
        d = off > 0 ? 100 * (off - on) / off : 0
        printf "%6d/s: off %8.0f ACK/s, on %8.0f ACK/s, difference %.2f %%  %s; server CPU %s -> %s us/ACK\n",
            r, off, on, d, (d < 5 ? "ok" : "OVER 5 %"), coff, con }'
done
