# SPDX-License-Identifier: MIT
"""The example Rust modules (rsecho: sync, rsasync: async) loaded into a real
brokerd and called through libbkclient (the Python binding): every function,
panics that fail only their task, thousands of concurrent async tasks,
cancellation of an awaited timer, and an upgrade to version 2 and an unload
while calls keep running, with no call lost.

$BK_RUST_MODULES_V1 and $BK_RUST_MODULES_V2 are folders holding
librsecho.so and librsasync.so of each version (tests/bindings/rust_modules.sh)."""

from __future__ import annotations

import asyncio
import errno
import os
import pathlib
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "client-lib" / "python"))
sys.path.insert(0, str(ROOT / "client-lib" / "python" / "tests"))
import bkclient  # noqa: E402
from bkharness import Broker, brokerctl  # noqa: E402

V1 = pathlib.Path(os.environ.get("BK_RUST_MODULES_V1", "/nonexistent"))
V2 = pathlib.Path(os.environ.get("BK_RUST_MODULES_V2", "/nonexistent"))
ENOTRECOVERABLE = 131


@pytest.fixture
def rbroker():
    for d in (V1, V2):
        for m in ("librsecho.so", "librsasync.so"):
            assert (d / m).is_file(), f"{d / m} missing: run through tests/bindings/rust_modules.sh"
    # Panics print one line: symbolising a backtrace of these debug builds would hold
    # the worker for a noticeable time, which is not what these tests are about.
    b = Broker(["--workers", "2", "--module", str(V1 / "librsecho.so"), "--module", str(V1 / "librsasync.so")],
               env={"RUST_BACKTRACE": "0"})
    b.start()
    yield b
    rc = b.stop()
    assert rc == 0, f"brokerd exited with {rc}:\n{b.read_log()}"


def test_every_function(rbroker, tmp_path):
    f = tmp_path / "data"
    f.write_bytes(b"rust module read this\n")
    with bkclient.Client(rbroker.socket) as c:
        assert c.call("rsecho.reverse", b"abc", timeout=10) == b"cba"
        assert c.call("rsecho.sum", b"1 2 39", timeout=10) == b"42"
        assert c.call("rsecho.version", timeout=10) == b"1"
        assert c.call("rsasync.sleep", b"5", timeout=10) == b""
        assert c.call("rsasync.sleep_read", b"3 " + str(f).encode(), timeout=10) == f.read_bytes()
        assert c.call("rsasync.count", b"banana", timeout=10) == b"3"
        assert c.call("rsasync.version", timeout=10) == b"1"
        for name, arg, code in [
            ("rsecho.sum", b"1 x", -errno.EINVAL),
            ("rsasync.sleep", b"soon", -errno.EINVAL),
            ("rsasync.sleep_read", b"1 " + str(tmp_path / "missing").encode(), -errno.ENOENT),
            ("rsecho.panic", b"", -ENOTRECOVERABLE),
            ("rsasync.panic", b"", -ENOTRECOVERABLE),
        ]:
            with pytest.raises(bkclient.BrokerError) as e:
                c.call(name, arg, timeout=10)
            assert e.value.errno == code, (name, e.value)
        # Panics failed their task only: the module and brokerd go on.
        assert c.call("rsecho.reverse", b"xy", timeout=10) == b"yx"
    log = rbroker.read_log()
    assert "rsecho: handler panicked: rsecho.panic was asked to panic" in log
    assert "rsasync: async handler panicked" in log


async def _many_async(sock: str) -> None:
    async with await bkclient.connect(sock) as c:
        outs = await asyncio.gather(*(c.call("rsasync.sleep", b"20") for _ in range(3000)))
        assert outs == [b""] * 3000
        slow = asyncio.ensure_future(c.call("rsasync.sleep", b"60000"))
        await asyncio.sleep(0.05)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        deadline = time.monotonic() + 10
        while c.inflight:  # the cancelled timer completes the task (-ECANCELED) at once
            assert time.monotonic() < deadline, "a cancelled rsasync.sleep still runs after 10 s"
            await asyncio.sleep(0.005)


def test_async_tasks_concurrent_and_cancelled(rbroker):
    asyncio.run(asyncio.wait_for(_many_async(rbroker.socket), 60))


async def _load_in_executor(sock: str, *args: str):
    r = await asyncio.get_running_loop().run_in_executor(None, lambda: brokerctl(sock, *args))
    assert r.returncode == 0, f"brokerctl {' '.join(args)}: {r.stdout}{r.stderr}"
    return r.stdout


async def _upgrade_under_load(sock: str, tmp_path: pathlib.Path) -> None:
    data = tmp_path / "f"
    data.write_bytes(b"x" * 100)
    read_arg = b"1 " + str(data).encode()
    async with await bkclient.connect(sock, max_inflight=128) as c:
        seen = {"rsecho.version": set(), "rsasync.version": set()}
        done = {"n": 0}
        stop = asyncio.Event()

        async def load_worker():
            while not stop.is_set():
                for name in seen:
                    seen[name].add(await c.call(name, timeout=30))
                assert await c.call("rsasync.sleep_read", read_arg, timeout=30) == b"x" * 100
                done["n"] += 3

        # Long sleeps started on version 1 must finish on it across the upgrade and the unload.
        long_v1 = [asyncio.ensure_future(c.call("rsasync.sleep", b"300", timeout=30)) for _ in range(20)]
        workers = [asyncio.ensure_future(load_worker()) for _ in range(32)]
        await asyncio.sleep(0.2)
        await _load_in_executor(sock, "load", str(V2 / "librsecho.so"))
        await _load_in_executor(sock, "load", str(V2 / "librsasync.so"))
        deadline = time.monotonic() + 20
        while not all(b"2" in s for s in seen.values()):
            assert time.monotonic() < deadline, f"version 2 not seen after the upgrade: {seen}"
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        stop.set()
        await asyncio.gather(*workers)  # any failed call raises here: none may be lost
        assert await asyncio.gather(*long_v1) == [b""] * 20
        assert done["n"] > 0
        assert seen["rsasync.version"] == {b"1", b"2"} and seen["rsecho.version"] == {b"1", b"2"}

        # Unload under load: calls in flight finish, later ones get -ENOENT.
        long_v2 = [asyncio.ensure_future(c.call("rsasync.sleep", b"300", timeout=30)) for _ in range(20)]
        await asyncio.sleep(0.05)
        await _load_in_executor(sock, "unload", "rsasync")
        assert await asyncio.gather(*long_v2) == [b""] * 20
        with pytest.raises(bkclient.BrokerError) as e:
            await c.call("rsasync.version", timeout=10)
        assert e.value.errno == -errno.ENOENT
        assert await c.call("rsecho.version", timeout=10) == b"2"
    deadline = time.monotonic() + 20
    while "rsasync" in (await _load_in_executor(sock, "modules")):
        assert time.monotonic() < deadline, "rsasync was not unloaded after its tasks drained"
        await asyncio.sleep(0.05)


def test_upgrade_and_unload_under_load(rbroker, tmp_path):
    asyncio.run(asyncio.wait_for(_upgrade_under_load(rbroker.socket, tmp_path), 90))
