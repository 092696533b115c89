#!/usr/bin/env bash
# DHCPv6 SARR throughput, headend vs ISC Kea 2.2 kea-dhcp6, side by side on this machine.
#
# Method (shared/docs/peers.md §2, §3.4, §3.5): two namespaces joined by a veth pair,
# server in `ksrv` (2001:db8:1::1 on vs0), perfdhcp -6 in `kcli` (2001:db8:1::2 on vc0)
# in relayed mode (-A 1: every SOLICIT/REQUEST inside a Relay-Forward, as from a CMTS).
# Both servers persist every lease before replying (Kea: memfile persist=true,
# multi-threaded; headend: sled with group commit), serve the same /64 and return the
# same CableLabs options (17/4491: 32, 33, 34, 37, 38). The same rate ramp runs
# against each; the result is the highest rate with < 0.1 % of SA and of RR lost.
#
# Run by hand as root, with a release build:
#   cargo build --release -p headend
#   bench/dhcpv6-vs-kea.sh [kea|headend|both]
# Environment: RATES ["2000 4000 8000 12000 16000 24000 32000"], PERIOD [20],
#   CLIENTS [100000], KEA_THREADS [2], HEADEND [target/release/headend], KEEP=1 keeps $WORK.
# Bounded: one perfdhcp run per rate and server under `timeout`; everything started
# here is stopped by PID and the namespaces are deleted on exit.
set -euo pipefail

WHICH=${1:-both}
RATES=${RATES:-"2000 4000 8000 12000 16000 24000 32000"}
PERIOD=${PERIOD:-20}
CLIENTS=${CLIENTS:-100000}
KEA_THREADS=${KEA_THREADS:-2}
REPO=$(cd "$(dirname "$0")/.." && pwd)
HEADEND=${HEADEND:-$REPO/target/release/headend}
PATH=$PATH:/usr/sbin:/sbin
SRV=2001:db8:1::1
CLI=2001:db8:1::2

case $WHICH in kea|headend|both) ;; *) echo "usage: $0 [kea|headend|both]" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 2; }
for t in ip perfdhcp awk timeout; do command -v $t >/dev/null || { echo "missing $t" >&2; exit 2; }; done
[ "$WHICH" = headend ] || command -v kea-dhcp6 >/dev/null || { echo "missing kea-dhcp6" >&2; exit 2; }
[ "$WHICH" = kea ] || [ -x "$HEADEND" ] || { echo "no $HEADEND: cargo build --release -p headend" >&2; exit 2; }

WORK=$(mktemp -d /tmp/headend-bench6.XXXXXX)
NS_S=hb6srv$$; NS_C=hb6cli$$
PIDS=()
cleanup() {
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    sleep 1
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
    ip netns del $NS_S 2>/dev/null || true
    ip netns del $NS_C 2>/dev/null || true
    [ "${KEEP:-0}" = 1 ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add $NS_S; ip netns add $NS_C
ip link add vs0 netns $NS_S type veth peer name vc0 netns $NS_C
for ns in $NS_S $NS_C; do ip -n $ns link set lo up; done
ip -n $NS_S link set vs0 up; ip -n $NS_C link set vc0 up
ip -n $NS_S addr add $SRV/64 dev vs0 nodad
ip -n $NS_C addr add $CLI/64 dev vc0 nodad
sleep 3

cat > "$WORK/headend.toml" <<TOML
[server]
store = "$WORK/state"
[[domain]]
name = "cm"
[dhcpv6]
listen = ["[$SRV]:547"]
rapid_commit = false
tftp_servers = ["$SRV"]
config_file = '"cm-basic.cfg"'
syslog_servers = ["$SRV"]
time_servers = ["$SRV"]
time_offset = 0
dns_servers = ["$SRV"]
[[pool6]]
name = "bench6"
prefix = "2001:db8:1::/64"
# perfdhcp -A1 puts its own address (or ::) in link-address.
links = ["$CLI", "::", "$SRV"]
TOML

cat > "$WORK/kea6.json" <<JSON
{ "Dhcp6": {
  "interfaces-config": { "interfaces": [ "vs0/$SRV" ] },
  "server-id": { "type": "LLT", "persist": false },
  "lease-database": { "type": "memfile", "persist": true, "name": "$WORK/leases6.csv", "lfc-interval": 3600 },
  "multi-threading": { "enable-multi-threading": true, "thread-pool-size": $KEA_THREADS, "packet-queue-size": 256 },
  "preferred-lifetime": 3000, "valid-lifetime": 4000, "renew-timer": 1000, "rebind-timer": 2000,
  "subnet6": [ { "id": 1, "subnet": "2001:db8:1::/64", "interface": "vs0",
      "pools": [ { "pool": "2001:db8:1::1000 - 2001:db8:1::ffff:ffff" } ],
      "option-data": [
        { "name": "dns-servers", "data": "$SRV" },
        { "name": "tftp-servers",   "space": "vendor-4491", "data": "$SRV" },
        { "name": "config-file",    "space": "vendor-4491", "data": "cm-basic.cfg" },
        { "name": "syslog-servers", "space": "vendor-4491", "data": "$SRV" },
        { "name": "time-servers",   "space": "vendor-4491", "data": "$SRV" },
        { "name": "time-offset",    "space": "vendor-4491", "data": "0" } ] } ],
  "loggers": [ { "name": "kea-dhcp6", "output_options": [ { "output": "$WORK/kea6.log" } ], "severity": "WARN" } ]
} }
JSON

# Vendor class docsis3.0 and a CL ORO (32,33,34,37,38) in a DOCSIS 3.0 option 16/17, as an eCM sends.
PERF_OPTS=(-o 16,0000118b0009646f63736973332e30
           -o 17,0000118b0001000a00200021002200250026)

ramp() {  # $1 = label
    local best=0
    for r in $RATES; do
        local out="$WORK/perf-$1-$r.txt"
        timeout $((PERIOD + 30)) ip netns exec $NS_C perfdhcp -6 -A 1 -l vc0 -r "$r" -R "$CLIENTS" \
            -p "$PERIOD" "${PERF_OPTS[@]}" "$SRV" > "$out" 2>&1 || true
        local loss
        loss=$(awk '/drops ratio/ { gsub(/[^0-9.]/, "", $3); if ($3 + 0 > m) m = $3 + 0 } END { print m + 0 }' "$out")
        echo "$1 rate=$r max_drop_ratio=${loss}% $(grep -m2 'received packets' "$out" | tr '\n' ' ')"
        if awk -v l="$loss" 'BEGIN { exit !(l < 0.1) }'; then best=$r; else break; fi
    done
    echo "$1 best SARR rate with < 0.1 % drops: $best/s"
}

if [ "$WHICH" != kea ]; then
    ip netns exec $NS_S "$HEADEND" run --config "$WORK/headend.toml" > "$WORK/headend.log" 2>&1 &
    PIDS+=($!); sleep 2
    ramp headend
    kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true
fi
if [ "$WHICH" != headend ]; then
    (cd "$WORK" && KEA_LOCKFILE_DIR=$WORK KEA_PIDFILE_DIR=$WORK ip netns exec $NS_S kea-dhcp6 -c "$WORK/kea6.json" > "$WORK/kea.stdout" 2>&1) &
    PIDS+=($!); sleep 3
    ramp kea
fi
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (shared machine)"
