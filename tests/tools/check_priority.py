#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_priority.py - run `broker-bench --priority ...` (this script's
arguments, e.g. --quick --json) and check its JSON: three phases (alone,
beside a background flood, beside a normal flood) with ordered, positive
percentiles, a flood that progressed in the two flood phases, and each
p99_ratio equal to the phase's p99 over the alone phase's.  Figures are
the bench's to report; only their consistency is checked here."""
import json
import math
import subprocess
import sys

PHASES = ("alone", "beside-background-flood", "beside-normal-flood")


def main():
    p = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=150)
    if p.returncode != 0:
        print(p.stdout, p.stderr, sep="\n")
        print(f"broker-bench exited {p.returncode}")
        return 1
    doc = json.loads(p.stdout)
    got = doc["priority"]
    errors = []
    if [e["phase"] for e in got] != list(PHASES):
        errors.append(f"phases {[e['phase'] for e in got]}")
    alone = got[0]["p99_us"]
    for e in got:
        vals = [e["p50_us"], e["p99_us"], e["p999_us"]]
        if not all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in vals):
            errors.append(f"{e['phase']}: percentiles {vals}")
        elif not vals[0] <= vals[1] <= vals[2]:
            errors.append(f"{e['phase']}: percentiles out of order {vals}")
        if abs(e["p99_ratio"] - e["p99_us"] / alone) > 0.01 * e["p99_ratio"] + 0.002:
            errors.append(f"{e['phase']}: ratio {e['p99_ratio']} != {e['p99_us']} / {alone}")
        flooded = e["phase"] != "alone"
        if (e["flood_tps"] > 0) != flooded:
            errors.append(f"{e['phase']}: flood rate {e['flood_tps']}")
    for m in errors:
        print(m)
    print(json.dumps(doc, indent=1))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
