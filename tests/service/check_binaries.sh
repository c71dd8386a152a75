#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/service/check_binaries.sh - the command-line contract of every
# installed binary: --version prints "NAME VERSION", --help prints usage and
# exits 0; brokerd's numeric flags refuse bad values with one sentence naming
# the range; a --module that fails to load stops brokerd (exit 1, the reason
# on stderr, with <N> priorities when stderr is the journal); a daemon
# writes --pidfile only once it serves, has /dev/null on
# fds 0-2, and brokerctl resolves a relative `load` path itself.
#   check_binaries.sh VERSION MODULE_DIR TEST_MODULE_DIR BINARY...
set -euo pipefail
version=$1 moddir=$2 testmods=$3
shift 3
fail=0
bad() {
	echo "FAIL: $*"
	fail=1
}
brokerd="" brokerctl=""
for b in "$@"; do
	name=$(basename "$b")
	[ "$name" = brokerd ] && brokerd=$b
	[ "$name" = brokerctl ] && brokerctl=$(realpath "$b") # used from another folder
	out=$("$b" --version) || bad "$name --version exited $?"
	[ "$out" = "$name $version" ] || bad "$name --version said '$out'"
	out=$("$b" --help) || bad "$name --help exited $?"
	# Not `echo "$out" | grep -q`: grep leaves at its first match, and under pipefail the echo that
	# is still writing then dies of SIGPIPE (status 141): under load that failed 2 of 7 runs.
	grep -qi "usage" <<<"$out" || bad "$name --help printed no usage"
done
[ -n "$brokerd" ] && [ -n "$brokerctl" ] || { echo "FAIL: brokerd and brokerctl must be given"; exit 1; }

# One kind of message for every bad number, with the real range.
for v in abc 0 -1 999; do
	set +e
	msg=$("$brokerd" --workers "$v" 2>&1 >/dev/null)
	rc=$?
	set -e
	[ $rc -eq 2 ] || bad "--workers $v exited $rc"
	[ "$msg" = "brokerd: --workers needs a number from 1 to 256, got '$v'" ] || bad "--workers $v: '$msg'"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bk-bin.XXXXXX")
pid=""
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
sock=$tmp/b.sock
set +e
msg=$("$brokerd" --foreground --socket "$sock" --module "$tmp/missing.so" 2>&1)
rc=$?
set -e
[ $rc -eq 1 ] || bad "a missing --module: exit $rc, want 1"
grep -q "refusing module $tmp/missing.so" <<<"$msg" || bad "a missing --module: no reason given: $msg"
[ -e "$sock" ] && bad "a missing --module: brokerd bound its socket"

# stderr is the journal's stream (JOURNAL_STREAM names its device and inode): <N> priorities, no timestamp.
: >"$tmp/journal"
set +e
JOURNAL_STREAM=$(stat -c '%d:%i' "$tmp/journal") "$brokerd" --foreground --socket "$sock" \
	--module "$tmp/missing.so" 2>>"$tmp/journal"
set -e
grep -q "^<3>brokerd: refusing module $tmp/missing.so" "$tmp/journal" || bad "journal stream: $(cat "$tmp/journal")"
grep -q "^<6>brokerd: " "$tmp/journal" || bad "journal stream: no info line with <6>"

# Daemon mode: the command returns once brokerd serves, with the pid file written.
"$brokerd" --socket "$sock" --workers 1 --module-dir "$moddir" --pidfile "$tmp/pid" 2>"$tmp/err" ||
	bad "daemon start failed: $(cat "$tmp/err")"
pid=$(cat "$tmp/pid")
[ -n "$pid" ] && [ -d "/proc/$pid" ] || bad "pidfile names no live process"
for fd in 0 1 2; do
	[ "$(readlink "/proc/$pid/fd/$fd")" = /dev/null ] || bad "daemon fd $fd is $(readlink "/proc/$pid/fd/$fd")"
done
mkdir -m 0755 "$tmp/mods"
cp "$testmods/good.so" "$tmp/mods/good.so"
chmod 0644 "$tmp/mods/good.so"
out=$(cd "$tmp/mods" && "$brokerctl" --socket "$sock" load good.so) || bad "brokerctl load good.so (relative): $out"
out=$(cd "$tmp/mods" && "$brokerctl" --socket "$sock" load good.so) || bad "second load: $out"
grep -q unchanged <<<"$out" || bad "loading the same file again said '$out'"
kill -TERM "$pid"
for _ in $(seq 1 150); do
	[ -d "/proc/$pid" ] || break
	sleep 0.1
done
[ -d "/proc/$pid" ] && bad "daemon did not stop within 15 s"
pid=""
[ -e "$tmp/pid" ] && bad "pidfile left behind"
[ $fail -eq 0 ] && echo "binaries: PASS" || echo "binaries: FAIL"
exit $fail
