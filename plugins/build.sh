#!/usr/bin/env bash
# Builds plugins to WebAssembly with whichever wasm toolchain exists:
#   1. a rustup toolchain with the wasm32-unknown-unknown target installed;
#   2. else Debian's /usr/bin/rustc + /usr/bin/cargo (packages rustc, cargo,
#      libstd-rust-dev-wasm32, lld-14), building offline against sources
#      vendored into DIR/target/vendor (vendored once per Cargo.lock;
#      that step needs the network and uses the newest cargo on PATH).
#
#   plugins/build.sh         every member of this workspace, to plugins/dist/
#   plugins/build.sh DIR     the plugin crate (or workspace) in DIR, to DIR/dist/
#
# The second form is what `headend plugin build DIR` runs (the binary embeds
# this file), for crates made by `headend plugin new` anywhere on disk.
# Quick when nothing changed (cargo is incremental, and dist/ files are only
# rewritten when their bytes change).
#
# HEADEND_WASM_TOOLCHAIN=rustup|debian forces a toolchain.
set -euo pipefail

say() { echo "${HEADEND_BUILD_NAME:-plugins/build.sh}: $*" >&2; }
die() { say "error: $*"; exit 1; }

case $# in
0) here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)" ;;
1) here="$(cd "$1" 2>/dev/null && pwd)" || die "no directory $1" ;;
*) die "usage: build.sh [DIR]" ;;
esac
cd "$here"
[ -f Cargo.toml ] || die "no Cargo.toml in $here"

target=wasm32-unknown-unknown
target_dir="$here/target"
dist="$here/dist"
vendor="$target_dir/vendor"

# Workspace members, from the `members = [ ... ]` list of Cargo.toml
# (commented-out entries are skipped).
members() {
    # A plugin crate of its own (`headend plugin new`): the crate itself.
    if grep -q '^\[package\]' Cargo.toml; then
        echo .
        return
    fi
    sed -n '/^members = \[/,/^\]/p' Cargo.toml |
        sed -n 's/^[[:space:]]*"\([^"]*\)",\{0,1\}[[:space:]]*$/\1/p'
}

# The package name of a member directory.
package_name() {
    sed -n 's/^name = "\(.*\)"[[:space:]]*$/\1/p' "$1/Cargo.toml" | head -n 1
}

rustup_has_target() {
    command -v rustup >/dev/null 2>&1 &&
        rustup target list --installed 2>/dev/null | grep -qx "$target"
}

debian_usable() {
    [ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ] &&
        [ -d "$(/usr/bin/rustc --print sysroot)/lib/rustlib/$target" ]
}

choice="${HEADEND_WASM_TOOLCHAIN:-}"
if [ -z "$choice" ]; then
    if rustup_has_target; then
        choice=rustup
    elif debian_usable; then
        choice=debian
    else
        die "no wasm toolchain: run 'rustup target add $target', or install the Debian packages rustc cargo libstd-rust-dev-wasm32 lld-14"
    fi
fi

case "$choice" in
rustup)
    rustup_has_target || die "rustup has no $target target (rustup target add $target)"
    say "toolchain: rustup $(rustc --version) ($target target)"
    cargo build --release --locked --target "$target" --target-dir "$target_dir"
    ;;
debian)
    debian_usable || die "Debian's rustc has no $target standard library (apt-get install rustc cargo libstd-rust-dev-wasm32 lld-14)"
    say "toolchain: Debian $(/usr/bin/rustc --version) + $(/usr/bin/cargo --version), vendored sources"
    # Debian's cargo 1.65 reads lockfile versions up to 3 only; newer cargo
    # keeps a version 3 file as it is, but writes 4 when it makes one anew.
    [ -f Cargo.lock ] || die "no Cargo.lock in $here: Debian's cargo needs one pinned for rustc 1.63 (headend plugin new writes one; see sdk/README.md)"
    if grep -qx 'version = 4' Cargo.lock; then
        die "Cargo.lock in $here is lockfile version 4, which Debian's cargo cannot read: set its 'version = 4' line back to 'version = 3' (see sdk/README.md, \"Building\")"
    fi
    stamp="$vendor/.headend-cargo-lock.sha256"
    want="$(sha256sum Cargo.lock | cut -d ' ' -f 1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        # The newest cargo available vendors best; Debian's cargo can do it too.
        vendor_cargo=/usr/bin/cargo
        if command -v cargo >/dev/null 2>&1; then
            vendor_cargo="$(command -v cargo)"
        fi
        say "vendoring crates for Cargo.lock into $vendor (needs the network once)"
        "$vendor_cargo" vendor --locked --quiet "$vendor" >/dev/null
        echo "$want" >"$stamp"
    fi
    RUSTC=/usr/bin/rustc /usr/bin/cargo build --offline --locked --release \
        --target "$target" --target-dir "$target_dir" \
        --config 'source.crates-io.replace-with="headend-vendored"' \
        --config "source.headend-vendored.directory=\"$vendor\""
    ;;
*)
    die "HEADEND_WASM_TOOLCHAIN must be rustup or debian, not '$choice'"
    ;;
esac

mkdir -p "$dist"
built=0
for member in $(members); do
    name="$(package_name "$member")"
    [ -n "$name" ] || die "no package name in $member/Cargo.toml"
    artifact="$target_dir/$target/release/${name//-/_}.wasm"
    [ -f "$artifact" ] || die "cargo produced no $artifact (is $member a cdylib?)"
    if ! cmp -s "$artifact" "$dist/$name.wasm"; then
        cp "$artifact" "$dist/$name.wasm.tmp"
        mv "$dist/$name.wasm.tmp" "$dist/$name.wasm"
        say "updated $dist/$name.wasm ($(wc -c <"$dist/$name.wasm") bytes)"
    fi
    built=$((built + 1))
done
say "$built plugins in $dist"
