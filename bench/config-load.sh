#!/usr/bin/env bash
# Time and peak memory of `headend check` on a one-pool configuration plus N
# fixed bindings (issue 21: "configuration loading is quadratic"), for each
# N in $SIZES (default "5000 20000 100000 1000000"). Every SIGHUP reload
# pays the same load, so this is also the cost of a reload.
#
#   bench/config-load.sh            # builds the release binary if needed
#   SIZES="100000" bench/config-load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"5000 20000 100000 1000000"}
BIN=${HEADEND:-target/release/headend}
[ -x "$BIN" ] || cargo build --release --locked -p headend
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for n in $SIZES; do
    cfg="$work/headend-$n.toml"
    python3 - "$n" "$cfg" "$work/bindings-$n.csv" "$work/csv-$n.toml" <<'PY'
import sys
n, dst, csv, csv_cfg = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
out = ["""[server]
store = "state"
[dhcpv4]
listen = ["127.0.0.1:6767"]
[[pool]]
name = "cm"
relays = ["127.0.0.2"]
network = "10.0.0.0/8"
ranges = [["10.0.0.10", "10.127.255.250"]]
"""]
for i in range(n):
    b = (i + 1).to_bytes(4, "big")
    mac = "02:10:%02x:%02x:%02x:%02x" % tuple(b)
    ip = "10.%d.%d.%d" % (128 + (i >> 16), i >> 8 & 0xff, i & 0xff)
    out.append('[[fixed_binding]]\nmac = "%s"\nrelay = "127.0.0.2"\nip = "%s"\n' % (mac, ip))
open(dst, "w").write("".join(out))
# The same bindings as [provisioning] fixed_bindings_file.
open(csv_cfg, "w").write(out[0] + '[provisioning]\nfixed_bindings_file = "%s"\n' % csv.rsplit("/", 1)[1])
with open(csv, "w") as f:
    f.write("mac,relay,ip\n")
    for i in range(n):
        b = (i + 1).to_bytes(4, "big")
        f.write("02:10:%02x:%02x:%02x:%02x,127.0.0.2,10.%d.%d.%d\n" % (tuple(b) + (128 + (i >> 16), i >> 8 & 0xff, i & 0xff)))
PY
    size=$(du -m "$cfg" | cut -f1)
    /usr/bin/time -f "%e %M" -o "$work/time" "$BIN" check --config "$cfg" >"$work/out" 2>&1 || { echo "check failed for $n:"; tail -5 "$work/out"; exit 1; }
    read -r secs kib <"$work/time"
    echo "$n fixed bindings (${size} MB of TOML): headend check ${secs} s, peak RSS $((kib / 1024)) MiB"
    size=$(du -m "$work/bindings-$n.csv" | cut -f1)
    /usr/bin/time -f "%e %M" -o "$work/time" "$BIN" check --config "$work/csv-$n.toml" >"$work/out" 2>&1 || { echo "check failed for $n (CSV):"; tail -5 "$work/out"; exit 1; }
    read -r secs kib <"$work/time"
    echo "$n fixed bindings (${size} MB of CSV, fixed_bindings_file): headend check ${secs} s, peak RSS $((kib / 1024)) MiB"
done
