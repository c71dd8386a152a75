#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tools/bench/bindings.sh [BUILD_DIR] - round trip and throughput of the
# Python (`await c.call()`) and Rust (`call().await`) bindings next to the C
# client (broker-bench --quick against the same brokerd), in one run.
# BUILD_DIR defaults to build/test; it must hold a plain (non-sanitizer) build.
# Needs /usr/bin/python3 (or PYTHON) and cargo (CARGO, else /usr/bin/cargo).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=$(realpath "${1:-build/test}")
py=${PYTHON:-/usr/bin/python3}
cargo=${CARGO:-/usr/bin/cargo}
[ -x "$cargo" ] || cargo=cargo
samples=${SAMPLES:-20000}
tasks=${TASKS:-100000}

dir=$(mktemp -d)
brokerd_pid=
cleanup() {
	if [ -n "$brokerd_pid" ] && kill "$brokerd_pid" 2>/dev/null; then
		# SIGTERM, then at most 15 s for a clean exit before SIGKILL.
		for _ in $(seq 1 1500); do kill -0 "$brokerd_pid" 2>/dev/null || break; sleep 0.01; done
		kill -9 "$brokerd_pid" 2>/dev/null || true
		wait "$brokerd_pid" 2>/dev/null || true
	fi
	rm -rf "$dir"
}
trap cleanup EXIT

export CARGO_TARGET_DIR="$build/cargo" BKCLIENT_LIB_DIR="$build/client-lib" CARGO_NET_OFFLINE=true
[ "$cargo" = /usr/bin/cargo ] && export RUSTC=/usr/bin/rustc
"$cargo" build --offline --release --quiet --manifest-path client-lib/rust/Cargo.toml --example bench

"$build/broker/brokerd" --foreground --socket "$dir/broker.sock" --module-dir "$build/modules" \
	--workers 2 >"$dir/brokerd.log" 2>&1 &
brokerd_pid=$!
for _ in $(seq 1 500); do
	"$build/tools/brokerctl/brokerctl" --socket "$dir/broker.sock" status >/dev/null 2>&1 && break
	sleep 0.01 # polling start-up under a bound of 5 s
done

echo "C client (broker-bench --quick, same brokerd: 'broker sleep' is bk_wait sleeping, window 256 is pipelined):"
"$build/tools/bench/broker-bench" --socket "$dir/broker.sock" --quick --no-baselines --quiet 2>&1 |
	grep -E "^  broker (spin|sleep|adaptive) |^  window (1|256) " || true
echo
echo "bindings (echo.noop, one brokerd with 2 workers; rtt p50/p99 in ns, throughput in tasks/s):"
{
	BKCLIENT_LIB="$build/client-lib/libbkclient.so.1" "$py" tools/bench/bindings_bench.py "$dir/broker.sock" "$samples" "$tasks"
	"$CARGO_TARGET_DIR/release/examples/bench" "$dir/broker.sock" "$samples" "$((tasks * 2))"
} | awk '$2 == "rtt" { printf "  %-16s rtt   p50 %8d ns   p99 %8d ns   (%d samples)\n", $1, $3, $4, $5 }
	 $2 == "tput" { printf "  %-16s tput  %10.0f tasks/s        (%d calls at once)\n", $1, $3, $4 }'
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
