#!/bin/sh
# SPDX-License-Identifier: MIT
# run_fuzz.sh FUZZER SEEDS [SECONDS] - run one libFuzzer target for SECONDS
# (default $BK_FUZZ_SECONDS or 18: nine targets in under 3 min) over the
# committed seed corpus SEEDS.
# New inputs go to a temporary corpus, never into the seed folder; a crash
# is kept as fuzz-crash-* in the current folder (meson's build folder) and
# the run fails.  Prints libFuzzer's final stats (execs, cov, ft).
set -eu
fuzzer=$1
seeds=$2
secs=${3:-${BK_FUZZ_SECONDS:-18}}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
name=$(basename "$fuzzer")
status=0
"$fuzzer" -max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
	-artifact_prefix="$work/" "$work/corpus" "$seeds" >"$work/log" 2>&1 || status=$?
grep -E '^#[0-9]+.*(DONE|INITED)|stat::number_of_executed_units|stat::peak_rss|^Done' "$work/log" || true
if [ "$status" -ne 0 ]; then
	tail -n 60 "$work/log"
	for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
		[ -e "$f" ] || continue
		cp "$f" "./fuzz-$name-$(basename "$f")"
		echo "$name: kept ./fuzz-$name-$(basename "$f") (reproduce: $fuzzer <file>)"
	done
	echo "$name: FAILED (status $status)"
	exit 1
fi
echo "$name: ok, ${secs} s, no crash"
