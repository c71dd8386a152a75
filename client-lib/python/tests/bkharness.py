# SPDX-License-Identifier: MIT
"""A real brokerd on a socket in a temporary folder, started and stopped by
tests (like tests/common/harness.c).  The binaries come from $BK_BROKERD
and $BK_MODULE_DIR (set by meson test), else from the build folder that
holds the libbkclient bkclient loads.  Also used by modules/rust/tests."""

from __future__ import annotations

import ctypes
import os
import pathlib
import signal
import socket
import subprocess
import tempfile
import time

import bkclient

START_TIMEOUT = 10.0
STOP_TIMEOUT = 15.0


def _build_dir() -> pathlib.Path:
    return pathlib.Path(bkclient.find_library()).resolve().parents[1]


def _set_pdeathsig() -> None:
    # A test run that dies must not leave brokerd behind (PR_SET_PDEATHSIG = 1).
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


def build_dir() -> pathlib.Path:
    return _build_dir()


def brokerctl(sock: str, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
    """Run brokerctl --socket sock ARGS (from $BK_BROKERCTL or the build folder)."""
    exe = os.environ.get("BK_BROKERCTL") or str(_build_dir() / "tools" / "brokerctl" / "brokerctl")
    return subprocess.run([exe, "--socket", sock, *args], capture_output=True, text=True, timeout=timeout)


class Broker:
    """One brokerd process serving <tmp>/broker.sock."""

    def __init__(self, extra=(), env=None):
        self.dir = tempfile.mkdtemp(prefix="bk-py-")
        self.socket = os.path.join(self.dir, "broker.sock")
        self.log = os.path.join(self.dir, "brokerd.log")
        self.extra = list(extra)
        self.env = None if env is None else {**os.environ, **env}
        self.proc = None

    def start(self) -> "Broker":
        bd = _build_dir()
        brokerd = os.environ.get("BK_BROKERD") or str(bd / "broker" / "brokerd")
        mods = os.environ.get("BK_MODULE_DIR") or str(bd / "modules")
        argv = [brokerd, "--foreground", "--socket", self.socket, "--module-dir", mods] + self.extra
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log, env=self.env, preexec_fn=_set_pdeathsig)
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
