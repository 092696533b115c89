#!/usr/bin/env bash
# Time and peak memory of `headend check` on the lab configuration plus N
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
    # The lab refers to ../../policies: keep the relative paths valid.
    python3 - "$n" examples/lab/headend.toml "$cfg" "$PWD" <<'PY'
import sys
n, src, dst, root = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
text = open(src).read().replace('"../../', '"' + root + '/').replace("'../../", "'" + root + "/")
text = text.replace('store = "', 'store = "' + root + '/target/bench-config-load-')
out = [text, "\n"]
for i in range(n):
    b = (i + 1).to_bytes(4, "big")
    mac = "02:10:%02x:%02x:%02x:%02x" % tuple(b)
    ip = "10.%d.%d.%d" % (200 + (i >> 16 & 0x3f) % 50, i >> 8 & 0xff, i & 0xff)
    out.append('[[fixed_binding]]\nmac = "%s"\nrelay = "127.0.0.2"\nip = "%s"\n' % (mac, ip))
open(dst, "w").write("".join(out))
PY
    size=$(du -m "$cfg" | cut -f1)
    /usr/bin/time -f "%e %M" -o "$work/time" "$BIN" check "$cfg" >"$work/out" 2>&1 || { echo "check failed for $n:"; tail -5 "$work/out"; exit 1; }
    read -r secs kib <"$work/time"
    echo "$n fixed bindings (${size} MB of TOML): headend check ${secs} s, peak RSS $((kib / 1024)) MiB"
done
