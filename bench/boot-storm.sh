#!/usr/bin/env bash
# The boot storm of issue 15: EUES PacketCable 2.0 E-UEs through the whole
# Hybrid flow (eCM DHCPv4, ToD, CM file by TFTP with MIC check, eUE DHCPv6
# eUE-1..4, enrollment INFORM eUE-15, SET eUE-19, eUE file eUE-22/23 with
# hash check, syslog eUE-24, status INFORM eUE-25) plus CPE DHCPv4 behind
# the modems, started over RAMP seconds (0: all at once), against the lab
# configuration with its store on disk (fsync before every ACK/REPLY). The
# lab's pools are widened to hold the storm and IP_PREF says b'110 so that
# the eUEs provision over IPv6. Server and simulator share this machine's
# cores, in a network namespace whose `local` routes make the leased
# addresses the devices' own. Prints the simulator's report, both processes'
# CPU, and an SVG of completions over time (kept in WORK when KEEP=1).
#
#   EUES=100000 CPES=100000 RAMP=45 bench/boot-storm.sh
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
. bench/lib.sh
EUES=${EUES:-100000}
CPES=${CPES:-100000}
RAMP=${RAMP:-45}
[ "$(id -u)" = 0 ] || { echo "needs root (network namespace)" >&2; exit 1; }
for p in flow-select docsis-config eue-config mem-events; do
    [ -f "plugins/dist/$p.wasm" ] || { echo "plugins/dist/$p.wasm missing: run plugins/build.sh" >&2; exit 1; }
done
cargo build --release -q -p headend -p headend-sim
WORK=$(mktemp -d /tmp/headend-boot-storm.XXXXXX)
cp target/release/headend target/release/headend-sim "$WORK/"
NS=hestorm$$
SERVER=""
cleanup() { [ -n "$SERVER" ] && stop_pid "$SERVER"; ip netns del "$NS" 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$WORK"; }
trap cleanup EXIT
sed -e "s#\.\./\.\./#$REPO/#g" -e "s#^store = \"state\"#store = \"$WORK/state\"#" \
    -e 's#"125/4491/124" = 1 #"125/4491/124" = 6 #' \
    -e 's#^network = "10.1.0.0/16"#network = "10.64.0.0/10"#' \
    -e 's#^ranges = \[\["10.1.0.10", "10.1.255.250"\]\]#ranges = [["10.64.0.10", "10.127.255.250"]]#' \
    -e 's#^exclude = \["10.1.0.100"\]#exclude = []#' \
    -e 's#^ip = "10.1.0.100"#ip = "10.64.0.100"#' \
    -e 's#^network = "100.64.0.0/16"#network = "100.64.0.0/10"#' \
    -e 's#^ranges = \[\["100.64.0.10", "100.64.255.250"\]\]#ranges = [["100.64.0.10", "100.127.255.250"]]#' \
    examples/lab/headend.toml > "$WORK/headend.toml"
mkdir -p "$WORK/tftp"
grep -q '"125/4491/124" = 6' "$WORK/headend.toml" && grep -q '10.64.0.0/10' "$WORK/headend.toml" \
    || { echo "the lab configuration changed: update the edits above" >&2; exit 1; }
"$WORK/headend" check --config "$WORK/headend.toml" >/dev/null
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" route add local 10.0.0.0/8 dev lo
ip -n "$NS" -6 route add local 2001:db8::/32 dev lo
ip netns exec "$NS" "$WORK/headend" run --config "$WORK/headend.toml" > "$WORK/server.log" 2>&1 &
SERVER=$!
wait_for_line "$WORK/server.log" "headend: ready" 60 "$SERVER"
warn_if_busy "boot storm"
t0=$(cpu_ticks "$SERVER")
RAMP_ARGS=()
[ "$RAMP" != 0 ] && RAMP_ARGS=(--ramp "$RAMP")
rc=0
/usr/bin/time -f "simulator CPU: %U s user + %S s system" ip netns exec "$NS" "$WORK/headend-sim" --lab \
    --eue "$EUES" --cpe "$CPES" "${RAMP_ARGS[@]}" --duration 300 --plot "$WORK/storm.svg" || rc=$?
t1=$(cpu_ticks "$SERVER")
echo "server CPU: $(( (t1 - t0) / HZ )) s"
kill -0 "$SERVER" || { echo "the server died" >&2; tail -20 "$WORK/server.log" >&2; exit 1; }
[ -n "${KEEP:-}" ] && echo "kept: $WORK (storm.svg, server.log)"
exit $rc
