#!/usr/bin/env bash
# DHCPv4 DORA throughput with durable leases in PostgreSQL: headend vs ISC Kea 2.2
# with its PostgreSQL lease backend, headend with [cluster] on vs off, and two
# headend nodes of one cluster vs one (issue 16).
#
# Method (shared/docs/peers.md §3.1-§3.3, §15, §16): the script starts its own
# throwaway PostgreSQL 15 cluster (default settings: fsync and synchronous_commit
# on, so every ACKed lease is committed to disk) and every server keeps its leases
# there: Kea through its "postgresql" lease-database (schema from `kea-admin
# db-init pgsql`, multi-threaded, 4 threads: its best configuration on PostgreSQL),
# headend through `[server] database`, once as a node on its own and once with
# `[cluster] nodes = ["bench"]` (lease writes become conditional claims under a
# fencing share lock: the cost of the multi-node mode). The servers reach the
# database through its Unix socket directory, which crosses network namespaces.
# perfdhcp acts as relay 127.0.0.2 and the server listens on 127.0.0.1:67, both on
# loopback inside a namespace this script creates. Before the load each server's
# database holds SEED (1,000,000) active leases (Kea: rows written by SQL at the
# top of the pool; headend: `headend store seed` into an embedded store, then
# `headend store copy` into the database, cloned per variant), and all serve the
# same pool (10.0.0.0/11) with the same CableLabs options to perfdhcp's DOCSIS 3.0
# option 60. The same rate ramp runs against each; the result is the highest rate
# with < 0.1 % of DISCOVER-OFFER and of REQUEST-ACK exchanges lost. Where perfdhcp
# saturates the machine first, the servers are compared by CPU per completed DORA
# at the same offered rate: the server process's CPU plus the CPU of every process
# of this PostgreSQL cluster (postmaster, its live children, and its reaped
# children through the postmaster's cutime/cstime), divided by the ACKs received.
#
# Mode `two` (issue 16: "two headend nodes reach at least 1.8x one node"): two
# nodes of one cluster, `[cluster] nodes = ["a", "b"]`, on one database (its own
# clone of the seed), a on 127.0.0.1:67 and b on 127.0.0.3:67; once both serve
# 128 buckets each, the load goes through a UDP tee (Python, 127.0.0.4:67) that
# sends every datagram to both nodes, as a CMTS with two helper addresses does;
# each node answers its own buckets' clients and drops the others'. perfdhcp,
# PostgreSQL, the tee and the nodes share this machine's cores, so the rate ramp
# cannot show node scaling (its clean rate is bounded by the tee and perfdhcp):
# the nodes are measured by CPU per DORA at the same offered rate instead, both
# nodes' CPU summed (each node's share printed too; the tee's CPU reported apart,
# not counted as server CPU). At each rate where `cluster` (one node, C1 us per
# DORA) and `two` (C2, both nodes) ran, the summary prints 2 x C1 / C2: the
# throughput two nodes on two such machines reach relative to one, the database
# aside (each node spends C2 / 2 per DORA of the whole load: its own clients plus
# receiving and dropping the other node's).
#
# Run by hand as root (not by CI), with a release build:
#   cargo build --release -p headend
#   bench/pg-vs-kea.sh [kea|headend|cluster|two|all]  (all = the four, in that order)
# or a comma list of those, run in the order above, e.g. `cluster,two` (the
# two-node capacity estimate needs both of these in one invocation).
# Environment (defaults in brackets):
#   RATES    rates to ramp through, ascending ["1000 1500 2000 3000 4000 6000 8000"]
#   PERIOD   seconds per rate [10]                CLIENTS  perfdhcp -R [100000]
#   SEED     leases pre-loaded [1000000]          RETRIES  extra tries at a failing rate [1]
#   KEA_THREADS  Kea's thread pool [4]            HEADEND  binary [target/release/headend]
#   WORKERS  headend run --workers [one per core]
#   PG_OPTS  extra postgres settings, e.g. "shared_buffers=256MB" (space separated) []
#   KEEP=1   keep the work directory (configs, perfdhcp outputs, logs, postgres log)
# Bounded: at most (number of RATES + RETRIES) perfdhcp runs per server, each under
# `timeout`; seeding, copying and every wait have a limit; everything started here
# (servers and the tee by PID, the PostgreSQL cluster by its data directory) is stopped on exit,
# and the namespace, the cluster directory and the work directory are deleted.
set -euo pipefail

WHICH=${1:-all}
RATES=${RATES:-"1000 1500 2000 3000 4000 6000 8000"}
PERIOD=${PERIOD:-10}
CLIENTS=${CLIENTS:-100000}
SEED=${SEED:-1000000}
RETRIES=${RETRIES:-1}
KEA_THREADS=${KEA_THREADS:-4}
PG_OPTS=${PG_OPTS:-}
REPO=$(cd "$(dirname "$0")/.." && pwd)
HEADEND=${HEADEND:-$REPO/target/release/headend}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PATH=$PATH:/usr/sbin:/sbin
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

SERVER=127.0.0.1
RELAY=127.0.0.2
# Mode two: node b's address and the tee's (every 127.x address is local on lo).
SERVER_B=127.0.0.3
TEE=127.0.0.4
# Where perfdhcp sends: the server, or the tee in mode two.
TARGET=$SERVER
NETWORK=10.0.0.0/11
FIRST=10.0.0.10
LAST=10.31.255.250
# DOCSIS 3.0 modem: option 60 "docsis3.0:0501010601"; option 55 gets 122 and 125 appended.
PERF_OPTS=(-o 60,646f63736973332e303a30353031303130363031 -o 55,7a7d)

run_kea=0; run_headend=0; run_cluster=0; run_two=0
IFS=, read -r -a modes <<< "$WHICH"
[ ${#modes[@]} -gt 0 ] || modes=(all)
for m in "${modes[@]}"; do
    case $m in
        kea) run_kea=1 ;; headend) run_headend=1 ;; cluster) run_cluster=1 ;; two) run_two=1 ;;
        all) run_kea=1; run_headend=1; run_cluster=1; run_two=1 ;;
        *) echo "usage: $0 [kea|headend|cluster|two|all], or a comma list such as cluster,two" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces, runuser)" >&2; exit 2; }
for t in ip perfdhcp awk ss timeout runuser psql pgrep; do
    command -v "$t" >/dev/null || { echo "missing $t (see .ci/run for the packages)" >&2; exit 2; }
done
[ -x "$PGBIN/initdb" ] && [ -x "$PGBIN/pg_ctl" ] || { echo "no PostgreSQL server in $PGBIN (apt-get install postgresql-15)" >&2; exit 2; }
id postgres >/dev/null 2>&1 || { echo "no user postgres (the postgresql package creates it)" >&2; exit 2; }
if [ $run_kea = 1 ]; then
    for t in kea-dhcp4 kea-admin; do
        command -v "$t" >/dev/null || { echo "missing $t (kea-dhcp4-server, kea-admin)" >&2; exit 2; }
    done
fi
if [ $run_two = 1 ]; then
    command -v python3 >/dev/null || { echo "missing python3 (the tee of mode two)" >&2; exit 2; }
fi
if [ $run_headend = 1 ] || [ $run_cluster = 1 ] || [ $run_two = 1 ]; then
    [ -x "$HEADEND" ] || { echo "no $HEADEND: cargo build --release -p headend (or set HEADEND)" >&2; exit 2; }
fi

WORK=$(mktemp -d /tmp/headend-pgbench.XXXXXX)
CPU_LOG=$WORK/cpu.tsv
NS=hepg$$
# Short: the socket path (PGSOCK/.s.PGSQL.PORT) must stay under 107 bytes.
PGD=/tmp/hpg-$$
PGSOCK=$PGD/sock
PG_UP=0
SERVER_PID=
# Mode two: node b's PID (measured with SERVER_PID by `step`) and the tee's.
EXTRA_PIDS=
TEE_PID=
as_pg() { (cd /tmp && runuser -u postgres -- "$@"); }
cleanup() {
    set +e
    if [ -n "$TEE_PID" ]; then stop_pid "$TEE_PID"; fi
    if [ -n "$SERVER_PID" ]; then stop_pid "$SERVER_PID"; fi
    for p in $EXTRA_PIDS; do stop_pid "$p"; done
    if [ "$PG_UP" = 1 ]; then
        if [ "${KEEP:-0}" = 1 ]; then cp "$PGD/pg.log" "$WORK/postgres.log" 2>/dev/null; fi
        as_pg timeout 60 "$PGBIN/pg_ctl" -D "$PGD/data" -m fast -w -t 30 stop > /dev/null
    fi
    rm -rf "$PGD"
    ip netns del "$NS" 2>/dev/null
    if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rcvbuf_errors() {
    ip netns exec "$NS" awk '/^Udp:/ { n++; if (n == 1) for (i = 1; i <= NF; i++) c[$i] = i; else print $c["RcvbufErrors"] }' /proc/net/snmp
}

# psql as the superuser over the socket: $1 = database, then -c/-f arguments.
pg() {
    local db=$1; shift
    timeout 1800 psql -h "$PGSOCK" -p "$PGPORT" -U postgres -d "$db" -v ON_ERROR_STOP=1 -qAt "$@"
}

# CPU ticks of this cluster: the postmaster (with its reaped children) and its live children.
pg_ticks() {
    local pm c
    pm=$(head -1 "$PGD/data/postmaster.pid")
    {
        awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pm/stat"
        for c in $(pgrep -P "$pm"); do awk '{ print $14 + $15 }' "/proc/$c/stat" 2>/dev/null || true; done
    } | awk '{ s += $1 } END { print s + 0 }'
}

# A free loopback TCP port for the cluster (kea-admin needs TCP).
free_port() {
    local p i
    for i in $(seq 50); do
        p=$((20000 + (RANDOM % 30000)))
        ss -Htln "sport = :$p" | grep -q . || { echo "$p"; return 0; }
    done
    echo "no free port found" >&2; return 1
}

ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" addr add "$RELAY/8" dev lo

# The throwaway cluster (peers.md §15.2): initdb and pg_ctl as postgres.
mkdir -p "$PGSOCK"
chown -R postgres:postgres "$PGD"
PGPORT=$(free_port)
as_pg "$PGBIN/initdb" -D "$PGD/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 --no-sync --no-instructions > "$WORK/initdb.log" 2>&1 \
    || { cat "$WORK/initdb.log" >&2; exit 1; }
pgopts="-p $PGPORT -k $PGSOCK -c listen_addresses=127.0.0.1 -c max_connections=200"
for kv in $PG_OPTS; do pgopts="$pgopts -c $kv"; done
PG_UP=1
as_pg timeout 90 "$PGBIN/pg_ctl" -D "$PGD/data" -l "$PGD/pg.log" -w -t 60 -o "$pgopts" start > /dev/null \
    || { tail -20 "$PGD/pg.log" >&2; exit 1; }
echo "namespace $NS, work directory $WORK"
echo "postgres: $(pg postgres -c 'show server_version'), port $PGPORT, socket $PGSOCK;" \
    "fsync $(pg postgres -c 'show fsync'), synchronous_commit $(pg postgres -c 'show synchronous_commit')," \
    "shared_buffers $(pg postgres -c 'show shared_buffers')"
echo "load: perfdhcp -4 relay $RELAY -> $SERVER:67 (mode two: -> tee $TEE:67 -> $SERVER:67 and $SERVER_B:67), -R $CLIENTS, -W 1 s, ${PERIOD} s per rate; rates: $RATES"
echo "state: $SEED active leases in each server's database; pool $FIRST - $LAST"
echo

# One perfdhcp run at rate $2 against the server with PID $1 (name $3), and the
# nodes with PIDs EXTRA_PIDS (mode two: their CPU is summed with $1's; the tee's,
# TEE_PID, is reported apart). Prints a result line; returns 0 when < 0.1 % of
# DO and of RA exchanges were lost.
step() {
    local pid=$1 rate=$2 name=$3 out u0 u1 t0 t1 g0 g1 e0 e1 p pdx=() pids
    out="$WORK/perf-$name-$rate-$(date +%s).txt"
    # peers.md §3.1: single-threaded perfdhcp is cleaner up to ~8k/s.
    [ "$rate" -le 8000 ] && pdx=(-g single)
    pids=("$pid" $EXTRA_PIDS)
    t0=(); t1=()
    u0=$(rcvbuf_errors); g0=$(pg_ticks); e0=0
    for p in "${pids[@]}"; do t0+=("$(cpu_ticks "$p")"); done
    [ -n "$TEE_PID" ] && e0=$(cpu_ticks "$TEE_PID")
    timeout -s INT -k 5 $((PERIOD + 20)) ip netns exec "$NS" perfdhcp "${pdx[@]}" -4 -l "$RELAY" \
        -r "$rate" -R "$CLIENTS" -p "$PERIOD" -W 1000000 "${PERF_OPTS[@]}" "$TARGET" > "$out" 2>&1 || true
    u1=$(rcvbuf_errors); g1=$(pg_ticks); e1=$e0
    for p in "${!pids[@]}"; do t1+=("$(cpu_ticks "${pids[$p]}" 2>/dev/null || echo "${t0[$p]}")"); done
    [ -n "$TEE_PID" ] && e1=$(cpu_ticks "$TEE_PID" 2>/dev/null || echo "$e0")
    for p in "${pids[@]}"; do
        kill -0 "$p" 2>/dev/null || { echo "$name: PID $p died during the $rate/s run" >&2; return 2; }
    done
    if [ -n "$TEE_PID" ] && ! kill -0 "$TEE_PID" 2>/dev/null; then
        echo "$name: the tee died during the $rate/s run" >&2; return 2
    fi
    local cpu=0 shares=""
    for p in "${!pids[@]}"; do
        cpu=$((cpu + t1[p] - t0[p])); shares="$shares $((t1[p] - t0[p]))"
    done
    awk -v rate="$rate" -v name="$name" -v rcv=$((u1 - u0)) -v cpu=$cpu -v pgcpu=$((g1 - g0)) \
        -v shares="${shares# }" -v tee=$((e1 - e0)) -v hastee="${TEE_PID:+1}" \
        -v hz="$HZ" -v cpulog="$CPU_LOG" -v period="$PERIOD" '
        /Statistics for: DISCOVER-OFFER/ { s = "DO" } /Statistics for: REQUEST-ACK/ { s = "RA" }
        /^sent packets:/ { sent[s] = $3 } /^received packets:/ { recv[s] = $3 }
        /^avg delay:/ { delay[s] = $3 }
        END {
            if (sent["DO"] == "" || sent["RA"] == "") { print name, rate "/s: no perfdhcp report"; exit 1 }
            lost_do = sent["DO"] - recv["DO"]; lost_ra = sent["RA"] - recv["RA"]
            pdo = sent["DO"] ? 100 * lost_do / sent["DO"] : 100
            pra = sent["RA"] ? 100 * lost_ra / sent["RA"] : 100
            ok = (sent["DO"] > 0 && sent["RA"] > 0 && lost_do * 1000 < sent["DO"] && lost_ra * 1000 < sent["RA"])
            n = recv["RA"]
            us = n ? cpu / hz / n * 1e6 : 0; pgus = n ? pgcpu / hz / n * 1e6 : 0
            teeus = n ? tee / hz / n * 1e6 : 0
            k = split(shares, sh, " "); each = ""; eachlog = ""
            if (k > 1) {
                split("a b c d e f g h", nn, " ")
                for (i = 1; i <= k; i++) {
                    u = n ? sh[i] / hz / n * 1e6 : 0
                    each = each sprintf("%s%s %.0f", (i > 1 ? " + " : ""), nn[i], u)
                    eachlog = eachlog sprintf(" %.1f", u)
                }
                each = " (" each ")"
            }
            printf "%-8s %6d/s asked, %7.0f/s ACKed: DO lost %.4f %%, RA lost %.4f %%, avg delay %s/%s ms, CPU %s %.1f s + postgres %.1f s = %.0f%s + %.0f = %.0f us/DORA%s, RcvbufErrors %d  %s\n",
                name, rate, n / period, pdo, pra, delay["DO"], delay["RA"], (k > 1 ? "nodes" : "server"),
                cpu / hz, pgcpu / hz, us, each, pgus, us + pgus,
                (hastee ? sprintf(" (tee %.1f s = %.0f us/DORA, not counted)", tee / hz, teeus) : ""),
                rcv, ok ? "ok" : "LOSSY"
            if (n) printf "%s %d %.1f %.1f %.1f %.4f %.4f %.1f%s\n", name, rate, us, pgus, us + pgus, pdo, pra, teeus, eachlog >> cpulog
            exit ok ? 0 : 1
        }' "$out"
}

# Uncounted warm-up before the ramp (first connections, caches).
warmup() {
    timeout -s INT -k 5 20 ip netns exec "$NS" perfdhcp -g single -4 -l "$RELAY" -r 1000 -R "$CLIENTS" \
        -p 5 -W 1000000 "${PERF_OPTS[@]}" "$TARGET" > "$WORK/warmup-$2.txt" 2>&1 || true
}

# Settles database $1 before a ramp: statistics and visibility map fresh (no
# autovacuum of the seed during the load), dirty pages written out.
settle() {
    pg "$1" -c 'VACUUM (ANALYZE)' -c 'CHECKPOINT'
}

KEA_BEST=
HEADEND_BEST=
CLUSTER_BEST=
TWO_BEST=
TWO_ROWS=
KEA_ROWS=
HEADEND_ROWS=
CLUSTER_ROWS=

if [ $run_kea = 1 ]; then
    mkdir -p "$WORK/kea"
    pg postgres -c "CREATE ROLE kea LOGIN PASSWORD 'kea-test-pw'" -c "CREATE DATABASE kea OWNER kea"
    timeout 300 kea-admin db-init pgsql -u kea -p kea-test-pw -n kea -h 127.0.0.1 -P "$PGPORT" \
        > "$WORK/kea/db-init.txt" 2>&1 || { cat "$WORK/kea/db-init.txt" >&2; exit 1; }
    echo "kea: schema $(timeout 60 kea-admin db-version pgsql -u kea -p kea-test-pw -n kea -h 127.0.0.1 -P "$PGPORT" 2>/dev/null | tail -1)"
    cat > "$WORK/kea/kea4.json" <<EOF
{ "Dhcp4": {
  "interfaces-config": { "interfaces": [ "lo/$SERVER" ], "dhcp-socket-type": "udp" },
  "lease-database": { "type": "postgresql", "host": "$PGSOCK", "port": $PGPORT,
                      "name": "kea", "user": "kea", "password": "kea-test-pw",
                      "connect-timeout": 5, "max-reconnect-tries": 3, "reconnect-wait-time": 1000 },
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
    # SEED active leases at the top of the pool (the clients of `headend store seed`,
    # 02:00:xx:xx:xx:xx), so that Kea's iterative allocator, which starts at the
    # bottom, does not walk through them. The per-row stat triggers of lease4 all
    # update one lease4_stat row, which grows quadratically in one transaction:
    # they are skipped (session_replication_role = replica) and the statistics
    # recounted afterwards with `kea-admin stats-recount`.
    echo "kea: writing $SEED leases into lease4"
    t=$(date +%s)
    last=$(awk -v a="$LAST" 'BEGIN { split(a, o, "."); printf "%d", ((o[1] * 256 + o[2]) * 256 + o[3]) * 256 + o[4] }')
    pg kea -c "SET synchronous_commit = off" -c "SET session_replication_role = replica" \
        -c "INSERT INTO lease4 (address, hwaddr, client_id, valid_lifetime, expire,
            subnet_id, fqdn_fwd, fqdn_rev, hostname, state)
        SELECT $last - i, decode('0200' || lpad(to_hex(i), 8, '0'), 'hex'), NULL, 86400,
            now() + interval '86400 seconds', 1, false, false, '', 0
        FROM generate_series(0, $SEED - 1) AS i"
    timeout 600 kea-admin stats-recount pgsql -u kea -p kea-test-pw -n kea -h 127.0.0.1 -P "$PGPORT" \
        > "$WORK/kea/stats-recount.txt" 2>&1 || { cat "$WORK/kea/stats-recount.txt" >&2; exit 1; }
    settle kea
    echo "kea: seeded in $(($(date +%s) - t)) s: $(pg kea -c 'select count(*) from lease4') rows in lease4," \
        "lease4_stat: $(pg kea -c "select coalesce(string_agg(subnet_id || '/' || state || '=' || leases, ' '), 'empty') from lease4_stat")"
    t=$(date +%s)
    ip netns exec "$NS" kea-dhcp4 -c "$WORK/kea/kea4.json" > "$WORK/kea/stdout.txt" 2>&1 &
    SERVER_PID=$!
    wait_for_line "$WORK/kea/kea4.log" DHCP4_STARTED 300 "$SERVER_PID"
    echo "kea: $(kea-dhcp4 -V | head -1), $KEA_THREADS threads, serving after $(($(date +%s) - t)) s"
    ramp "$SERVER_PID" kea
    KEA_BEST=$BEST
    stop_pid "$SERVER_PID"; SERVER_PID=
    KEA_ROWS=$(pg kea -c 'select count(*) from lease4')
    echo "kea: highest rate with < 0.1 % loss: $KEA_BEST/s; rows in lease4 after the ramp: $KEA_ROWS"
    echo
fi

# headend's configuration: $1 = file, $2 = store dir, $3 = database ("" = embedded store),
# $4 = 1 for a [cluster] of one node, 2 for node $5 of the cluster ["a", "b"]
# (mode two), listening on $6 (default SERVER).
headend_config() {
    local file=$1 store=$2 db=$3 cluster=$4 node=${5:-bench} listen=${6:-$SERVER}
    {
        echo '[server]'
        echo "name = \"$node\""
        echo "store = \"$store\""
        [ -n "$db" ] && echo "database = \"host=$PGSOCK port=$PGPORT user=postgres dbname=$db\""
        cat <<EOF

[dhcpv4]
listen = ["$listen:67"]

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
        if [ "$cluster" = 1 ]; then
            printf '\n[cluster]\nnodes = ["bench"]\n'
        elif [ "$cluster" = 2 ]; then
            printf '\n[cluster]\nnodes = ["a", "b"]\nheartbeat_ms = 250\ntakeover_ms = 3000\n'
        fi
    } > "$file"
}

# The seeded headend database, once: `store seed` writes an embedded store,
# `store copy` moves it into database headend_seed (and reads it back);
# each variant then gets its own copy (CREATE DATABASE ... TEMPLATE).
HEADEND_SEEDED=0
headend_seed_db() {
    [ "$HEADEND_SEEDED" = 1 ] && return 0
    mkdir -p "$WORK/seed"
    headend_config "$WORK/seed/seed.toml" "$WORK/seed/store" "" 0
    headend_config "$WORK/seed/migrate.toml" "$WORK/seed/node" headend_seed 0
    "$HEADEND" check --config "$WORK/seed/migrate.toml"
    pg postgres -c "CREATE DATABASE headend_seed"
    timeout 300 "$HEADEND" store migrate --config "$WORK/seed/migrate.toml"
    echo "headend: seeding $SEED leases"
    t=$(date +%s)
    timeout 1800 "$HEADEND" store seed --config "$WORK/seed/seed.toml" --pool bench --count "$SEED"
    echo "headend: seeded the embedded store in $(($(date +%s) - t)) s; copying it into PostgreSQL"
    t=$(date +%s)
    local enc=${PGSOCK//\//%2F}
    timeout 1800 "$HEADEND" store copy --from "sled:$WORK/seed/store" \
        --to "postgresql://postgres@$enc:$PGPORT/headend_seed" | tail -2
    settle headend_seed
    echo "headend: copied in $(($(date +%s) - t)) s: $(pg headend_seed -c 'select count(*) from leases4') rows in leases4"
    rm -rf "$WORK/seed/store"
    HEADEND_SEEDED=1
}

# One headend ramp: $1 = name (headend or cluster), $2 = 1 for [cluster]; sets BEST and ROWS.
headend_ramp() {
    local name=$1 cluster=$2 db=he_$1 dir=$WORK/$1
    headend_seed_db
    mkdir -p "$dir"
    t=$(date +%s)
    pg postgres -c "CREATE DATABASE $db TEMPLATE headend_seed STRATEGY file_copy"
    pg "$db" -c 'CHECKPOINT'
    echo "$name: database $db cloned from headend_seed in $(($(date +%s) - t)) s"
    headend_config "$dir/headend.toml" "$dir/node" "$db" "$cluster"
    "$HEADEND" check --config "$dir/headend.toml"
    t=$(date +%s)
    ip netns exec "$NS" "$HEADEND" run --config "$dir/headend.toml" ${WORKERS:+--workers "$WORKERS"} > "$dir/log.txt" 2>&1 &
    SERVER_PID=$!
    wait_for_line "$dir/log.txt" "headend: ready" 600 "$SERVER_PID"
    echo "$name: $("$HEADEND" --version)$([ "$cluster" = 1 ] && echo ', [cluster] nodes = ["bench"]'), serving after $(($(date +%s) - t)) s of start-up"
    BEST=0
    ramp "$SERVER_PID" "$name" || true
    if [ "$cluster" = 1 ]; then
        timeout 30 "$HEADEND" cluster status --config "$dir/headend.toml" > "$dir/cluster-status.txt" 2>&1 || true
        echo "$name: cluster status: $(sed -n 2p "$dir/cluster-status.txt" | tr -s ' ' | cut -c1-100)"
    fi
    stop_pid "$SERVER_PID"; SERVER_PID=
    ROWS=$(pg "$db" -c 'select count(*) from leases4')
    echo "$name: highest rate with < 0.1 % loss: $BEST/s; rows in leases4 after the ramp: $ROWS"
    echo
}

# Mode two: nodes a and b of one cluster on database he_two, the load through the
# tee; sets BEST and ROWS.
two_ramp() {
    local name=two db=he_two dir=$WORK/two i owners pa pb
    headend_seed_db
    mkdir -p "$dir"
    t=$(date +%s)
    pg postgres -c "CREATE DATABASE $db TEMPLATE headend_seed STRATEGY file_copy"
    pg "$db" -c 'CHECKPOINT'
    echo "$name: database $db cloned from headend_seed in $(($(date +%s) - t)) s"
    headend_config "$dir/a.toml" "$dir/node-a" "$db" 2 a "$SERVER"
    headend_config "$dir/b.toml" "$dir/node-b" "$db" 2 b "$SERVER_B"
    "$HEADEND" check --config "$dir/a.toml"
    "$HEADEND" check --config "$dir/b.toml"
    t=$(date +%s)
    ip netns exec "$NS" "$HEADEND" run --config "$dir/a.toml" ${WORKERS:+--workers "$WORKERS"} > "$dir/log-a.txt" 2>&1 &
    SERVER_PID=$!
    wait_for_line "$dir/log-a.txt" "headend: ready" 600 "$SERVER_PID"
    ip netns exec "$NS" "$HEADEND" run --config "$dir/b.toml" ${WORKERS:+--workers "$WORKERS"} > "$dir/log-b.txt" 2>&1 &
    EXTRA_PIDS=$!
    wait_for_line "$dir/log-b.txt" "headend: ready" 600 "$EXTRA_PIDS"
    # Both nodes serve their half of the 256 buckets (bounded: 30 s).
    owners=
    for i in $(seq 60); do
        owners=$(pg "$db" -c "SELECT owner || '=' || count(*) FROM cluster_buckets GROUP BY owner ORDER BY owner" | tr '\n' ' ')
        [ "$owners" = "a=128 b=128 " ] && break
        sleep 0.5
    done
    [ "$owners" = "a=128 b=128 " ] || { echo "$name: buckets not split within 30 s: ${owners:-none}" >&2; tail -5 "$dir/log-a.txt" "$dir/log-b.txt" >&2; return 1; }
    sleep 1
    echo "$name: $("$HEADEND" --version), [cluster] nodes = [\"a\", \"b\"] (a on $SERVER:67, b on $SERVER_B:67)," \
        "buckets ${owners% }, serving after $(($(date +%s) - t)) s of start-up"
    # The tee: every datagram to $TEE:67 goes to both nodes (a CMTS with two helper addresses).
    cat > "$dir/tee.py" <<EOF
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 4 << 20)
except OSError:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind(("$TEE", 67))
print("tee: $TEE:67 -> $SERVER:67, $SERVER_B:67, SO_RCVBUF %d" % s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF), flush=True)
a = ("$SERVER", 67)
b = ("$SERVER_B", 67)
recv = s.recv
send = s.sendto
while True:
    d = recv(4096)
    try:
        send(d, a)
    except OSError:
        pass
    try:
        send(d, b)
    except OSError:
        pass
EOF
    ip netns exec "$NS" python3 -u "$dir/tee.py" > "$dir/tee.txt" 2>&1 &
    TEE_PID=$!
    wait_for_line "$dir/tee.txt" "tee: " 30 "$TEE_PID"
    echo "$name: $(head -1 "$dir/tee.txt")"
    TARGET=$TEE
    BEST=0
    ramp "$SERVER_PID" "$name" || true
    TARGET=$SERVER
    stop_pid "$TEE_PID"; TEE_PID=
    timeout 30 "$HEADEND" cluster status --config "$dir/a.toml" > "$dir/cluster-status.txt" 2>&1 || true
    echo "$name: cluster status:"; sed -n '1,4p' "$dir/cluster-status.txt" | cut -c1-120 | sed 's/^/    /'
    # b hands its buckets to a at once; a then waits up to 5 s for a peer (none left).
    pa=$SERVER_PID; pb=$EXTRA_PIDS
    stop_pid "$pb"; EXTRA_PIDS=
    stop_pid "$pa"; SERVER_PID=
    ROWS=$(pg "$db" -c 'select count(*) from leases4')
    echo "$name: highest rate with < 0.1 % loss: $BEST/s (bounded by the Python tee and perfdhcp sharing the cores, not by the nodes); rows in leases4 after the ramp: $ROWS"
    echo
}

if [ $run_headend = 1 ]; then
    headend_ramp headend 0
    HEADEND_BEST=$BEST; HEADEND_ROWS=$ROWS
fi
if [ $run_cluster = 1 ]; then
    headend_ramp cluster 1
    CLUSTER_BEST=$BEST; CLUSTER_ROWS=$ROWS
fi
if [ $run_two = 1 ]; then
    BEST=0; ROWS=
    two_ramp
    TWO_BEST=$BEST; TWO_ROWS=$ROWS
fi

echo "=== summary ($(nproc) cores, ${PERIOD} s per rate, $SEED leases pre-loaded, PostgreSQL durable: fsync and synchronous_commit on) ==="
[ -n "$KEA_BEST" ] && printf '%-28s %6s DORA/s   (rows in lease4 at the end: %s)\n' "kea-dhcp4 + pgsql (MT $KEA_THREADS):" "$KEA_BEST" "$KEA_ROWS"
[ -n "$HEADEND_BEST" ] && printf '%-28s %6s DORA/s   (rows in leases4 at the end: %s)\n' "headend + pg:" "$HEADEND_BEST" "$HEADEND_ROWS"
[ -n "$CLUSTER_BEST" ] && printf '%-28s %6s DORA/s   (rows in leases4 at the end: %s)\n' "headend + pg, [cluster]:" "$CLUSTER_BEST" "$CLUSTER_ROWS"
[ -n "$TWO_BEST" ] && printf '%-28s %6s DORA/s   (rows in leases4 at the end: %s; bounded by the Python tee and perfdhcp on the same cores, not a node limit)\n' "two nodes + pg, via the tee:" "$TWO_BEST" "$TWO_ROWS"
ratio() { awk -v a="$2" -v b="$3" -v what="$1" 'BEGIN { if (b > 0) printf "ratio %s: %.2f\n", what, a / b; else printf "ratio %s: n/a (denominator 0)\n", what }'; }
if [ -n "$KEA_BEST" ]; then
    [ -n "$HEADEND_BEST" ] && ratio "headend/kea" "$HEADEND_BEST" "$KEA_BEST"
    [ -n "$CLUSTER_BEST" ] && ratio "cluster/kea" "$CLUSTER_BEST" "$KEA_BEST"
fi
[ -n "$HEADEND_BEST" ] && [ -n "$CLUSTER_BEST" ] && ratio "cluster/headend" "$CLUSTER_BEST" "$HEADEND_BEST"
# CPU per completed DORA (server + postgres), at every rate more than one ran.
if [ -f "$CPU_LOG" ]; then
    echo "CPU per DORA (server + postgres = total, us; two: both nodes summed), last run at each rate:"
    awk '
        { k = $1 " " $2; srv[k] = $3; pgc[k] = $4; tot[k] = $5; if (!seen[$2]++) rates[++n] = $2 }
        END {
            split("kea headend cluster two", names, " ")
            for (i = 1; i <= n; i++) {
                r = rates[i]; line = sprintf("  %6d/s:", r); c = 0
                for (j = 1; j <= 4; j++) {
                    k = names[j] " " r
                    if (k in tot) { line = line sprintf("  %s %.0f + %.0f = %.0f", names[j], srv[k], pgc[k], tot[k]); c++ }
                }
                kk = "kea " r; hh = "headend " r; cc = "cluster " r
                if ((kk in tot) && (hh in tot) && tot[hh] > 0) line = line sprintf("  | kea/headend %.2f", tot[kk] / tot[hh])
                if ((kk in tot) && (cc in tot) && tot[cc] > 0) line = line sprintf("  | kea/cluster %.2f", tot[kk] / tot[cc])
                if ((hh in tot) && (cc in tot) && tot[hh] > 0) line = line sprintf("  | cluster/headend %.2f", tot[cc] / tot[hh])
                print line
            }
        }' "$CPU_LOG"
    # Mode two: each node's share and the tee; then 2 x C1 / C2 against the one-node cluster run.
    awk '
        $1 == "two" { r = $2; c2[r] = $3; pg2[r] = $4; tee[r] = $8; a[r] = $9; b[r] = $10; if (!seen[r]++) rates[++n] = r }
        $1 == "cluster" { c1[$2] = $3 }
        END {
            if (!n) exit
            print "two nodes, CPU per DORA of the whole load (us): nodes a + b = total, postgres, tee (not counted):"
            for (i = 1; i <= n; i++) {
                r = rates[i]
                printf "  %6d/s: a %.0f + b %.0f = %.0f, postgres %.0f, tee %.0f\n", r, a[r], b[r], c2[r], pg2[r], tee[r]
            }
            m = 0
            for (i = 1; i <= n; i++) {
                r = rates[i]
                if (!(r in c1) || c2[r] <= 0) continue
                if (!m++) print "node scaling (cluster = one node C1, two = both nodes C2, server us/DORA at the same offered rate; the database aside):"
                printf "  %6d/s: C1 %.0f us, C2 %.0f us: two-node capacity vs one node (2 x C1 / C2): %.2f\n", r, c1[r], c2[r], 2 * c1[r] / c2[r]
            }
            if (!m) print "two-node capacity vs one node: n/a (run cluster and two in one invocation, e.g. `cluster,two`)"
        }' "$CPU_LOG"
fi
if [ -n "$KEA_BEST" ] && [ "$KEA_BEST" -gt 0 ]; then
    for nb in "headend:$HEADEND_BEST" "cluster:$CLUSTER_BEST"; do
        [ -n "${nb#*:}" ] || continue
        awk -v n="${nb%%:*}" -v h="${nb#*:}" -v k="$KEA_BEST" 'BEGIN {
            printf "target (%s >= 3 x Kea DORA/s at < 0.1 %% loss): %s\n", n, (h >= 3 * k) ? "met" : "not met by the rate ramp (see CPU per DORA)" }'
    done
fi
top=${RATES##* }
for b in "$HEADEND_BEST" "$CLUSTER_BEST" "$TWO_BEST"; do
    if [ -n "$b" ] && [ "$b" = "$top" ]; then
        echo "note: headend passed the top rate ($top/s); raise RATES to find its limit (perfdhcp may then be the bottleneck)"
        break
    fi
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
