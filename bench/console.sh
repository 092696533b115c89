#!/usr/bin/env bash
# Web console speed with a large lease state (issue 18: "no console page
# takes longer than 200 ms with 1,000,000 leases in the store"): SEED DHCPv4
# leases (and SEED6 DHCPv6 bindings) are written to the store (`headend store
# seed`), an admin is added (`headend user add`), `headend run` starts with a
# [management] listener, ACCOUNTS accounts are created through the API, and
# headless Chromium (chromedriver, W3C WebDriver from bench/console_pages.py,
# Python standard library only) logs in on the console's form and visits each
# page ROUNDS times: dashboard, devices by a seeded IP, devices by its relay,
# that device's page, accounts, bindings, pools, domains, policies, config,
# users, audit. Each visit sets location.hash (coming from another page) and
# reads the time the page reports itself (window.headendTiming.ms: route
# change to data on screen, API calls included); ROUNDS full loads (from
# about:blank, session kept in sessionStorage) are timed with the Navigation
# Timing API. Prints median and max per page against LIMIT_MS, the API calls
# timed alone, the server's resident memory and the store size. Pages over
# the limit print FAIL; the exit status is non-zero only if something broke.
#
# Run by hand (not by CI), as root (Chromium's --no-sandbox), with a release build:
#   cargo build --release -p headend
#   bench/console.sh
# Environment: SEED [1000000] SEED6 [0] ROUNDS [5] ACCOUNTS [300] LIMIT_MS [200]
# HEADEND [target/release/headend], KEEP=1 keeps the work directory.
# Loopback only, unprivileged ports (management 127.0.0.1:16080, DHCPv4
# 127.0.0.1:16767, DHCPv6 [::1]:16547 when SEED6 > 0, chromedriver on a free
# port); every wait is bounded; the processes started here are stopped by PID.
set -euo pipefail

SEED=${SEED:-1000000}
SEED6=${SEED6:-0}
export ROUNDS=${ROUNDS:-5} ACCOUNTS=${ACCOUNTS:-300} LIMIT_MS=${LIMIT_MS:-200} SEED
REPO=$(cd "$(dirname "$0")/.." && pwd)
HEADEND=${HEADEND:-$REPO/target/release/headend}
MGMT=127.0.0.1:16080
PASSWORD="console bench password, long enough"
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"
[ -x "$HEADEND" ] || { echo "need $HEADEND (cargo build --release -p headend, or set HEADEND)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "run as root (Chromium as root needs --no-sandbox, which this sets)" >&2; exit 2; }
for t in chromium chromedriver python3 curl ss timeout; do
    command -v $t >/dev/null || { echo "missing $t (scripts/setup --peers)" >&2; exit 2; }
done

if ss -tln | grep -qE '127\.0\.0\.1:16080\b|0\.0\.0\.0:16080\b|\*:16080\b' ||
    ss -uln | grep -qE '127\.0\.0\.1:16767\b|\[::1\]:16547\b'; then
    echo "127.0.0.1:16080 (tcp), 127.0.0.1:16767 or [::1]:16547 (udp) is in use: another server would answer" >&2
    exit 2
fi

WORK=$(mktemp -d /tmp/headend-console.XXXXXX)
SERVER_PID=
DRIVER_PID=
CD_PORT=
cleanup() {
    set +e
    # /shutdown closes any browser a failed run left open, then chromedriver exits.
    [ -n "$DRIVER_PID" ] && curl -s --max-time 5 -o /dev/null "http://127.0.0.1:$CD_PORT/shutdown"
    [ -n "$DRIVER_PID" ] && stop_pid "$DRIVER_PID"
    [ -n "$SERVER_PID" ] && stop_pid "$SERVER_PID"
    if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat > "$WORK/headend.toml" <<EOF
[server]
name = "console-bench"
store = "$WORK/store"

[dhcpv4]
listen = ["127.0.0.1:16767"]

[[domain]]
name = "residential"
description = "Seeded leases"
[[domain]]
name = "business"
description = "A small pool of its own"

[[pool]]
name = "bench"
domains = ["residential"]
relays = ["127.0.0.2"]
network = "10.0.0.0/11"
ranges = [["10.0.0.10", "10.31.255.250"]]
lifetime = 86400
policies = ["bench"]
[pool.options]
routers = "10.0.0.1"

[[pool]]
name = "biz"
domains = ["business"]
relays = ["127.0.0.2"]
network = "10.64.0.0/24"
ranges = [["10.64.0.10", "10.64.0.200"]]
policies = ["bench"]

[[policy]]
name = "bench"
enforced = true
[policy.options]
"server.next-server" = "127.0.0.1"
"server.boot-file" = { expr = '"cm-" + device.mac.replace(":", "") + ".cfg"' }

[[fixed_binding]]
mac = "00:10:95:00:00:01"
relay = "127.0.0.2"
ip = "10.64.0.5"
hostname = "cm-reserved"

[management]
listen = ["$MGMT"]
EOF
if [ "$SEED6" != 0 ]; then
    cat >> "$WORK/headend.toml" <<EOF

[dhcpv6]
listen = ["[::1]:16547"]

[[pool6]]
name = "bench6"
prefix = "2001:db8:1::/64"
links = ["2001:db8:1::2"]
EOF
fi
"$HEADEND" check --config "$WORK/headend.toml" >/dev/null
t=$(date +%s)
[ "$SEED" = 0 ] || timeout 1800 "$HEADEND" store seed --config "$WORK/headend.toml" --pool bench --count "$SEED" >/dev/null
[ "$SEED6" = 0 ] || timeout 1800 "$HEADEND" store seed --config "$WORK/headend.toml" --pool bench6 --count "$SEED6" >/dev/null
echo "seeded $SEED DHCPv4 leases and $SEED6 DHCPv6 bindings in $(($(date +%s) - t)) s"
# The store is the server's while it runs: the admin is added before.
echo "$PASSWORD" | timeout 60 "$HEADEND" user add --config "$WORK/headend.toml" bench-admin --role admin >/dev/null

t=$(date +%s)
"$HEADEND" run --config "$WORK/headend.toml" > "$WORK/server.txt" 2>&1 &
SERVER_PID=$!
wait_for_line "$WORK/server.txt" "headend: ready" 600 "$SERVER_PID"
for _ in $(seq 300); do
    curl -fsS --max-time 2 -o /dev/null "http://$MGMT/console/" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "server exited:" >&2; tail -20 "$WORK/server.txt" >&2; exit 1; }
    sleep 0.1
done
curl -fsS --max-time 5 -o /dev/null "http://$MGMT/console/" || { echo "no console at http://$MGMT/console/" >&2; exit 1; }
curl -fsS --max-time 5 "http://$MGMT/console/app.js" | grep -q headendTiming ||
    { echo "this headend's console does not report page timings (headendTiming): rebuild it" >&2; exit 1; }
echo "headend run ready and serving /console/ after $(($(date +%s) - t)) s"

# chromedriver (and the Chromium it starts) keep their temporary files, profile and HOME here.
mkdir -p "$WORK/tmp" "$WORK/home"
CD_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
TMPDIR="$WORK/tmp" HOME="$WORK/home" chromedriver --port="$CD_PORT" --log-path="$WORK/chromedriver.log" \
    > "$WORK/chromedriver.txt" 2>&1 &
DRIVER_PID=$!
for _ in $(seq 150); do
    curl -fsS --max-time 1 "http://127.0.0.1:$CD_PORT/status" 2>/dev/null | grep -q '"ready":true' && break
    kill -0 "$DRIVER_PID" 2>/dev/null || { echo "chromedriver exited:" >&2; cat "$WORK/chromedriver.txt" >&2; exit 1; }
    sleep 0.1
done

rc=0
TMPDIR="$WORK/tmp" HOME="$WORK/home" timeout 1200 python3 "$REPO/bench/console_pages.py" \
    "http://$MGMT" "http://127.0.0.1:$CD_PORT" "$WORK" bench-admin "$PASSWORD" || rc=$?
stop_pid "$DRIVER_PID"; DRIVER_PID=

rss=$(awk '/^VmRSS/ { print int($2 / 1024) }' "/proc/$SERVER_PID/status")
echo "server resident memory $rss MiB; store $(du -sh "$WORK/store" 2>/dev/null | cut -f1) ($SEED DHCPv4 leases, $SEED6 DHCPv6 bindings)"
stop_pid "$SERVER_PID"; SERVER_PID=
if [ $rc -ne 0 ]; then
    echo "the browser run failed (rc $rc); server log tail:" >&2
    tail -20 "$WORK/server.txt" >&2
    exit 1
fi
