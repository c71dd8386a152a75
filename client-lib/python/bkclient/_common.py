# SPDX-License-Identifier: MIT
"""What the asyncio and the blocking client share: the error type, call
options, connection options and the argument/result placement rules."""

from __future__ import annotations

import ctypes
import dataclasses
import errno as _errno
import time
from typing import Optional, Union

from . import _lib

BytesLike = Union[bytes, bytearray, memoryview]

DEFAULT_INLINE = 256  # bk_options.inline_size 0 means this (client.h)
DEFAULT_ZERO_COPY = 4 << 20  # bk_options.zero_copy_size 0 means this


class BrokerError(OSError):
    """A failed call or connection: ``errno`` is the negative code libbkclient
    or the task returned (``-errno.ENOENT``, ``bkclient.BK_EGONE``...),
    ``strerror`` its bk_strerror() text.  ``needed`` is the result size a
    ``-ENOBUFS`` call asked for (else None)."""

    def __init__(self, code: int, detail: str = "", needed: Optional[int] = None):
        text = _lib.strerror(code)
        if detail:
            text = f"{detail}: {text}"
        super().__init__(code, text)
        self.needed = needed

    def __str__(self) -> str:
        return f"[{_lib.errno_name(self.errno)}] {self.strerror}"


class BrokerTimeoutError(BrokerError, TimeoutError):
    """A call that brokerd ended at its deadline (-ETIMEDOUT): both a
    BrokerError and a TimeoutError, as when the client's own clock ran out
    first (CallOptions.timeout is the deadline of both)."""


def check(code: int, detail: str = "") -> int:
    """Raise BrokerError for a negative code; return it otherwise."""
    if code < 0:
        raise BrokerError(code, detail)
    return code


@dataclasses.dataclass(frozen=True)
class CallOptions:
    """Per-call options.  New fields only ever get defaults, so code that
    builds a CallOptions by keyword keeps working when deadlines and
    priorities arrive.

    timeout:     seconds for the whole call (slot wait, lookup and task);
                 on expiry the broker future is cancelled and TimeoutError
                 raised.  None: no limit.  What is left of it when the call
                 is posted also goes to brokerd as the call's deadline
                 (bk_call.deadline_ns), so brokerd stops the work itself.
    priority:    the lane, PRIO_NORMAL (0, the default), PRIO_INTERACTIVE
                 or PRIO_BACKGROUND (bk_call.priority).
    result_size: bytes reserved for the result.  None: the inline buffer
                 (inline_size bytes, 256 by default); larger sizes use a
                 zero-copy buffer in the shared region.
    """

    timeout: Optional[float] = None
    result_size: Optional[int] = None
    priority: int = 0


_NO_OPTIONS = CallOptions()


PRIO_NORMAL = 0
PRIO_INTERACTIVE = 1
PRIO_BACKGROUND = 2


def deadline_ns(deadline: Optional[float]) -> int:
    """bk_call.deadline_ns for an absolute time.monotonic() deadline: 0 for none, at least 1."""
    if deadline is None:
        return 0
    return max(1, int((deadline - time.monotonic()) * 1e9))


def merge_options(opts: Optional[CallOptions], timeout: Optional[float], result_size: Optional[int]) -> CallOptions:
    """opts with the keyword arguments of call() that were given laid over it."""
    base = opts or _NO_OPTIONS
    if timeout is None and result_size is None:
        return base
    given = {k: v for k, v in (("timeout", timeout), ("result_size", result_size)) if v is not None}
    return dataclasses.replace(base, **given)


def make_options(max_inflight: int, sq_entries: int, inline_size: int, zero_copy_size: int) -> _lib.Options:
    lib = _lib.load()
    o = _lib.Options()
    lib.bk_options_init(ctypes.byref(o))
    o.max_inflight = max_inflight
    o.sq_entries = sq_entries
    o.inline_size = inline_size
    o.zero_copy_size = zero_copy_size
    return o


def connect_handle(path: Optional[str], o: _lib.Options) -> ctypes.c_void_p:
    """bk_connect_error: a blocking handshake (at most 5 s).  Raises BrokerError."""
    lib = _lib.load()
    handle = ctypes.c_void_p()
    err = ctypes.create_string_buffer(256)
    raw = None if path is None else str(path).encode()
    r = lib.bk_connect_error(raw, ctypes.byref(o), ctypes.byref(handle), err, len(err))
    if r < 0:
        raise BrokerError(r, err.value.decode("utf-8", "replace") or "connect")
    return handle


def lookup_blocking(handle: ctypes.c_void_p, name: str) -> int:
    """bk_lookup: one round trip on the control socket (at most 5 s)."""
    lib = _lib.load()
    fn = ctypes.c_uint32()
    r = lib.bk_lookup(handle, name.encode(), ctypes.byref(fn))
    if r < 0:
        raise BrokerError(r, name)
    return fn.value


def needs_blocks(n: int, inline_size: int, result_size: Optional[int]) -> bool:
    """Whether a call's argument or result goes beyond the inline buffer."""
    return n > inline_size or (result_size is not None and result_size > inline_size)


class Placement:
    """Where one call's argument and result live: inline, or zero-copy
    buffers that must be freed (free()) once the broker is done with them."""

    __slots__ = ("handle", "arg_buf", "res_buf", "res_cap", "arg_ptr", "arg_len")

    def __init__(self, handle: ctypes.c_void_p):
        self.handle = handle
        self.arg_buf: Optional[int] = None
        self.res_buf: Optional[int] = None
        self.res_cap = 0
        self.arg_ptr: object = None
        self.arg_len = 0

    def place(self, data: BytesLike, inline_size: int, result_size: Optional[int]) -> bool:
        """Allocate what the call needs; False when the zero-copy area has no
        such block now (retry after completions)."""
        lib = _lib.load()
        n = len(data)
        if result_size is not None and result_size > inline_size and self.res_buf is None:
            self.res_buf = lib.bk_buf_alloc(self.handle, result_size)
            if not self.res_buf:
                return False
            self.res_cap = result_size
        if n > inline_size and self.arg_buf is None:
            self.arg_buf = lib.bk_buf_alloc(self.handle, n)
            if not self.arg_buf:
                return False
            ctypes.memmove(self.arg_buf, bytes(data), n)
        if self.arg_buf is not None:
            self.arg_ptr = self.arg_buf
        else:
            self.arg_ptr = bytes(data) if not isinstance(data, bytes) else data
        self.arg_len = n
        return True

    def fill(self, call: _lib.Call, fn: int) -> None:
        call.fn = fn
        call.priority = 0
        call.deadline_ns = 0
        call.arg = self.arg_ptr if self.arg_len else None
        call.len = self.arg_len
        call.result = self.res_buf
        call.result_cap = self.res_cap if self.res_buf else 0

    def free(self) -> None:
        lib = _lib.load()
        if self.arg_buf is not None:
            lib.bk_buf_free(self.handle, self.arg_buf)
            self.arg_buf = None
        if self.res_buf is not None:
            lib.bk_buf_free(self.handle, self.res_buf)
            self.res_buf = None


def too_big(n: int, zero_copy_size: int) -> bool:
    """A block this large can never be allocated in the configured area."""
    return n > (zero_copy_size or DEFAULT_ZERO_COPY)


def take_result(fut: int) -> bytes:
    """bk_result of a done future: its bytes, or BrokerError with its status."""
    lib = _lib.load()
    data = ctypes.c_void_p()
    size = ctypes.c_size_t()
    st = lib.bk_result(fut, ctypes.byref(data), ctypes.byref(size))
    if st == -_errno.ENOBUFS:
        raise BrokerError(st, f"the result needs {size.value} bytes (CallOptions.result_size)", size.value)
    if st == -_errno.ETIMEDOUT:
        raise BrokerTimeoutError(st, "the call's deadline passed in brokerd")
    if st < 0:
        raise BrokerError(st)
    return ctypes.string_at(data.value, size.value) if size.value else b""
