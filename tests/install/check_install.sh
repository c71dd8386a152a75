#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/install/check_install.sh - an installed tree stands on its own.
# Builds into a fresh folder, installs into a DESTDIR staging tree under a
# prefix that exists nowhere on this machine, and checks that
#   1. no installed file (ELF files with their debug info stripped) contains
#      the build folder's or the source tree's path;
#   2. with the build folder removed, the installed broker-stress and
#      broker-bench pass.  They can only find brokerd and the modules
#      relative to their own executables (the absolute prefix path does not
#      exist), which is what a DESTDIR or moved tree needs;
#   3. the tree is what a packager ships: the systemd units (system and user),
#      the manual pages with one alias per client function, bkclient.pc and
#      bkmodule.pc, the headers client.h refers to, and in bin/ only names
#      that say whose they are (broker*).
# Ends with one line `install check: PASS` or `install check: FAIL (...)`.
#   tests/install/check_install.sh [BUILD_DIR]   (default build/install-check)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd -P)
cd "$src"
build=${1:-build/install-check}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bk-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tmp=$(cd "$tmp" && pwd -P) # the tools report /proc/self/exe, which has no symlinks

fail() {
	echo "install check: FAIL ($*)"
	exit 1
}

# A prefix no file of this machine is under: the tools cannot fall back on it.
prefix=$(mktemp -u /opt/bk-install-check.XXXXXX)
[ -e "$prefix" ] && fail "$prefix exists"

rm -rf "$build"
meson setup "$build" -Dtests=false --prefix="$prefix" >"$tmp/setup.log" 2>&1 ||
	{ cat "$tmp/setup.log"; fail "meson setup"; }
build=$(cd "$build" && pwd -P)
meson compile -C "$build" >"$tmp/compile.log" 2>&1 || { tail -n 30 "$tmp/compile.log"; fail "meson compile"; }
dest="$tmp/dest"
DESTDIR="$dest" meson install -C "$build" --no-rebuild >"$tmp/install.log" 2>&1 ||
	{ tail -n 30 "$tmp/install.log"; fail "meson install"; }

# 1. The build folder's and the source tree's paths.  $build is inside $src
#    when the default is used; both are searched so an outside build folder is
#    covered too.
checked=0
bad=0
while IFS= read -r -d '' f; do
	copy="$tmp/stripped"
	if ! strip --strip-debug -o "$copy" "$f" 2>/dev/null; then
		cp "$f" "$copy" # not an object file (headers, pkg-config file)
	fi
	# To a file, not a pipe: under pipefail an early `grep -q` exit (SIGPIPE
	# in strings) would read as "not found".
	strings -a "$copy" >"$tmp/strings"
	for p in "$build" "$src"; do
		if grep -qF -- "$p" "$tmp/strings"; then
			echo "install check: ${f#"$dest"} contains $p:" >&2
			grep -F -- "$p" "$tmp/strings" | sed 's/^/    /' >&2
			bad=$((bad + 1))
			break
		fi
	done
	checked=$((checked + 1))
done < <(find "$dest" -type f -print0)
[ "$checked" -gt 0 ] || fail "meson install installed nothing"
[ "$bad" -eq 0 ] && echo "install check: $checked installed files, none names $build or $src"

# 3. What a packager ships.
pre="$dest$prefix"
for f in lib/systemd/system/brokerd.socket lib/systemd/system/brokerd.service lib/systemd/user/brokerd.socket \
	lib/systemd/user/brokerd.service share/man/man8/brokerd.8 share/man/man1/brokerctl.1 \
	share/man/man1/broker-bench.1 share/man/man1/broker-stress.1 share/man/man3/libbkclient.3 \
	share/man/man3/bk_connect.3 share/man/man7/bk-module.7 include/broker/client.h include/broker/module.h \
	include/broker/proto.h include/broker/errors.h; do
	[ -f "$pre/$f" ] || fail "$f not installed"
done
grep -q "^ExecStart=$prefix/bin/brokerd " "$pre/lib/systemd/system/brokerd.service" || fail "brokerd.service ExecStart"
pcs=$(find "$pre" -name bkmodule.pc | head -n 1)
[ -n "$pcs" ] || fail "bkmodule.pc not installed"
grep -q '^moduledir=${libdir}/broker/modules$' "$pcs" || fail "bkmodule.pc has no moduledir"
[ -n "$(find "$pre" -name bkclient.pc)" ] || fail "bkclient.pc not installed"
for b in "$pre"/bin/*; do
	case $(basename "$b") in
	broker*) ;;
	*) fail "bin/$(basename "$b") is not a broker* name" ;;
	esac
done
echo "install check: units, man pages, pkg-config files and headers installed; bin/ holds broker* names only"

# 2. Run the installed tools without the build folder.
rm -rf "$build"
bindir=$(dirname "$(find "$dest" -name broker-stress -type f | head -n 1)")
libdir=$(dirname "$(find "$dest" -name 'libbkclient.so.1' | head -n 1)")
for t in broker-stress broker-bench brokerd; do
	[ -x "$bindir/$t" ] || fail "$t not installed beside broker-stress"
done
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
unset BROKER_MODULE_DIR BK_BROKERD BK_MODULE_DIR

runs_failed=0
if timeout 60 "$bindir/broker-stress" --clients 2 --seconds 1 --quiet >"$tmp/stress.out" 2>&1; then
	echo "install check: installed broker-stress: $(tail -n 1 "$tmp/stress.out")"
else
	cat "$tmp/stress.out" >&2
	echo "install check: installed broker-stress failed" >&2
	runs_failed=$((runs_failed + 1))
fi
if timeout 120 "$bindir/broker-bench" --quick --quiet >"$tmp/bench.out" 2>&1 &&
	grep -qF "own brokerd $bindir/brokerd," "$tmp/bench.out"; then
	echo "install check: installed broker-bench --quick passed ($(grep -m 1 'syscalls per task' "$tmp/bench.out" |
		tr -s ' ' | sed 's/^ //' || echo 'syscalls not counted'))"
else
	cat "$tmp/bench.out" >&2
	echo "install check: installed broker-bench --quick failed (or did not start $bindir/brokerd)" >&2
	runs_failed=$((runs_failed + 1))
fi

[ "$bad" -eq 0 ] || fail "$bad installed file(s) name the build or source folder"
[ "$runs_failed" -eq 0 ] || fail "$runs_failed installed tool run(s) failed"
echo "install check: PASS"
