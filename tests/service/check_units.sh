#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/service/check_units.sh - the unit files pass `systemd-analyze
# verify` (it needs no running systemd).  ExecStart= names the installed
# brokerd, which need not exist yet: each unit is verified as a copy whose
# ExecStart= names this build's brokerd instead.  Man pages are not looked
# up (--man=no): they are installed together with the units.
#   check_units.sh UNIT_BUILD_DIR BROKERD BINDIR
set -euo pipefail
units=$1 brokerd=$2 bindir=$3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bk-units.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/system" "$tmp/user" "$tmp/xdg"
chmod 700 "$tmp/xdg"
for u in brokerd.socket brokerd.service; do
	sed "s|$bindir/brokerd|$brokerd|" "$units/$u" >"$tmp/system/$u"
	sed "s|$bindir/brokerd|$brokerd|" "$units/${u/brokerd/brokerd-user}" >"$tmp/user/$u"
done
grep -q "^ExecStart=$brokerd " "$tmp/system/brokerd.service" || { echo "FAIL: ExecStart= not rewritten"; exit 1; }
grep -q '^ListenSequentialPacket=/run/broker/broker.sock$' "$tmp/system/brokerd.socket" || { echo "FAIL: socket path"; exit 1; }
grep -q '^ListenSequentialPacket=%t/broker.sock$' "$tmp/user/brokerd.socket" || { echo "FAIL: user socket path"; exit 1; }
grep -q '^Type=notify$' "$tmp/system/brokerd.service" || { echo "FAIL: Type=notify"; exit 1; }
rc=0
(cd "$tmp/system" && systemd-analyze verify --man=no ./brokerd.socket ./brokerd.service) || rc=1
(cd "$tmp/user" && XDG_RUNTIME_DIR="$tmp/xdg" systemd-analyze --user verify --man=no ./brokerd.socket ./brokerd.service) || rc=1
[ $rc -eq 0 ] && echo "units: PASS" || echo "units: FAIL"
exit $rc
