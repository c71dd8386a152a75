# SPDX-License-Identifier: MIT
"""The blocking client: ``bkclient.Client(path).call(name, data, timeout=...)``.

Calls block the calling thread (ctypes drops the GIL inside libbkclient, so
other threads run meanwhile) and may come from several threads at once:
libbkclient's submit, wait, result, release and lookup are thread-safe.
A call waits for a free slot (bk_submit_wait) rather than failing with
EAGAIN.  Waits are sliced so that Ctrl-C (KeyboardInterrupt) gets through;
an interrupted or timed-out call cancels its broker future.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import threading
import time
from typing import Dict, List, Optional, Tuple

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
    take_result,
    too_big,
)

_SLICE_NS = 200_000_000  # longest uninterrupted wait inside C: signal handlers run between slices
# libbkclient has no waiting form of bk_submit_batch (the one call that takes a
# result buffer); calls with a zero-copy result retry it with this back-off.
_RETRY_S = 0.0005
_RETRY_MAX_S = 0.02


class Client:
    """A blocking connection to brokerd; usable from several threads."""

    def __init__(self, path: Optional[str] = None, *, max_inflight: int = 0, sq_entries: int = 0,
                 inline_size: int = 0, zero_copy_size: int = 0):
        self._lib = _lib.load()
        self._h: Optional[ctypes.c_void_p] = connect_handle(
            path, make_options(max_inflight, sq_entries, inline_size, zero_copy_size))
        self._inline = inline_size or DEFAULT_INLINE
        self._zc_size = zero_copy_size
        self._fns: Dict[str, int] = {}
        self._lock = threading.Lock()
        # Timed-out calls with zero-copy blocks: the blocks are freed once the broker completes them.
        self._graveyard: List[Tuple[int, Placement]] = []

    def lookup(self, name: str) -> int:
        """The function id of "module.function" (one round trip, then cached)."""
        fn = self._fns.get(name)
        if fn is None:
            fn = lookup_blocking(self._handle(), name)
            self._fns[name] = fn
        return fn

    def call(self, name: str, data: BytesLike = b"", opts: Optional[CallOptions] = None, *,
             timeout: Optional[float] = None, result_size: Optional[int] = None) -> bytes:
        """Run name(data) in brokerd and return its result bytes.

        Raises BrokerError for a task status or library error, TimeoutError
        when ``timeout`` seconds passed first (the broker future is cancelled).
        """
        o = merge_options(opts, timeout=timeout, result_size=result_size)
        deadline = None if o.timeout is None else time.monotonic() + o.timeout
        h = self._handle()
        self._bury()
        fn = self.lookup(name)
        if too_big(len(data), self._zc_size) or (o.result_size and too_big(o.result_size, self._zc_size)):
            raise BrokerError(-_errno.EMSGSIZE, "larger than the zero-copy area")
        place = Placement(h)
        fut = None
        try:
            fut = self._submit(h, fn, data, o.result_size, place, deadline, o.priority)
            self._wait(fut, deadline)
            return take_result(fut)
        finally:
            self._finish(fut, place)

    def call_with(self, name: str, data: BytesLike, opts: CallOptions) -> bytes:
        """call() with an options object (the form later options extend)."""
        return self.call(name, data, opts)

    def close(self) -> None:
        """bk_disconnect: no other thread may be inside a call."""
        if self._h is not None:
            self._lib.bk_disconnect(self._h)
            self._h = None
            self._graveyard.clear()  # the region and its blocks are gone with the connection

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # ---- internals ------------------------------------------------------------------

    def _handle(self) -> ctypes.c_void_p:
        if self._h is None:
            raise BrokerError(-_errno.EBADF, "client closed")
        return self._h

    @staticmethod
    def _left_ns(deadline: Optional[float]) -> int:
        if deadline is None:
            return _SLICE_NS
        left = int((deadline - time.monotonic()) * 1e9)
        if left <= 0:
            raise TimeoutError("bkclient call timed out")
        return min(left, _SLICE_NS)

    def _submit(self, h, fn: int, data: BytesLike, result_size: Optional[int], place: Placement,
                deadline: Optional[float], priority: int = 0) -> int:
        out = ctypes.c_void_p()
        inline = result_size is None or result_size <= self._inline
        backoff = _RETRY_S
        while True:
            if place.place(data, self._inline, result_size):
                if inline and place.arg_buf is None and deadline is None and not priority:
                    r = self._lib.bk_submit_wait(h, fn, place.arg_ptr, place.arg_len, self._left_ns(deadline),
                                                 ctypes.byref(out))
                    if r == -_errno.ETIMEDOUT:
                        continue  # one slice passed; _left_ns raises at the deadline
                else:
                    k = _lib.Call()
                    place.fill(k, fn)
                    k.priority = priority
                    k.deadline_ns = deadline_ns(deadline)
                    r = self._lib.bk_submit_batch(h, ctypes.byref(k), 1, ctypes.byref(out))
                    r = 0 if r == 1 else r
                if r == 0:
                    return out.value
                if r != -_errno.EAGAIN:
                    raise BrokerError(r)
            self._left_ns(deadline)  # raises TimeoutError at the deadline
            time.sleep(backoff)
            backoff = min(backoff * 2, _RETRY_MAX_S)
            self._bury()

    def _wait(self, fut: int, deadline: Optional[float]) -> None:
        while True:
            r = self._lib.bk_wait(fut, self._left_ns(deadline))
            if r == 0:
                return
            if r != -_errno.ETIMEDOUT:
                raise BrokerError(r)

    def _finish(self, fut: Optional[int], place: Placement) -> None:
        """Release fut (cancelling it if still pending) and free its blocks when safe."""
        if self._h is None:
            return
        if fut is None:
            place.free()
            return
        if place.arg_buf is None and place.res_buf is None:
            self._lib.bk_release(fut)
            return
        r = self._lib.bk_poll(fut)
        if r != 0:
            self._lib.bk_release(fut)
            if r == 1:  # completed: nobody uses the blocks.  Lost ones are not reused (client.h).
                place.free()
            return
        self._lib.bk_cancel(fut)  # pending: keep fut until the broker completes it
        with self._lock:
            self._graveyard.append((fut, place))

    def _bury(self) -> None:
        """Free the blocks of abandoned calls the broker has completed since."""
        if not self._graveyard:
            return
        with self._lock:
            keep = []
            for fut, place in self._graveyard:
                r = self._lib.bk_poll(fut)
                if r == 0:
                    keep.append((fut, place))
                    continue
                self._lib.bk_release(fut)
                if r == 1:
                    place.free()
            self._graveyard = keep
