#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_sizes.py - fail when a C file is over MAX_FILE lines or one of its
functions over MAX_FN lines (docs/ARCHITECTURE.md, "Code habits").  A
function is a line at column 0 that opens with "{" after a declarator and
runs to the next "}" at column 0 (the style of this tree, which
.clang-format keeps).  Usage: check_sizes.py FILE_OR_DIR...
"""
import os
import sys

MAX_FILE = 600
MAX_FN = 100
WARN_FN = 80


def c_files(paths):
    for p in paths:
        if os.path.isdir(p):
            for root, _, names in os.walk(p):
                for n in sorted(names):
                    if n.endswith((".c", ".h")):
                        yield os.path.join(root, n)
        else:
            yield p


def functions(lines):
    """(name, first line, length) of every function body in lines."""
    start = None
    for i, line in enumerate(lines):
        if line.startswith("{") and i > 0 and start is None:
            k = i - 1  # back to the declarator line that holds the name and "("
            while k > 0 and "(" not in lines[k]:
                k -= 1
            words = lines[k].split("(")[0].split()
            start = (words[-1].lstrip("*") if words else "?", k + 1)
        elif line.startswith("}") and start is not None:
            yield start[0], start[1], i + 1 - start[1] + 1
            start = None


def main():
    bad = 0
    warned = 0
    files = list(c_files(sys.argv[1:]))
    for f in files:
        with open(f, encoding="utf-8") as fh:
            lines = fh.read().split("\n")
        n = len(lines) - 1 if lines and lines[-1] == "" else len(lines)
        if n > MAX_FILE:
            print(f"{f}: {n} lines (at most {MAX_FILE})")
            bad += 1
        for name, first, length in functions(lines):
            if length > MAX_FN:
                print(f"{f}:{first}: function {name} is {length} lines (at most {MAX_FN})")
                bad += 1
            elif length > WARN_FN:
                print(f"{f}:{first}: note: function {name} is {length} lines (aim for {WARN_FN})")
                warned += 1
    print(f"check_sizes: {len(files)} files, {bad} over the limits, {warned} functions over {WARN_FN} lines")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
