#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/service/check_valgrind.sh - brokerd serves under valgrind, which
# keeps its big lock across io_uring_enter: there a worker must not sleep
# in it (broker/worker.c, ring_wait), else no other thread of brokerd ever
# runs again and the handshake below times out.  This is what lets
# callgrind count brokerd's instructions per task (docs/TESTING.md,
# "Instruction counts").  Skipped (77) without valgrind.
#   check_valgrind.sh BROKERD MODULE_DIR BROKER_EXAMPLE
set -euo pipefail
brokerd=$1 moddir=$2 example=$3
if ! command -v valgrind >/dev/null; then
	echo "valgrind is not installed: skipped"
	exit 77
fi
dir=$(mktemp -d)
pid=""
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	tail -20 "$dir/log" || true
	exit 1
}
valgrind --tool=none --log-file="$dir/vg.log" "$brokerd" --socket "$dir/s" --module-dir "$moddir" \
	--workers 1 --foreground >"$dir/log" 2>&1 &
pid=$!
# Bounded: 60 s for valgrind to start brokerd (a few seconds here).
for _ in $(seq 1 600); do
	[ -S "$dir/s" ] && break
	kill -0 "$pid" 2>/dev/null || fail "brokerd under valgrind exited before serving"
	sleep 0.1
done
[ -S "$dir/s" ] || fail "brokerd under valgrind did not serve within 60 s"
# Every built-in function once: echo, a timer, a file read, a hash (each waits at most 10 s itself).
timeout 60 "$example" --socket "$dir/s" >"$dir/out" 2>&1 || {
	cat "$dir/out"
	fail "broker-example against brokerd under valgrind exited $?"
}
kill -TERM "$pid"
for _ in $(seq 1 300); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$pid" 2>/dev/null && fail "brokerd under valgrind did not stop within 30 s of SIGTERM"
st=0
wait "$pid" || st=$?
pid=""
[ "$st" = 0 ] || fail "brokerd under valgrind exited $st after SIGTERM"
echo "brokerd served broker-example under valgrind and stopped cleanly"
