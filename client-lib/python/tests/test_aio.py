# SPDX-License-Identifier: MIT
"""The asyncio client against a real brokerd, on the default loop and on uvloop:
every built-in, 10,000 concurrent calls under back-pressure, cancellation,
timeouts, a loop that keeps running, and the death of the broker."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import time

import pytest

import bkclient


async def _each_builtin(path: str, tmp_path) -> None:
    async with await bkclient.connect(path) as c:
        assert await c.call("echo.noop", b"ignored") == b""
        blob = bytes(range(256))
        assert await c.call("echo.echo", blob) == blob
        assert await c.call("echo.upper", b"hi, World 1!") == b"HI, WORLD 1!"
        assert await c.call("hash.sha256", b"abc") == hashlib.sha256(b"abc").digest()
        assert await c.call("timer.sleep", b"5") == b""
        f = tmp_path / "data.txt"
        f.write_bytes(b"0123456789")
        assert await c.call("file.read", b"2 5 " + str(f).encode()) == b"23456"
        with pytest.raises(bkclient.BrokerError) as e:
            await c.call("file.read", b"0 10 " + str(tmp_path / "missing").encode())
        assert e.value.errno == -errno.ENOENT
        with pytest.raises(bkclient.BrokerError) as e:
            await c.call("timer.sleep", b"soon")
        assert e.value.errno == -errno.EINVAL
        with pytest.raises(bkclient.BrokerError) as e:
            await c.call("echo.nosuch", b"")
        assert e.value.errno == -errno.ENOENT and "echo.nosuch" in str(e.value)


def test_every_builtin(broker, run, tmp_path):
    run(_each_builtin(broker.socket, tmp_path))


async def _large(path: str) -> None:
    async with await bkclient.connect(path) as c:
        big = os.urandom(100_000)
        # Argument and result beyond the 256-byte inline buffer go through zero-copy blocks.
        assert await c.call("echo.echo", big, result_size=len(big)) == big
        assert await c.call("hash.sha256", big) == hashlib.sha256(big).digest()
        with pytest.raises(bkclient.BrokerError) as e:
            await c.call("echo.echo", b"x" * 1000)
        assert e.value.errno == -errno.ENOBUFS and e.value.needed == 1000
        opts = bkclient.CallOptions(result_size=2000)
        assert await c.call_with("echo.upper", b"y" * 1000, opts) == b"Y" * 1000
        with pytest.raises(bkclient.BrokerError) as e:
            await c.call("echo.echo", b"z" * (8 << 20))  # beyond the 4 MiB area
        assert e.value.errno == -errno.EMSGSIZE


def test_zero_copy_arguments_and_results(broker, run):
    run(_large(broker.socket))


async def _many(path: str, n: int, max_inflight: int) -> None:
    async with await bkclient.connect(path, max_inflight=max_inflight) as c:
        await c.lookup("echo.echo")
        tasks = [asyncio.ensure_future(c.call("echo.echo", b"%d" % i)) for i in range(n)]
        await asyncio.sleep(0)  # one loop turn: every task has posted or queued its call
        assert c.inflight <= max_inflight
        assert c.queued > 0  # more calls than slots: back-pressure, not EAGAIN
        results = await asyncio.gather(*tasks)
        assert results == [b"%d" % i for i in range(n)]
        assert c.inflight == 0 and c.queued == 0


def test_10000_concurrent_calls(broker, run):
    run(_many(broker.socket, 10_000, 256))


async def _wait_until(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


async def _cancel(path: str) -> None:
    slots = 8
    async with await bkclient.connect(path, max_inflight=slots) as c:
        await c.lookup("timer.sleep")
        sleepers = [asyncio.ensure_future(c.call("timer.sleep", b"60000")) for _ in range(slots + 4)]
        await asyncio.sleep(0)
        assert c.inflight == slots and c.queued == 4
        for t in sleepers:
            t.cancel()
        done = await asyncio.gather(*sleepers, return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in done)
        # The broker cancelled the 60 s sleeps: their slots come back now, not in a minute.
        await _wait_until(lambda: c.inflight == 0)
        echoes = await asyncio.wait_for(asyncio.gather(*(c.call("echo.echo", b"%d" % i) for i in range(slots))), 10)
        assert echoes == [b"%d" % i for i in range(slots)]


def test_cancel_cancels_the_broker_future(broker, run):
    run(_cancel(broker.socket), timeout=30)


async def _timeouts(path: str) -> None:
    async with await bkclient.connect(path) as c:
        with pytest.raises(asyncio.TimeoutError):
            await c.call("timer.sleep", b"60000", timeout=0.05)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(c.call("timer.sleep", b"60000"), 0.05)
        await _wait_until(lambda: c.inflight == 0)
        assert await c.call("timer.sleep", b"1", bkclient.CallOptions(timeout=10.0)) == b""


def test_timeouts_cancel(broker, run):
    run(_timeouts(broker.socket), timeout=30)


async def _loop_runs(path: str) -> None:
    async with await bkclient.connect(path) as c:
        slow = asyncio.ensure_future(c.call("timer.sleep", b"30000"))
        # If a call blocked the loop, these could not run before the 30 s sleep ended.
        for i in range(20):
            assert await c.call("echo.echo", b"%d" % i) == b"%d" % i
        assert not slow.done()
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow


def test_loop_never_blocks(broker, run):
    run(_loop_runs(broker.socket), timeout=20)


async def _death(b) -> None:
    c = await bkclient.connect(b.socket, max_inflight=16)
    await c.lookup("timer.sleep")
    pending = [asyncio.ensure_future(c.call("timer.sleep", b"60000")) for _ in range(40)]
    await asyncio.sleep(0)
    assert c.inflight == 16 and c.queued == 24
    t0 = time.monotonic()
    b.proc.kill()
    results = await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), 5)
    elapsed = time.monotonic() - t0
    assert all(isinstance(r, bkclient.BrokerError) and r.errno == bkclient.BK_EGONE for r in results), results
    assert elapsed < 2.0, f"pending calls learned of the death after {elapsed:.2f} s"
    with pytest.raises(bkclient.BrokerError) as e:
        await c.call("echo.echo", b"late")
    assert e.value.errno == bkclient.BK_EGONE
    await c.close()


def test_broker_death_fails_pending_calls(own_broker, run):
    run(_death(own_broker), timeout=30)


def test_connect_failure(tmp_path, run):
    async def go():
        with pytest.raises(bkclient.BrokerError) as e:
            await bkclient.connect(str(tmp_path / "no.sock"))
        assert e.value.errno in (-errno.ENOENT, -errno.ECONNREFUSED)

    run(go())


def test_uvloop_is_used(run):
    async def loop_type():
        return type(asyncio.get_running_loop()).__module__

    kind = run(loop_type())
    assert kind.startswith("uvloop") == (run.kind == "uvloop")


def test_priorities_and_deadlines(broker, run):
    async def main():
        async with await bkclient.connect(broker.socket) as c:
            for prio in (bkclient.PRIO_NORMAL, bkclient.PRIO_INTERACTIVE, bkclient.PRIO_BACKGROUND):
                opts = bkclient.CallOptions(priority=prio, timeout=10)
                assert await c.call_with("echo.upper", b"lane", opts) == b"LANE"
            with pytest.raises(bkclient.BrokerError) as e:
                await c.call_with("echo.noop", b"", bkclient.CallOptions(priority=7))
            assert e.value.errno == -errno.EINVAL

    run(main())
