# SPDX-License-Identifier: MIT
"""bkclient: Python bindings of libbkclient, the client library of brokerd.

asyncio::

    import bkclient
    c = await bkclient.connect()            # $BROKER_SOCKET or the default socket
    await c.call("echo.upper", b"hi")       # -> b"HI"

blocking::

    with bkclient.Client() as c:
        c.call("echo.upper", b"hi", timeout=1.0)

Failures raise BrokerError (an OSError whose ``errno`` is the negative code:
``-errno.ENOENT`` for an unknown function, ``BK_EGONE`` once brokerd died).
The library is ctypes over libbkclient.so.1, found through $BKCLIENT_LIB,
the build tree or the install prefix (see _lib.py).
"""

from ._common import PRIO_BACKGROUND, PRIO_INTERACTIVE, PRIO_NORMAL, BrokerError, BrokerTimeoutError, CallOptions
from ._lib import (
    BK_EBADREGION,
    BK_EGONE,
    BK_ELAYOUT,
    BK_ENOTBROKER,
    BK_EPROTOCOL,
    BK_EREFUSED,
    BK_ESTALE,
    BK_EVERSION,
    find_library,
    strerror,
)
from .aio import AsyncClient, connect
from .sync import Client

__all__ = [
    "AsyncClient",
    "BrokerError",
    "BrokerTimeoutError",
    "CallOptions",
    "Client",
    "connect",
    "find_library",
    "strerror",
    "PRIO_BACKGROUND",
    "PRIO_INTERACTIVE",
    "PRIO_NORMAL",
    "BK_EBADREGION",
    "BK_EGONE",
    "BK_ELAYOUT",
    "BK_ENOTBROKER",
    "BK_EPROTOCOL",
    "BK_EREFUSED",
    "BK_ESTALE",
    "BK_EVERSION",
]
