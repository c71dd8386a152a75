#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bindings_bench.py SOCKET [SAMPLES] [TASKS]: round trip and throughput of
the Python binding.  Prints lines like tools/bench/bindings.sh expects:
  python-asyncio rtt P50_NS P99_NS SAMPLES   (one `await c.call()` in flight)
  python-asyncio tput TASKS_PER_S TASKS      (asyncio.gather of TASKS calls, 1024 slots)
  python-uvloop  ... (the same on uvloop, when it is installed)
  python-sync    rtt P50_NS P99_NS SAMPLES   (Client.call, blocking)"""

import asyncio
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "client-lib" / "python"))
import bkclient  # noqa: E402


def pct(lat, p):
    lat = sorted(lat)
    return lat[min(len(lat) - 1, len(lat) * p // 100)]


async def run_async(label, sock, samples, tasks):
    c = await bkclient.connect(sock, max_inflight=1024)
    for _ in range(1000):
        await c.call("echo.noop")
    lat = []
    for _ in range(samples):
        t = time.perf_counter_ns()
        await c.call("echo.noop")
        lat.append(time.perf_counter_ns() - t)
    print(f"{label} rtt {pct(lat, 50)} {pct(lat, 99)} {samples}", flush=True)
    t = time.perf_counter()
    await asyncio.gather(*(c.call("echo.noop") for _ in range(tasks)))
    print(f"{label} tput {tasks / (time.perf_counter() - t):.0f} {tasks}", flush=True)
    await c.close()


def run_sync(sock, samples):
    with bkclient.Client(sock) as c:
        for _ in range(1000):
            c.call("echo.noop")
        lat = []
        for _ in range(samples):
            t = time.perf_counter_ns()
            c.call("echo.noop")
            lat.append(time.perf_counter_ns() - t)
    print(f"python-sync rtt {pct(lat, 50)} {pct(lat, 99)} {samples}", flush=True)


def main():
    sock = sys.argv[1]
    samples = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    tasks = int(sys.argv[3]) if len(sys.argv) > 3 else 100000
    asyncio.run(run_async("python-asyncio", sock, samples, tasks))
    try:
        import uvloop
    except ImportError:
        uvloop = None
    if uvloop is not None:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
            r.run(run_async("python-uvloop", sock, samples, tasks))
    run_sync(sock, samples)


if __name__ == "__main__":
    main()
