# SPDX-License-Identifier: MIT
"""Fixtures: a real brokerd per session or per test (bkharness.Broker), and
a runner for coroutines on the default loop or uvloop."""

from __future__ import annotations

import asyncio
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bkharness import Broker  # noqa: E402


@pytest.fixture(scope="session")
def broker():
    """A brokerd shared by the tests that do not kill it."""
    b = Broker(["--workers", "2"]).start()
    yield b
    rc = b.stop()
    assert rc == 0, f"brokerd exited with {rc}:\n{b.read_log()}"


@pytest.fixture
def own_broker():
    """A brokerd of this test alone (to be killed)."""
    b = Broker(["--workers", "1"]).start()
    yield b
    b.kill()


def _uvloop_factory():
    import uvloop

    return uvloop.new_event_loop


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request):
    """run(coro, timeout=60): the coroutine's result on a fresh loop of this kind,
    failing the test when it takes longer than timeout seconds."""
    factory = None if request.param == "asyncio" else _uvloop_factory()

    def runner(coro, timeout: float = 60.0):
        async def bounded():
            return await asyncio.wait_for(coro, timeout)

        with asyncio.Runner(loop_factory=factory) as r:
            return r.run(bounded())

    runner.kind = request.param
    return runner
