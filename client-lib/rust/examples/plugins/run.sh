#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# examples/plugins/run.sh [SECONDS] - the plugin scenario of docs/RUST.md:
# builds plugin A (opt-level 0), B (opt-level 1), C (opt-level 2, feature
# "wide": another layout of its Job struct) and B rebuilt (feature "v2") as
# four separate cdylibs, each with its own copy of std and bkclient; builds
# the host; starts a brokerd; runs the host, which must print "0 lost".
# Environment: BKCLIENT_LIB_DIR, BK_BROKERD, BK_MODULE_DIR, CARGO_TARGET_DIR
# (as tests/bindings/meson.build sets them), CARGO (default cargo).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
secs=${1:-3}
cargo=${CARGO:-cargo}
target=${CARGO_TARGET_DIR:?CARGO_TARGET_DIR must be set}/plugins
: "${BKCLIENT_LIB_DIR:?}" "${BK_BROKERD:?}" "${BK_MODULE_DIR:?}"

build_plugin() { # NAME OPT-LEVEL [FEATURES]
	CARGO_PROFILE_RELEASE_OPT_LEVEL=$2 CARGO_TARGET_DIR="$target/$1" \
		"$cargo" build --offline --release --quiet --manifest-path "$here/plugin/Cargo.toml" ${3:+--features "$3"}
	cp "$target/$1/release/libbk_plugin.so" "$target/plugin_$1.so"
}
mkdir -p "$target"
build_plugin a 0
build_plugin b 1
build_plugin c 2 wide
build_plugin b2 1 v2
CARGO_TARGET_DIR="$target/host" "$cargo" build --offline --release --quiet --manifest-path "$here/host/Cargo.toml"

dir=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
		# SIGTERM, then at most 15 s for a clean exit before SIGKILL.
		for _ in $(seq 1 1500); do kill -0 "$pid" 2>/dev/null || break; sleep 0.01; done
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$dir"
}
trap cleanup EXIT
"$BK_BROKERD" --foreground --workers 2 --socket "$dir/broker.sock" --module-dir "$BK_MODULE_DIR" >"$dir/log" 2>&1 &
pid=$!
for _ in $(seq 1 1000); do
	[ -S "$dir/broker.sock" ] && break
	kill -0 "$pid" 2>/dev/null || { cat "$dir/log"; exit 1; }
	sleep 0.01 # polling start-up under a bound of 10 s
done
[ -S "$dir/broker.sock" ] || { echo "brokerd did not start"; cat "$dir/log"; exit 1; }
export LD_LIBRARY_PATH="$BKCLIENT_LIB_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
out=$("$target/host/release/plugin-host" "$dir/broker.sock" "$secs" \
	"$target/plugin_a.so" "$target/plugin_b.so" "$target/plugin_c.so" "$target/plugin_b2.so") || {
	echo "$out"
	echo "plugin-host failed"
	exit 1
}
echo "$out"
grep -qx "0 lost" <<<"$out"
