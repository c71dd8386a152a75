#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_ring_bench.py - smoke test of tools/ring-bench: `--quick --json`
must exit 0 and print one JSON object with every documented key, with
plausible values; `--help` must work and a bad flag must be refused."""
import json
import subprocess
import sys

KEYS = {
    "cpus": int, "quick": bool, "runs": int,
    "pingpong_rtt_ns": float, "ring_spin_rtt_ns": float, "ring_sleep_rtt_ns": float,
    "single_mops": float, "batch32_mops": float, "batch32_best_mops": float,
    "spin_rtt_ratio": float, "sleep_rtt_ratio": float, "batch_vs_single": float,
    "goal_batch_50mops": bool, "goal_spin_rtt_2x": bool,
}


def main():
    exe = sys.argv[1]
    out = subprocess.run([exe, "--quick", "--json"], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        sys.exit(f"ring-bench --quick --json exited {out.returncode}: {out.stderr}")
    data = json.loads(out.stdout)
    for key, typ in KEYS.items():
        if key not in data:
            sys.exit(f"missing key {key} in {out.stdout}")
        val = data[key]
        if typ is float:
            if isinstance(val, bool) or not isinstance(val, (int, float)) or not val > 0:
                sys.exit(f"{key} = {val!r} is not a positive number")
        elif not isinstance(val, typ) or (typ is int and isinstance(val, bool)):
            sys.exit(f"{key} = {val!r} is not a {typ.__name__}")
    if data["quick"] is not True:
        sys.exit("quick should be true")
    extra = set(data) - set(KEYS)
    if extra:
        sys.exit(f"undocumented keys {sorted(extra)}")
    h = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=10)
    if h.returncode != 0 or "usage: ring-bench" not in h.stdout:
        sys.exit("--help does not print the usage")
    bad = subprocess.run([exe, "--no-such-flag"], capture_output=True, text=True, timeout=10)
    if bad.returncode == 0:
        sys.exit("an unknown flag was accepted")
    print(json.dumps(data, indent=1))


main()
