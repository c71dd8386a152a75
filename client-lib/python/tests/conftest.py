# SPDX-License-Identifier: MIT
"""Fixtures: a real brokerd on a socket in a temporary folder, started and
stopped by the tests (like tests/common/harness.c), and a runner for
coroutines on the default loop or uvloop.

The binaries come from $BK_BROKERD and $BK_MODULE_DIR (set by meson test),
else from the build folder that holds the libbkclient bkclient loads."""

from __future__ import annotations

import asyncio
import ctypes
import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import bkclient  # noqa: E402

START_TIMEOUT = 10.0
STOP_TIMEOUT = 15.0


def _build_dir() -> pathlib.Path:
    return pathlib.Path(bkclient.find_library()).resolve().parents[1]


def _set_pdeathsig() -> None:
    # A test run that dies must not leave brokerd behind (PR_SET_PDEATHSIG = 1).
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


class Broker:
    """One brokerd process serving <tmp>/broker.sock."""

    def __init__(self, extra=()):
        self.dir = tempfile.mkdtemp(prefix="bk-py-")
        self.socket = os.path.join(self.dir, "broker.sock")
        self.log = os.path.join(self.dir, "brokerd.log")
        self.extra = list(extra)
        self.proc = None

    def start(self) -> "Broker":
        bd = _build_dir()
        brokerd = os.environ.get("BK_BROKERD") or str(bd / "broker" / "brokerd")
        mods = os.environ.get("BK_MODULE_DIR") or str(bd / "modules")
        argv = [brokerd, "--foreground", "--socket", self.socket, "--module-dir", mods] + self.extra
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log, preexec_fn=_set_pdeathsig)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"brokerd exited during start-up:\n{self.read_log()}")
            if self._can_connect():
                return self
            time.sleep(0.002)  # polling a condition under a deadline, as harness.c does
        self.kill()
        raise RuntimeError(f"brokerd did not accept connections within {START_TIMEOUT} s:\n{self.read_log()}")

    def _can_connect(self) -> bool:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            s.connect(self.socket)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def read_log(self) -> str:
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(f"brokerd ignored SIGTERM for {STOP_TIMEOUT} s:\n{self.read_log()}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


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
