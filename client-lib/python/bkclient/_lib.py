# SPDX-License-Identifier: MIT
"""ctypes declarations of libbkclient (include/broker/client.h) and where to find it.

The library is looked up, in this order, at $BKCLIENT_LIB (a path to the .so),
in the build tree next to this source tree (build/*/client-lib, newest first,
sanitizer builds skipped: they cannot be dlopen'ed into a plain python), and
through the dynamic loader (the install prefix, e.g. /usr/local/lib/<triplet>).
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
import pathlib
import sysconfig
from typing import List, Optional

# The BK_E* codes of include/broker/errors.h (kept in step by tests/test_errors.py).
BK_EGONE = -1001
BK_EVERSION = -1002
BK_ELAYOUT = -1003
BK_EBADREGION = -1004
BK_ENOTBROKER = -1005
BK_EPROTOCOL = -1006
BK_ESTALE = -1007
BK_EREFUSED = -1008

SONAME = "libbkclient.so.1"


class Options(ctypes.Structure):
    """struct bk_options."""

    _fields_ = [
        ("size", ctypes.c_uint32),
        ("max_inflight", ctypes.c_uint32),
        ("sq_entries", ctypes.c_uint32),
        ("inline_size", ctypes.c_uint32),
        ("zero_copy_size", ctypes.c_uint64),
        ("spin_ns", ctypes.c_int64),
        ("flags", ctypes.c_uint32),
        ("rsvd", ctypes.c_uint32),
    ]


COMPLETE_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)


class Call(ctypes.Structure):
    """struct bk_call."""

    _fields_ = [
        ("fn", ctypes.c_uint32),
        # c_char_p, not c_void_p: a bytes object is stored without a cast (the
        # hot path), and an int is taken as an address (a zero-copy block).
        ("arg", ctypes.c_char_p),
        ("len", ctypes.c_size_t),
        ("result", ctypes.c_void_p),
        ("result_cap", ctypes.c_size_t),
        ("cb", COMPLETE_CB),
        ("user_data", ctypes.c_void_p),
        # 1.1 (bk_submit_batch@BKCLIENT_1.1, which ctypes binds): zero is "no deadline, normal lane".
        ("deadline_ns", ctypes.c_int64),
        ("priority", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
    ]


def _is_sanitized(path: pathlib.Path) -> bool:
    # A sanitizer build names its runtime in DT_NEEDED; loading it into python aborts the process.
    try:
        data = path.read_bytes()
    except OSError:
        return True
    return any(rt in data for rt in (b"libasan.so", b"libtsan.so", b"libubsan.so"))


def _build_tree_candidates() -> List[pathlib.Path]:
    # client-lib/python/bkclient/_lib.py -> the repository root is three levels up.
    root = pathlib.Path(__file__).resolve().parents[3]
    found = [p for p in root.glob("build*/*/client-lib/" + SONAME)]
    found += [p for p in root.glob("build*/client-lib/" + SONAME)]
    found = [p for p in found if p.is_file() and not _is_sanitized(p)]
    found.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return found


def _prefix_candidates() -> List[str]:
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    out = [SONAME]  # the loader's own search (ld.so.cache, LD_LIBRARY_PATH)
    for prefix in ("/usr/local", "/usr"):
        if multiarch:
            out.append(os.path.join(prefix, "lib", multiarch, SONAME))
        out.append(os.path.join(prefix, "lib", SONAME))
    return out


def find_library() -> str:
    """The path (or soname) of the libbkclient that load() will open."""
    explicit = os.environ.get("BKCLIENT_LIB")
    if explicit:
        return explicit
    build = _build_tree_candidates()
    if build:
        return str(build[0])
    return _prefix_candidates()[0]


def _declare(lib: ctypes.CDLL) -> None:
    c_int, c_void_p, c_size_t = ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t
    P = ctypes.POINTER
    sigs = {
        "bk_options_init": (None, [P(Options)]),
        "bk_connect_error": (c_int, [ctypes.c_char_p, P(Options), P(c_void_p), ctypes.c_char_p, c_size_t]),
        "bk_disconnect": (None, [c_void_p]),
        "bk_lookup": (c_int, [c_void_p, ctypes.c_char_p, P(ctypes.c_uint32)]),
        "bk_submit": (c_int, [c_void_p, ctypes.c_uint32, c_void_p, c_size_t, P(c_void_p)]),
        "bk_submit_wait": (c_int, [c_void_p, ctypes.c_uint32, c_void_p, c_size_t, ctypes.c_int64, P(c_void_p)]),
        "bk_submit_batch": (c_int, [c_void_p, P(Call), c_size_t, P(c_void_p)]),
        "bk_wait": (c_int, [c_void_p, ctypes.c_int64]),
        "bk_poll": (c_int, [c_void_p]),
        "bk_result": (c_int, [c_void_p, P(c_void_p), P(c_size_t)]),
        "bk_cancel": (c_int, [c_void_p]),
        "bk_release": (None, [c_void_p]),
        "bk_on_complete": (c_int, [c_void_p, COMPLETE_CB, c_void_p]),
        "bk_fd": (c_int, [c_void_p]),
        "bk_dispatch": (c_int, [c_void_p]),
        "bk_buf_alloc": (c_void_p, [c_void_p, c_size_t]),
        "bk_buf_free": (None, [c_void_p, c_void_p]),
        "bk_strerror": (ctypes.c_char_p, [c_int]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args


_lib: Optional[ctypes.CDLL] = None


def load() -> ctypes.CDLL:
    """Open libbkclient once per process and declare its functions."""
    global _lib
    if _lib is None:
        path = find_library()
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            raise OSError(
                f"bkclient: cannot load {path} ({e}); set BKCLIENT_LIB to the path of {SONAME}"
            ) from None
        _declare(lib)
        _lib = lib
    return _lib


def strerror(code: int) -> str:
    """bk_strerror(code): the text of any code libbkclient returns."""
    text = load().bk_strerror(code)
    return text.decode("utf-8", "replace") if text else f"error {code}"


def errno_name(code: int) -> str:
    """A short name for a code: 'ENOENT', 'BK_EGONE', or the number."""
    for name, value in globals().items():
        if name.startswith("BK_E") and value == code:
            return name
    return _errno.errorcode.get(-code, str(code))
