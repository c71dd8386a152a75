#!/bin/sh
# SPDX-License-Identifier: MIT
# check_exports.sh LIB HEADER - the dynamic symbols libbkclient defines are
# exactly the functions declared in client.h: nothing internal leaks, nothing
# declared is missing.
set -eu
lib=$1
hdr=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Declarations start in column 0 (comments start with " *"); take the name before "(".
grep -E '^[a-z].*\bbk_[a-z_0-9]+\(' "$hdr" | grep -oE '\bbk_[a-z_0-9]+\(' | tr -d '(' | sort -u >"$tmp/want"
# Defined dynamic symbols, minus the version node (absolute symbol), without @VERSION.
nm -D --defined-only "$lib" | awk '$2 != "A" {print $3}' | sed 's/@.*//' | sort -u >"$tmp/have"
if [ "$(wc -l <"$tmp/want")" -lt 15 ]; then
	echo "parsed only $(wc -l <"$tmp/want") declarations from $hdr" >&2
	exit 1
fi
if ! diff -u "$tmp/want" "$tmp/have"; then
	echo "exported symbols differ from client.h (- declared only, + exported only)" >&2
	exit 1
fi
echo "$(wc -l <"$tmp/have") exported symbols, all bk_ API of client.h"
[ "${3:-none}" != none ] && exit 0 # sanitizer runtimes are NEEDED under -Db_sanitize
# Needs only libc.
needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
echo "NEEDED: $needed"
for n in $needed; do
	case $n in
	libc.so.*) ;;
	*) echo "unexpected NEEDED entry $n" >&2; exit 1 ;;
	esac
done
