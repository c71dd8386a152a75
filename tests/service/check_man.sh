#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/service/check_man.sh - every manual page renders without a warning
# (`MANWIDTH=80 man --warnings -l`), and every public function of client.h
# has its page: an alias of libbkclient(3) that names it.
#   check_man.sh MAN_BUILD_DIR CLIENT_H
set -euo pipefail
dir=$1 header=$2
fail=0
for p in brokerd.8 brokerctl.1 broker-bench.1 broker-stress.1 libbkclient.3 bk-module.7; do
	[ -s "$dir/$p" ] || { echo "FAIL: $p was not built"; fail=1; continue; }
	warn=$(MANWIDTH=80 man --warnings -l "$dir/$p" 2>&1 >/dev/null) || { echo "FAIL: man $p failed"; fail=1; }
	[ -z "$warn" ] || { echo "FAIL: $p: $warn"; fail=1; }
	# Rendered first, then searched: `man | grep -q` under pipefail fails when grep leaves at its
	# first match while man still writes (SIGPIPE), as check_binaries.sh's echo did under load.
	page=$(MANWIDTH=80 man -l "$dir/$p" 2>/dev/null) || true
	grep -q "^NAME" <<<"$page" || { echo "FAIL: $p has no NAME section"; fail=1; }
done
fns=$(grep -E '^[a-z]' "$header" | grep -oE 'bk_[a-z_]+\(' | tr -d '(' | sort -u)
[ -n "$fns" ] || { echo "FAIL: no function found in $header"; exit 1; }
lib=$(MANWIDTH=200 man -l "$dir/libbkclient.3" 2>/dev/null) || true
for f in $fns; do
	[ "$(cat "$dir/$f.3" 2>/dev/null)" = ".so man3/libbkclient.3" ] || { echo "FAIL: no alias page $f.3"; fail=1; }
	grep -q "[ *]$f(" <<<"$lib" || { echo "FAIL: libbkclient(3) lacks $f"; fail=1; }
done
[ $fail -eq 0 ] && echo "man: PASS ($(echo $fns | wc -w) functions)" || echo "man: FAIL"
exit $fail
