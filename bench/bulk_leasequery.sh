#!/usr/bin/env bash
# Bulk leasequery throughput (issue 17, RFC 6926 over TCP): SEED DHCPv4
# leases with relay agent information (`headend store seed --relay-agents 8`)
# are loaded by `headend run`; a requester then asks for every binding
# (three times) and for everything of one relay agent, reading the framed
# answers as fast as it can, and the leases streamed per second are printed.
# The requester is engine/server/examples/bulk_reader.rs: the Python one
# (examples/lab/leasequery.py --bulk) decodes every binding and is slower
# than the server, so it measures itself (it runs once, for comparison,
# when PYTHON_TOO=1).
#
# Run by hand (not by CI), with release builds:
#   cargo build --release -p headend && cargo build --release -p headend-server --example bulk_reader
#   bench/bulk_leasequery.sh
# Environment: SEED [1000000], HEADEND [target/release/headend], READER
# [target/release/examples/bulk_reader], KEEP=1 keeps the work directory.
# Loopback only, unprivileged port 127.0.0.1:16767 (TCP); every wait is
# bounded; the server started here is stopped by PID.
set -euo pipefail

SEED=${SEED:-1000000}
REPO=$(cd "$(dirname "$0")/.." && pwd)
HEADEND=${HEADEND:-$REPO/target/release/headend}
READER=${READER:-$(dirname "$HEADEND")/examples/bulk_reader}
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"
[ -x "$HEADEND" ] && [ -x "$READER" ] || {
    echo "need $HEADEND and $READER (cargo build --release -p headend; cargo build --release -p headend-server --example bulk_reader)" >&2
    exit 2
}
if ss -tln | grep -qE '127\.0\.0\.1:16767'; then
    echo "127.0.0.1:16767 is in use: another server would answer for the one measured" >&2
    exit 2
fi

WORK=$(mktemp -d /tmp/headend-bulklq.XXXXXX)
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
name = "bulk-leasequery"
store = "$WORK/store"

[dhcpv4]
listen = ["127.0.0.1:16767"]
leasequery_requesters = ["127.0.0.1"]
bulk_leasequery_listen = ["127.0.0.1:16767"]

[[pool]]
name = "bench"
relays = ["127.0.0.2"]
network = "10.0.0.0/11"
ranges = [["10.0.0.10", "10.31.255.250"]]
lifetime = 86400
EOF
"$HEADEND" check --config "$WORK/headend.toml" >/dev/null
t=$(date +%s)
timeout 1800 "$HEADEND" store seed --config "$WORK/headend.toml" --pool bench --count "$SEED" --relay-agents 8 >/dev/null
echo "seeded $SEED leases (8 relay agents) in $(($(date +%s) - t)) s"

"$HEADEND" run --config "$WORK/headend.toml" > "$WORK/log.txt" 2>&1 &
SERVER_PID=$!
wait_for_line "$WORK/log.txt" "headend: ready" 300 "$SERVER_PID"

for trial in 1 2 3; do
    printf 'all bindings, trial %s: ' "$trial"
    timeout 600 "$READER" 127.0.0.1:16767
done
printf 'relay agent relay-3 (1/8 of the table, the whole table walked): '
timeout 600 "$READER" 127.0.0.1:16767 --relay-id relay-3
if [ "${PYTHON_TOO:-0}" = 1 ]; then
    t0=$(date +%s%N)
    n=$(timeout 1800 /usr/bin/python3 "$REPO/examples/lab/leasequery.py" --bulk 127.0.0.1:16767 --all --timeout 60 | wc -l)
    ms=$((($(date +%s%N) - t0) / 1000000))
    echo "Python requester (decodes and prints each): $((n - 1)) bindings in $ms ms: $(((n - 1) * 1000 / (ms + 1))) leases/s"
fi
rss=$(awk '/^VmRSS/ { print int($2 / 1024) }' "/proc/$SERVER_PID/status")
echo "server resident memory after the queries: $rss MiB"
