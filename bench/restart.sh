#!/usr/bin/env bash
# Memory and restart time with a large lease state (issue 19): SEED DHCPv4
# leases and SEED DHCPv6 bindings are written to the store (`headend store
# seed`), `headend run` starts on them and its resident memory is read once it
# answers; then it is killed with SIGKILL and started again, and the time from
# the kill to the first answered DORA and the first answered SARR is measured
# (the simulator asks every 100 ms until one is answered).
#
# Run by hand (not by CI), with release builds:
#   cargo build --release -p headend -p headend-sim
#   bench/restart.sh
# Environment: SEED [1000000] (SEED4 / SEED6 set one family's count; 0 seeds
# none of it, to measure the other alone), HEADEND [target/release/headend],
# SIM [next to HEADEND], KEEP=1 keeps the work directory.
# Loopback only, unprivileged ports (127.0.0.1:16767, [::1]:16547); every wait
# is bounded; the servers started here are stopped by PID.
set -euo pipefail

SEED=${SEED:-1000000}
SEED4=${SEED4:-$SEED}
SEED6=${SEED6:-$SEED}
REPO=$(cd "$(dirname "$0")/.." && pwd)
HEADEND=${HEADEND:-$REPO/target/release/headend}
SIM=${SIM:-$(dirname "$HEADEND")/headend-sim}
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"
[ -x "$HEADEND" ] && [ -x "$SIM" ] || { echo "need $HEADEND and $SIM (cargo build --release -p headend -p headend-sim)" >&2; exit 2; }

if ss -uln | grep -qE '127\.0\.0\.1:16767|\[::1\]:16547'; then
    echo "127.0.0.1:16767 or [::1]:16547 is in use: another server would answer for the one measured" >&2
    exit 2
fi

WORK=$(mktemp -d /tmp/headend-restart.XXXXXX)
SERVER_PID=
cleanup() {
    set +e
    [ -n "$SERVER_PID" ] && stop_pid "$SERVER_PID"
    if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat > "$WORK/headend.toml" <<EOF
[server]
name = "restart"
store = "$WORK/store"

[dhcpv4]
listen = ["127.0.0.1:16767"]

[dhcpv6]
listen = ["[::1]:16547"]

[[pool]]
name = "bench"
relays = ["127.0.0.2"]
network = "10.0.0.0/11"
ranges = [["10.0.0.10", "10.31.255.250"]]
lifetime = 86400
[pool.options]
routers = "10.0.0.1"

[[pool6]]
name = "bench6"
prefix = "2001:db8:1::/64"
links = ["2001:db8:1::2"]
EOF
"$HEADEND" check --config "$WORK/headend.toml" >/dev/null
t=$(date +%s)
[ "$SEED4" = 0 ] || timeout 1800 "$HEADEND" store seed --config "$WORK/headend.toml" --pool bench --count "$SEED4" >/dev/null
[ "$SEED6" = 0 ] || timeout 1800 "$HEADEND" store seed --config "$WORK/headend.toml" --pool bench6 --count "$SEED6" >/dev/null
echo "seeded $SEED4 DHCPv4 leases and $SEED6 DHCPv6 bindings in $(($(date +%s) - t)) s; store $(du -sh "$WORK/store" 2>/dev/null | cut -f1)"

now_ms() { date +%s%3N; }

# Waits (bounded) until one fresh client gets an address over family $1 (4 or
# 6); prints the milliseconds since $2.
first_answer() {
    local family=$1 since=$2 n=0 args
    while :; do
        n=$((n + 1))
        if [ "$family" = 4 ]; then
            args=(--server4 127.0.0.1:16767 --relay 127.0.0.2)
        else
            args=(--ecm-v6 --server6 "[::1]:16547" --link6 2001:db8:1::2 --relay6-bind "[::1]:0")
        fi
        if timeout 10 "$SIM" "${args[@]}" --cm 1 --dhcp-only --dhcp-attempts 1 --dhcp-timeout 0.1 \
            --mac-offset $((RANDOM * 256 + n)) --duration 1 >/dev/null 2>&1; then
            echo $(($(now_ms) - since))
            return 0
        fi
        [ $n -lt 600 ] || { echo "no DHCPv$family answer within 600 tries" >&2; return 1; }
    done
}

start() {
    "$HEADEND" run --config "$WORK/headend.toml" > "$WORK/log-$1.txt" 2>&1 &
    SERVER_PID=$!
}

t0=$(now_ms)
start cold
v4=$(first_answer 4 "$t0")
v6=$(first_answer 6 "$t0")
rss=$(awk '/^VmRSS/ { print int($2 / 1024) }' "/proc/$SERVER_PID/status")
echo "cold start: first DORA answered after $v4 ms, first SARR after $v6 ms; resident memory $rss MiB"
wait_for_line "$WORK/log-cold.txt" "headend: ready" 60 "$SERVER_PID"

for trial in 1 2 3; do
    kill -KILL "$SERVER_PID"
    t0=$(now_ms)
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
    start "kill$trial"
    v4=$(first_answer 4 "$t0")
    v6=$(first_answer 6 "$t0")
    rss=$(awk '/^VmRSS/ { print int($2 / 1024) }' "/proc/$SERVER_PID/status")
    echo "after SIGKILL #$trial: first DORA answered after $v4 ms, first SARR after $v6 ms; resident memory $rss MiB"
done
stop_pid "$SERVER_PID"; SERVER_PID=
