#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_spdx.py - fail when a source file of the tree has no SPDX line in
its first three lines (docs/ARCHITECTURE.md, "Code habits").
Usage: check_spdx.py SOURCE_ROOT
"""
import os
import sys

DIRS = ["broker", "client-lib", "include", "modules", "tests", "tools", ".ci"]
SUFFIXES = (".c", ".h", ".py", ".sh", ".map", ".rs")
NAMES = ("meson.build", "meson_options.txt", "test", "run", "deps.sh")


def main():
    root = sys.argv[1]
    missing, seen = [], 0
    files = [os.path.join(root, "meson.build"), os.path.join(root, "meson_options.txt")]
    for d in DIRS:
        for base, dirs, names in os.walk(os.path.join(root, d)):
            dirs[:] = [x for x in dirs if x not in ("target", "__pycache__", ".pytest_cache")]
            files += [os.path.join(base, n) for n in names if n.endswith(SUFFIXES) or n in NAMES]
    for f in sorted(files):
        if not os.path.isfile(f):
            continue
        seen += 1
        with open(f, encoding="utf-8", errors="replace") as fh:
            head = [fh.readline() for _ in range(3)]
        if not any("SPDX-License-Identifier:" in line for line in head):
            missing.append(os.path.relpath(f, root))
    for m in missing:
        print(f"{m}: no SPDX-License-Identifier line")
    print(f"check_spdx: {seen} files, {len(missing)} without an SPDX line")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
