# SPDX-License-Identifier: MIT
"""The blocking client: built-ins, threads sharing one client under
back-pressure, timeouts that cancel, and the death of the broker."""

from __future__ import annotations

import concurrent.futures
import errno
import hashlib
import os
import threading
import time

import pytest

import bkclient


def test_sync_builtins(broker, tmp_path):
    with bkclient.Client(broker.socket) as c:
        assert c.call("echo.noop") == b""
        assert c.call("echo.echo", b"\0abc\xff") == b"\0abc\xff"
        assert c.call("echo.upper", bytearray(b"abc")) == b"ABC"
        assert c.call("hash.sha256", memoryview(b"abc")) == hashlib.sha256(b"abc").digest()
        assert c.call("timer.sleep", b"2", timeout=10) == b""
        f = tmp_path / "f"
        f.write_bytes(b"hello file")
        assert c.call("file.read", b"0 100 " + str(f).encode()) == b"hello file"
        big = os.urandom(50_000)
        assert c.call("echo.echo", big, result_size=len(big)) == big
        with pytest.raises(bkclient.BrokerError) as e:
            c.call("echo.echo", b"x" * 300)
        assert e.value.errno == -errno.ENOBUFS and e.value.needed == 300
        with pytest.raises(bkclient.BrokerError) as e:
            c.call("nosuch.fn")
        assert e.value.errno == -errno.ENOENT


def test_sync_threads_share_a_client(broker):
    with bkclient.Client(broker.socket, max_inflight=4) as c:
        def work(t):
            for i in range(300):
                msg = b"%d-%d" % (t, i)
                assert c.call("echo.echo", msg, timeout=30) == msg
            return t

        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            assert sorted(ex.map(work, range(16))) == list(range(16))


def test_sync_timeout_cancels(broker):
    with bkclient.Client(broker.socket, max_inflight=2) as c:
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            c.call("timer.sleep", b"60000", timeout=0.05)
        with pytest.raises(TimeoutError):
            c.call("echo.echo", b"a" * 1000, timeout=0.0, result_size=2000)
        # Both slots are usable again at once: the sleeps were cancelled, not left running.
        for _ in range(2):
            with pytest.raises(TimeoutError):
                c.call("timer.sleep", b"60000", timeout=0.05)
        assert c.call("echo.echo", b"ok", timeout=10) == b"ok"
        assert time.monotonic() - t0 < 10


def test_sync_broker_death(own_broker):
    c = bkclient.Client(own_broker.socket)
    c.lookup("timer.sleep")
    errors = []

    def sleeper():
        try:
            c.call("timer.sleep", b"60000", timeout=30)
        except bkclient.BrokerError as e:
            errors.append((e.errno, time.monotonic()))

    threads = [threading.Thread(target=sleeper) for _ in range(4)]
    for t in threads:
        t.start()
    # The calls are pending once the broker counts them in flight; a kill before
    # that still fails them with BK_EGONE, so the test does not depend on it.
    own_broker.proc.kill()
    t0 = time.monotonic()
    for t in threads:
        t.join(10)
        assert not t.is_alive(), "a call outlived its broker by 10 s"
    assert [e for e, _ in errors] == [bkclient.BK_EGONE] * 4
    assert max(when for _, when in errors) - t0 < 2.0
    with pytest.raises(bkclient.BrokerError) as e:
        c.call("echo.echo", b"x")
    assert e.value.errno == bkclient.BK_EGONE
    c.close()


def test_sync_priorities_and_deadlines(broker):
    with bkclient.Client(broker.socket) as c:
        for prio in (bkclient.PRIO_NORMAL, bkclient.PRIO_INTERACTIVE, bkclient.PRIO_BACKGROUND):
            opts = bkclient.CallOptions(priority=prio, timeout=10)
            assert c.call_with("echo.upper", b"lane", opts) == b"LANE"
        with pytest.raises(bkclient.BrokerError) as e:
            c.call_with("echo.noop", b"", bkclient.CallOptions(priority=7))
        assert e.value.errno == -errno.EINVAL
