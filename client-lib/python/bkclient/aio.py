# SPDX-License-Identifier: MIT
"""The asyncio client: ``c = await bkclient.connect()``, ``await c.call(...)``.

The loop never blocks on the broker: bk_fd() is watched with add_reader and
bk_dispatch() runs the completion callbacks that resolve the asyncio
futures.  bk_connect and bk_lookup are socket round trips of up to 5 s, so
they run in the loop's default executor.  When every slot is in flight a
call waits in a FIFO for one (back-pressure) instead of failing with EAGAIN;
the queue is drained after each dispatch, when completions free slots.
Cancelling the awaiting task releases the broker future (bk_release cancels
it in the broker and frees its slot once the broker completes it).

An AsyncClient belongs to the loop it was connected on; use it from that
loop's thread only.
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import errno as _errno
import itertools
import time
from typing import Deque, Dict, List, Optional

from . import _lib
from ._common import (
    DEFAULT_INLINE,
    BrokerError,
    BytesLike,
    CallOptions,
    Placement,
    connect_handle,
    lookup_blocking,
    make_options,
    deadline_ns,
    merge_options,
    needs_blocks,
    take_result,
    too_big,
)

_BATCH = 64  # bk_submit_batch posts at most 64 calls per publication


class _Pending:
    """One call between submission and its completion callback."""

    __slots__ = ("afut", "fn", "data", "result_size", "place", "bkf", "key", "abandoned", "priority", "deadline")

    def __init__(self, afut: asyncio.Future, fn: int, data: BytesLike, result_size: Optional[int],
                 place: Optional[Placement]):
        self.afut = afut
        self.fn = fn
        self.data = data
        self.result_size = result_size
        self.place = place
        self.bkf: Optional[int] = None  # the bk_future once posted
        self.key = 0  # its user_data and the index in AsyncClient._inflight
        self.abandoned = False  # the caller gave up; only the slot and buffers remain to reclaim
        self.priority = 0  # bk_call.priority
        self.deadline: Optional[float] = None  # time.monotonic() deadline, sent as bk_call.deadline_ns


class AsyncClient:
    """A connection to brokerd driven by an asyncio event loop."""

    def __init__(self, handle: ctypes.c_void_p, loop: asyncio.AbstractEventLoop, inline_size: int,
                 zero_copy_size: int):
        self._lib = _lib.load()
        self._h = handle
        self._loop = loop
        self._inline = inline_size or DEFAULT_INLINE
        self._zc_size = zero_copy_size
        self._fns: Dict[str, int] = {}
        self._lookups: Dict[str, asyncio.Future] = {}
        self._inflight: Dict[int, _Pending] = {}
        self._waiting: Deque[_Pending] = collections.deque()
        self._cancel_retry: List[_Pending] = []  # abandoned calls whose bk_cancel met a full ring
        self._keys = itertools.count(1)
        self._gone = False
        self._closed = False
        self._cb = _lib.COMPLETE_CB(self._on_complete)  # kept alive as long as the client
        self._call = _lib.Call()  # reused by every submission (one loop thread)
        self._call.cb = self._cb
        self._call_ref = ctypes.byref(self._call)
        self._out = (ctypes.c_void_p * 1)()
        self._fd = self._lib.bk_fd(handle)
        if self._fd < 0:
            raise BrokerError(self._fd, "bk_fd")
        loop.add_reader(self._fd, self._on_readable)

    # ---- public API -------------------------------------------------------------

    async def lookup(self, name: str) -> int:
        """The function id of "module.function" (cached; the round trip runs in the executor)."""
        fn = self._fns.get(name)
        if fn is not None:
            return fn
        self._check_open()
        pending = self._lookups.get(name)
        if pending is None:
            pending = self._loop.run_in_executor(None, lookup_blocking, self._h, name)
            self._lookups[name] = pending
            try:
                fn = await asyncio.shield(pending)
            finally:
                self._lookups.pop(name, None)
            self._fns[name] = fn
            return fn
        return await asyncio.shield(pending)

    async def call(self, name: str, data: BytesLike = b"", opts: Optional[CallOptions] = None, *,
                   timeout: Optional[float] = None, result_size: Optional[int] = None) -> bytes:
        """Run name(data) in brokerd and return its result bytes.

        Raises BrokerError (``.errno`` < 0) for a task status or a library
        error, TimeoutError when ``timeout`` (seconds) passed first.  Keyword
        arguments override the fields of ``opts``.
        """
        o = merge_options(opts, timeout=timeout, result_size=result_size)
        if o.timeout is None:
            return await self._call_now(name, data, o.result_size, o.priority, None)
        deadline = time.monotonic() + o.timeout
        try:
            return await asyncio.wait_for(self._call_now(name, data, o.result_size, o.priority, deadline), o.timeout)
        except asyncio.TimeoutError:  # the builtin TimeoutError from 3.11 on; one type before too
            raise TimeoutError("bkclient call timed out") from None

    async def call_with(self, name: str, data: BytesLike, opts: CallOptions) -> bytes:
        """call() with an options object (the form later options extend)."""
        return await self.call(name, data, opts)

    @property
    def inflight(self) -> int:
        """Calls posted to the broker and not completed yet."""
        return len(self._inflight)

    @property
    def queued(self) -> int:
        """Calls waiting for a free slot (back-pressure)."""
        return len(self._waiting)

    async def close(self) -> None:
        """Cancel what is pending and disconnect (bk_disconnect)."""
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._fd)
        self._fail_all(BrokerError(-_errno.ECANCELED, "client closed"))
        # Lookups in the executor use the handle: disconnect only after they return.
        if self._lookups:
            await asyncio.gather(*self._lookups.values(), return_exceptions=True)
        self._lib.bk_disconnect(self._h)
        self._h = None

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    # ---- submission ---------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise BrokerError(-_errno.EBADF, "client closed")
        if self._gone:
            raise BrokerError(_lib.BK_EGONE)

    async def _call_now(self, name: str, data: BytesLike, result_size: Optional[int], priority: int = 0,
                        deadline: Optional[float] = None) -> bytes:
        fn = self._fns.get(name)
        if fn is None:
            fn = await self.lookup(name)
        self._check_open()
        if too_big(len(data), self._zc_size) or (result_size and too_big(result_size, self._zc_size)):
            raise BrokerError(-_errno.EMSGSIZE, "larger than the zero-copy area")
        place = Placement(self._h) if needs_blocks(len(data), self._inline, result_size) else None
        p = _Pending(self._loop.create_future(), fn, data, result_size, place)
        p.priority = priority
        p.deadline = deadline
        while self._waiting and self._waiting[0].afut.done():
            self._waiting.popleft()  # cancelled while queued
        # FIFO: while others wait for a slot, a new call queues behind them.
        if self._waiting or not self._post(p):
            self._waiting.append(p)
        try:
            return await p.afut
        except asyncio.CancelledError:
            self._abandon(p)
            raise

    def _post(self, p: _Pending) -> bool:
        """Try to post p; False when no slot or zero-copy block is free now."""
        k = self._call
        if p.place is None:
            k.fn = p.fn
            k.arg = p.data if type(p.data) is bytes else bytes(p.data)
            k.len = len(p.data)
            k.result = None
            k.result_cap = 0
        elif not p.place.place(p.data, self._inline, p.result_size):
            if not self._inflight:
                p.place.free()
                p.afut.set_exception(BrokerError(-_errno.ENOMEM, "the zero-copy area has no such free block"))
                return True
            return False
        else:
            p.place.fill(k, p.fn)
        k.priority = p.priority
        k.deadline_ns = deadline_ns(p.deadline)
        key = next(self._keys)
        k.user_data = key
        r = self._lib.bk_submit_batch(self._h, self._call_ref, 1, self._out)
        if r < 0:
            if r == -_errno.EAGAIN:
                return False
            if p.place is not None:
                p.place.free()
            if r == _lib.BK_EGONE:
                self._gone = True
            p.afut.set_exception(BrokerError(r))
            return True
        p.bkf = self._out[0]
        p.key = key
        p.data = b""  # copied into the region (or a zero-copy block) already
        self._inflight[key] = p
        return True

    def _drain(self) -> None:
        """Post queued calls while slots are free."""
        while self._waiting and not self._gone and not self._closed:
            p = self._waiting[0]
            if p.afut.done():  # cancelled while queued
                self._waiting.popleft()
                continue
            if not self._post(p):
                return
            self._waiting.popleft()

    def _abandon(self, p: _Pending) -> None:
        """The awaiting task was cancelled: cancel the broker future.

        The call stays in _inflight until the broker completes it (usually
        with -ECANCELED): only then are its slot and zero-copy blocks free,
        since the task may use them until it ends.
        """
        if p.bkf is None or p.abandoned:
            return  # still queued (_drain skips it) or already finished
        p.abandoned = True
        if self._lib.bk_cancel(p.bkf) == -_errno.EAGAIN:
            self._cancel_retry.append(p)  # the ring is full: retried after the next dispatch

    def _retry_cancels(self) -> None:
        retry, self._cancel_retry = self._cancel_retry, []
        for p in retry:
            if p.bkf is not None and self._lib.bk_cancel(p.bkf) == -_errno.EAGAIN:
                self._cancel_retry.append(p)

    # ---- completion -----------------------------------------------------------------

    def _on_complete(self, bkf: int, user_data: Optional[int]) -> None:
        # Called by bk_dispatch from _on_readable; an exception must not unwind into C.
        try:
            p = self._inflight.pop(user_data or 0, None)
            if p is None:
                return
            try:
                result = take_result(bkf)
                exc = None
            except BrokerError as e:
                result, exc = b"", e
            self._lib.bk_release(bkf)
            p.bkf = None
            # A lost future's blocks may have been in use by the dying broker: they are
            # not reused (client.h, "How a future ends"); bk_disconnect frees them.
            if p.place is not None and not (exc is not None and exc.errno == _lib.BK_EGONE):
                p.place.free()
            if p.abandoned or p.afut.done():
                return
            if exc is not None:
                p.afut.set_exception(exc)
            else:
                p.afut.set_result(result)
        except BaseException as e:  # pragma: no cover - a bug here must surface, not vanish in ctypes
            self._loop.call_exception_handler({"message": "bkclient completion callback failed", "exception": e})

    def _on_readable(self) -> None:
        r = self._lib.bk_dispatch(self._h)
        if r == _lib.BK_EGONE:
            self._gone = True
            self._loop.remove_reader(self._fd)  # the hang-up stays readable: stop watching it
            self._fail_all(BrokerError(_lib.BK_EGONE))
            return
        if r < 0:
            self._loop.call_exception_handler({"message": f"bk_dispatch: {_lib.strerror(r)}"})
        if self._cancel_retry:
            self._retry_cancels()
        self._drain()

    def _fail_all(self, exc: BrokerError) -> None:
        """Complete every call still pending or queued with exc."""
        for p in list(self._inflight.values()) + list(self._waiting):
            if p.bkf is not None and self._h is not None:
                self._lib.bk_release(p.bkf)
                p.bkf = None
            if not p.afut.done():
                p.afut.set_exception(exc)
        self._inflight.clear()
        self._waiting.clear()
        self._cancel_retry.clear()


async def connect(path: Optional[str] = None, *, max_inflight: int = 0, sq_entries: int = 0,
                  inline_size: int = 0, zero_copy_size: int = 0) -> AsyncClient:
    """Connect to brokerd (path None: $BROKER_SOCKET, $XDG_RUNTIME_DIR/broker.sock,
    /run/broker/broker.sock).  The option arguments are bk_options' fields (0:
    the defaults).  The handshake runs in the default executor."""
    loop = asyncio.get_running_loop()
    o = make_options(max_inflight, sq_entries, inline_size, zero_copy_size)
    handle = await loop.run_in_executor(None, connect_handle, path, o)
    try:
        return AsyncClient(handle, loop, inline_size, zero_copy_size)
    except BaseException:
        _lib.load().bk_disconnect(handle)
        raise
