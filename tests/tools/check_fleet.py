#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_fleet.py - run `broker-bench --fleet ...` (the command line is this
script's arguments, e.g. --fleet 2 --quick --json) and check that it ends
with status 0 and that its JSON is complete: for every fleet entry, n and
phase, the private and shared figures (threads, pss_mib, cpu_s, ctx,
p50_ms, p99_ms, p999_ms, max_ms, and the window with what others used
and the host stole during it) as numbers that can be true of the run,
and each ratio equal to shared / private (or null when private is 0)."""
import json
import math
import subprocess
import sys

TIMEOUT_S = 150
KEYS = ("threads", "pss_mib", "cpu_s", "ctx", "p50_ms", "p99_ms", "p999_ms", "max_ms")
SLEEP_MS = 1.0  # each tick waits for 1 ms sleeps: no tick can be shorter

errors = []


def bad(msg):
    errors.append(msg)


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_kind(where, k, n, kind, ticks_per_app, cpus):
    for key in KEYS + ("ticks", "late_ticks", "runs", "window_s", "other_cpu_s", "steal_s"):
        if key not in k:
            bad(f"{where}: no key {key}")
        elif not is_num(k[key]) or k[key] < 0:
            bad(f"{where}.{key} = {k[key]!r}, not a number >= 0")
    if errors:
        return
    if k["runs"] < 1:
        bad(f"{where}: no run was measured")
    # one thread per app at least, plus brokerd's for the shared kind
    if k["threads"] < n + (1 if kind == "shared" else 0):
        bad(f"{where}.threads = {k['threads']} for {n} apps")
    if k["pss_mib"] <= 0:
        bad(f"{where}.pss_mib = {k['pss_mib']}")
    if k["p50_ms"] < SLEEP_MS:
        bad(f"{where}.p50_ms = {k['p50_ms']}: shorter than the tick's {SLEEP_MS} ms sleeps")
    if not k["p50_ms"] <= k["p99_ms"] <= k["p999_ms"] <= k["max_ms"]:
        bad(f"{where}: percentiles out of order: {[k[x] for x in KEYS[4:]]}")
    if k["ticks"] != n * ticks_per_app:
        bad(f"{where}.ticks = {k['ticks']}, wanted {n} apps x {ticks_per_app}")
    if k["late_ticks"] > k["ticks"]:
        bad(f"{where}: more late ticks than ticks")
    # what others used and what the host stole are shares of the machine's time over the window
    machine_s = cpus * k["window_s"] if is_num(cpus) else -1
    for key in ("other_cpu_s", "steal_s"):
        if k[key] > machine_s:
            bad(f"{where}.{key} = {k[key]} s, more than {cpus} CPUs x the {k['window_s']} s window")


def check_ratio(where, e):
    r = e.get("ratio")
    if not isinstance(r, dict):
        bad(f"{where}: no ratio object")
        return
    for key in KEYS:
        if key not in r:
            bad(f"{where}.ratio: no key {key}")
            continue
        p, s, v = e["private"][key], e["shared"][key], r[key]
        if p > 0:
            if not is_num(v) or not math.isclose(v, s / p, rel_tol=1e-4):
                bad(f"{where}.ratio.{key} = {v!r}, wanted {s} / {p}")
        elif v is not None:
            bad(f"{where}.ratio.{key} = {v!r} with private 0: wanted null")


def main():
    cmd = sys.argv[1:]
    if not cmd:
        print("usage: check_fleet.py BROKER-BENCH --fleet N ... --json", file=sys.stderr)
        return 2
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        print(f"check_fleet: {cmd[0]} did not finish within {TIMEOUT_S} s", file=sys.stderr)
        return 1
    if p.returncode != 0:
        bad(f"{cmd[0]} ended with status {p.returncode}")
    try:
        doc = json.loads(p.stdout)
    except ValueError as e:
        print(f"check_fleet: the output is not JSON ({e}):\n{p.stdout[:400]!r}", file=sys.stderr)
        return 1
    sizes = [int(x) for x in cmd[cmd.index("--fleet") + 1].split(",")]
    phases = cmd[cmd.index("--fleet-phase") + 1].split(",") if "--fleet-phase" in cmd else ["spread"]
    want = [(n, ph) for n in sizes for ph in phases]  # fleet.c's order
    cfg = doc.get("fleet_config", {})
    if not is_num(cfg.get("seconds")) or not is_num(cfg.get("period_ms")):
        bad("fleet_config lacks seconds or period_ms")
        ticks_per_app = -1
    else:
        ticks_per_app = max(1, round(cfg["seconds"] * 1000 / cfg["period_ms"]))
    fleet = doc.get("fleet")
    got = [(e.get("n"), e.get("phase")) for e in fleet] if isinstance(fleet, list) else None
    if got != want:
        bad(f"fleet entries are for {got}, wanted {want}")
        fleet = []
    for i, e in enumerate(fleet):
        where = f"fleet[{i}]"
        for kind in ("private", "shared"):
            if not isinstance(e.get(kind), dict):
                bad(f"{where}: no {kind} object")
            else:
                check_kind(f"{where}.{kind}", e[kind], e["n"], kind, ticks_per_app, cfg.get("cpus"))
        if not errors:
            check_ratio(where, e)
    if doc.get("errors") != 0:
        bad(f"errors = {doc.get('errors')!r}")
    for m in errors:
        print(f"check_fleet: {m}", file=sys.stderr)
    if not errors:
        print(f"check_fleet: {len(fleet)} fleet entries, every key of the contract present and consistent",
              file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
