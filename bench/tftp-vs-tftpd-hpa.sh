#!/usr/bin/env bash
# headend's TFTP config server vs tftpd-hpa, same run, loopback only.
#
# headend generates a ~2 KB DOCSIS CM file per request (native generator,
# content-keyed cache; a second headend run with the cache off regenerates
# every file, CM MIC + CMTS MIC included); tftpd-hpa serves the same bytes
# as a static file. One load generator (engine/server/examples/tftp_load.rs,
# RFC 1350 clients with blksize, bounded in count and time) drives both.
# Prints transfers/s for each, the ratio, and the server's resident memory
# per 10,000 concurrent (unacknowledged) transfers.
#
# usage: bench/tftp-vs-tftpd-hpa.sh [TOTAL] [SECONDS]
set -euo pipefail
TOTAL=${1:-20000}
DEADLINE=${2:-20}
cd "$(dirname "$0")/.."
cargo build --release -q -p headend-server --example tftp_load
B=$PWD/target/release/examples/tftp_load
W=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; rm -rf "$W"; }
trap cleanup EXIT
mkdir -p "$W/root"
$B serve --root "$W/root" --write "$W/root/cm-bench.cfg" >/dev/null
chmod 755 "$W" "$W/root"; chmod 644 "$W/root/cm-bench.cfg"
SIZE=$(stat -c %s "$W/root/cm-bench.cfg")
H=127.0.0.1:16969; HNC=127.0.0.1:16971; T=127.0.0.1:16970

LAST=
start_headend() { # addr cache-entries retransmit-ms (not in a subshell: PIDS must see the PID)
  $B serve --listen "$1" --root "$W/root" --cache "$2" --retransmit-ms "$3" --seconds 600 >"$W/h.$1.log" 2>"$W/h.$1.err" &
  LAST=$!; PIDS+=($LAST)
}
start_headend $H 10000 1000; H_PID=$LAST
start_headend $HNC 0 1000
in.tftpd -L -s "$W/root" -a $T -u tftp & PIDS+=($!)
sleep 1

rate() { $B load --server "$1" --file cm-bench.cfg --total "$TOTAL" --concurrency "$2" --blksize "$3" --deadline "$DEADLINE" | sed -n 's/.*transfers=\([0-9]*\) failures=\([0-9]*\).*rate=\([0-9]*\).*/\3 \1 \2/p'; }

echo "file: $SIZE octets (generated DOCSIS CM file; tftpd-hpa serves the same bytes statically)"
printf "%-22s %14s %14s %14s %8s %8s\n" "blksize/concurrency" "headend/s" "no-cache/s" "tftpd-hpa/s" "ratio" "ratio-nc"
for case in "1448 16" "512 16" "1448 64" "512 64"; do
  set -- $case
  read -r h hn hf < <(rate $H "$2" "$1")
  read -r n nn nf < <(rate $HNC "$2" "$1")
  read -r t tn tf < <(rate $T "$2" "$1")
  printf "%-22s %14s %14s %14s %8s %8s   (failures: %s/%s/%s)\n" "$1/$2" "$h" "$n" "$t" \
    "$(echo "scale=1; $h / $t" | bc)x" "$(echo "scale=1; $n / $t" | bc)x" "$hf" "$nf" "$tf"
done

# Memory: 10,000 transfers held open (first DATA sent, never acknowledged).
kill "$H_PID" 2>/dev/null || true; sleep 0.5
start_headend 127.0.0.1:16972 10000 20000; M_PID=$LAST
sleep 1
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
BASE=$(rss "$M_PID")
$B hold --server 127.0.0.1:16972 --file cm-bench.cfg --count 10000 --seconds 6 >"$W/hold.out" &
HOLD=$!; PIDS+=($HOLD)
PEAK=$BASE; ACTIVE=0
for _ in $(seq 1 24); do
  sleep 0.25
  r=$(rss "$M_PID"); [ "$r" -gt "$PEAK" ] && PEAK=$r
  a=$(tail -1 "$W/h.127.0.0.1:16972.err" | sed -n 's/active=\([0-9]*\).*/\1/p'); [ -n "$a" ] && [ "$a" -gt "$ACTIVE" ] && ACTIVE=$a
done
wait "$HOLD" || true
echo "memory: $(cat "$W/hold.out"); server peak active=$ACTIVE; RSS $BASE KiB idle -> $PEAK KiB"
echo "memory per 10,000 concurrent transfers: $(( (PEAK - BASE) / 1024 )) MiB ($(( (PEAK - BASE) * 1024 / (ACTIVE > 0 ? ACTIVE : 1) )) octets per transfer)"
