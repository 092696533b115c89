#!/usr/bin/env bash
# Checks the Debian package the way an operator meets it, on a machine
# without systemd as PID 1 (CI): installs it with dpkg -i, checks what went
# where, validates the installed /etc/headend/headend.toml (plugins and
# policies included) as root and as the service user, verifies the unit with
# systemd-analyze, then runs the installed binary as user headend with only
# CAP_NET_BIND_SERVICE (as the unit does) on the privileged port 67 of
# loopback, answers one DORA exchange (examples/lab/dora.py), stops it with
# SIGTERM and expects status 0. The package is purged at the end.
#
#   packaging/test-deb.sh [path/to/headend_*.deb]    (root; default: the newest built)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"

say() { echo "packaging/test-deb.sh: $*" >&2; }
fail() {
    say "FAILED: $*"
    exit 1
}

[ "$(id -u)" = 0 ] || fail "needs root (dpkg -i)"
deb="${1:-$(ls -t "$target"/debian/headend_*.deb 2>/dev/null | head -n 1)}"
[ -n "$deb" ] && [ -f "$deb" ] || fail "no package: run packaging/build-deb.sh first"
command -v python3 >/dev/null || fail "python3 is needed for examples/lab/dora.py"

pid=""
work=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    [ -n "$work" ] && rm -rf "$work"
    dpkg --purge headend >/dev/null 2>&1 || true
}
trap cleanup EXIT

say "installing $deb ($(du -k "$deb" | cut -f 1) KiB)"
dpkg -i "$deb" >/dev/null

for f in /usr/bin/headend /etc/headend/headend.toml /etc/headend/policies/classify.rhai \
    /usr/share/headend/plugins/flow-select.wasm /usr/share/headend/plugins/docsis-config.wasm \
    /usr/share/headend/plugins/eue-config.wasm /usr/share/headend/plugins/mem-events.wasm \
    /lib/systemd/system/headend.service /usr/share/man/man1/headend.1.gz \
    /usr/share/man/man1/headend-run.1.gz /usr/share/bash-completion/completions/headend \
    /usr/share/zsh/vendor-completions/_headend /usr/share/fish/vendor_completions.d/headend.fish; do
    [ -e "$f" ] || fail "the package did not install $f"
done
getent passwd headend >/dev/null || fail "no system user headend"
[ "$(stat -c %U:%G:%a /var/lib/headend)" = headend:headend:750 ] ||
    fail "/var/lib/headend is $(stat -c %U:%G:%a /var/lib/headend), not headend:headend:750"
[ "$(stat -c %U:%G:%a /etc/headend/headend.toml)" = root:headend:640 ] ||
    fail "/etc/headend/headend.toml is $(stat -c %U:%G:%a /etc/headend/headend.toml), not root:headend:640"
dpkg-query -W -f='${Conffiles}\n' headend | grep -q ' /etc/headend/headend.toml ' ||
    fail "/etc/headend/headend.toml is not a conffile"
say "installed: $(headend --version)"

say "headend plugin new with the packaged SDK"
scaffold="$(mktemp -d)"
headend plugin new site-flow --hook flow-select --dir "$scaffold" --sdk /usr/share/headend/sdk >/dev/null ||
    fail "headend plugin new failed with the packaged SDK"
grep -q '/usr/share/headend/sdk' "$scaffold/site-flow/Cargo.toml" || fail "the scaffold does not use the packaged SDK"
(cd "$scaffold/site-flow" && cargo metadata --locked --format-version 1 >/dev/null) ||
    fail "the scaffold's Cargo.lock does not match the packaged SDK"
rm -rf "$scaffold"

say "headend check on the installed configuration (root, then user headend)"
headend check --config /etc/headend/headend.toml
setpriv --reuid=headend --regid=headend --init-groups --inh-caps=-all \
    headend check --config /etc/headend/headend.toml >/dev/null

say "systemd-analyze verify"
# Documentation= is checked with man(1) when it is installed (man-db).
man_check=yes
command -v man >/dev/null || man_check=no
systemd-analyze verify --man="$man_check" /lib/systemd/system/headend.service

# The service user's own directory, as the unit's StateDirectory= gives it.
work="$(mktemp -d /var/lib/headend/ci-test.XXXXXX)"
chown headend:headend "$work"
cat >"$work/headend.toml" <<CONF
[server]
store = "$work/store"
[dhcpv4]
listen = ["127.0.0.1:67"]
[provisioning]
auto_provision = { file = "/etc/headend/policies/classify.rhai" }
[[domain]]
name = "cablemodems"
[[domain]]
name = "emta"
[[domain]]
name = "cpe"
[[pool]]
name = "cm"
domains = ["cablemodems"]
relays = ["127.0.0.2"]
network = "10.77.0.0/16"
ranges = [["10.77.0.10", "10.77.0.250"]]
[[plugin]]
name = "flow-select"
path = "/usr/share/headend/plugins/flow-select.wasm"
hooks = ["flow-select"]
[plugin.config]
voice_domain = "emta"
voice_flow = "HYBRID.2"
default_flow = "disabled"
provisioning_server = "prov.example.net"
CONF
chown headend:headend "$work/headend.toml"

say "the installed binary as user headend with CAP_NET_BIND_SERVICE only, on 127.0.0.1:67"
setpriv --reuid=headend --regid=headend --init-groups \
    --inh-caps=-all,+net_bind_service --ambient-caps=-all,+net_bind_service \
    --bounding-set=-all,+net_bind_service \
    /usr/bin/headend run --config "$work/headend.toml" >"$work/run.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
    grep -q 'headend: ready' "$work/run.log" && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/run.log" >&2; fail "headend exited before it was ready"; }
    sleep 0.1
done
grep -q 'headend: ready' "$work/run.log" || { cat "$work/run.log" >&2; fail "not ready within 60 s"; }
[ "$(stat -c %U "/proc/$pid")" = headend ] || fail "the server does not run as headend"

python3 "$root/examples/lab/dora.py" --server 127.0.0.1:67 --mac 00:10:95:c1:00:01 \
    --vendor-class docsis3.0: || { cat "$work/run.log" >&2; fail "no DORA exchange"; }

kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=""
[ "$status" = 0 ] || { cat "$work/run.log" >&2; fail "exit status $status after SIGTERM, not 0"; }
say "OK: installed, checked, verified, served a DORA exchange as headend on port 67, stopped with status 0"
