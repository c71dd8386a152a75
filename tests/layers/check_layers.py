#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_layers.py - fail when the objects of one library call each other
around a circle of more than two files (docs/ARCHITECTURE.md, "Layers of
brokerd").  Reads `nm` of every object: an undefined symbol of file A that
file B defines is an edge A -> B; any strongly connected set of more than two
files is a circle.  Usage: check_layers.py NAME OBJ_OR_ARCHIVE... (NAME labels the output).
"""
import subprocess
import sys


def symbols(path, syms):
    """Add {file: (defined, undefined)} for an object or every member of an archive."""
    out = subprocess.run(["nm", "-A", path], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        # "archive:member.o:ADDR T sym", "object.o:ADDR T sym" or "...:   U sym"
        parts = line.split()
        if len(parts) != 3:
            continue
        where, kind, sym = parts
        member = next((p for p in where.split(":") if p.endswith(".o")), where)
        member = member.rsplit("/", 1)[-1].replace(".c.o", ".c")
        defined, undefined = syms.setdefault(member, (set(), set()))
        if kind == "U":
            undefined.add(sym)
        elif kind in "TDBRC":  # global text, data, bss, read-only, common
            defined.add(sym)


def sccs(graph):
    """Tarjan's algorithm, iterative enough for a few dozen files."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    if len(sys.argv) < 3:
        print("usage: check_layers.py NAME OBJ...", file=sys.stderr)
        return 2
    label, objs = sys.argv[1], sys.argv[2:]
    syms = {}
    for o in objs:
        symbols(o, syms)
    owner = {}
    for f, (defined, _) in syms.items():
        for s in defined:
            owner[s] = f
    graph = {f: set() for f in syms}
    for f, (_, undefined) in syms.items():
        for s in undefined:
            g = owner.get(s)
            if g and g != f:
                graph[f].add(g)
    edges = sum(len(v) for v in graph.values())
    bad = [c for c in sccs(graph) if len(c) > 2]
    pairs = [c for c in sccs(graph) if len(c) == 2]
    print(f"{label}: {len(syms)} objects, {edges} calls between files")
    for c in pairs:
        print(f"{label}: mutual pair (allowed): {' <-> '.join(c)}")
    for c in bad:
        print(f"{label}: CIRCLE of {len(c)} files: {', '.join(c)}")
        for f in c:
            print(f"    {f} -> {', '.join(sorted(g for g in graph[f] if g in c))}")
    if bad:
        return 1
    print(f"{label}: no circle of more than two files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
