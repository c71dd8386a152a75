# SPDX-License-Identifier: MIT
# tools/deps.sh - sourced by tools/run and tools/test: install the Debian
# packages the build needs when they are missing (a fresh Debian 12 machine
# has none of them).  Non-interactive, so it works in CI without stdin.
BK_DEBIAN_PACKAGES="gcc pkg-config meson ninja-build liburing-dev libbpf-dev libcmocka-dev libssl-dev nettle-dev clang llvm bpftool gnuplot-nox procps"
# The service (brokerd.service, tests/service): libsystemd, systemd's tools
# (systemd-socket-activate, systemd-analyze; systemd need not run) and scdoc for
# the manual pages.
BK_DEBIAN_PACKAGES="$BK_DEBIAN_PACKAGES libsystemd-dev systemd scdoc man-db"
# libFuzzer's runtime for clang (tests/fuzz, the fuzz stage of tools/test).
BK_DEBIAN_PACKAGES="$BK_DEBIAN_PACKAGES libclang-rt-14-dev"
# The bindings' tests (tests/bindings): Debian's pytest and uvloop for client-lib/python.
# Debian's tokio 1.24 (sources for cargo --offline): bkclient's futures are also tested under it.
BK_DEBIAN_PACKAGES="$BK_DEBIAN_PACKAGES python3-pytest python3-uvloop librust-tokio-dev"
# brokerd's USDT probes (<sys/sdt.h>) and the live test of brokerctl top (tests/observe).
BK_DEBIAN_PACKAGES="$BK_DEBIAN_PACKAGES systemtap-sdt-dev tmux"
# --cluster (docs/CLUSTER.md): the official NATS C client for brokerd-cluster.so, and the server the tests run.
BK_DEBIAN_PACKAGES="$BK_DEBIAN_PACKAGES libnats-dev nats-server"

bk_install_deps() {
	local missing=""
	local p
	for p in $BK_DEBIAN_PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
	done
	# The Rust crates build with any cargo on PATH; without one, Debian's (rustc 1.63).
	command -v cargo >/dev/null 2>&1 || [ -x /usr/bin/cargo ] || missing="$missing cargo rustc"
	[ -z "$missing" ] && return 0
	echo "installing missing packages:$missing"
	local sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	# shellcheck disable=SC2086
	$sudo apt-get install -y -qq --no-install-recommends $missing
}

# bk_meson_dir DIR [meson options...]: configure DIR once, reconfigure after.
bk_meson_dir() {
	local dir=$1
	shift
	if [ -f "$dir/build.ninja" ]; then
		meson setup --reconfigure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi
}
