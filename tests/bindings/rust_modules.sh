#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/bindings/rust_modules.sh OUTDIR PYTHON - the bkmodule crate's tests:
# cargo test (the layout of module.h), then the two example modules built
# as version 1 and (feature example-v2) version 2 into OUTDIR/v1 and
# OUTDIR/v2, loaded into a real brokerd by modules/rust/tests/test_loaded.py.
# Environment: as for the other cargo tests (tests/bindings/meson.build).
set -euo pipefail
out=$1
py=$2
crate="$(cd "$(dirname "$0")/../../modules/rust" && pwd)"
cargo=${CARGO:-cargo}
target=${CARGO_TARGET_DIR:?CARGO_TARGET_DIR must be set}

"$cargo" test --offline --manifest-path "$crate/Cargo.toml"
for v in v1 v2; do
	features=()
	[ "$v" = v2 ] && features=(--features example-v2)
	# One target folder per version: both stay built, and neither rebuilds the other.
	CARGO_TARGET_DIR="$target-$v" "$cargo" build --offline --manifest-path "$crate/Cargo.toml" --examples "${features[@]}"
	mkdir -p "$out/$v"
	for m in rsecho rsasync; do
		# A fresh copy (new inode) per run: brokerd dlopen()s these paths.
		rm -f "$out/$v/lib$m.so"
		cp "$target-$v/debug/examples/lib$m.so" "$out/$v/lib$m.so"
	done
done
BK_RUST_MODULES_V1="$out/v1" BK_RUST_MODULES_V2="$out/v2" \
	"$py" -m pytest -p no:cacheprovider -q "$crate/tests/test_loaded.py"
