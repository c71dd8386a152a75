// SPDX-License-Identifier: MIT
/*
 * strerror.c - bk_strerror: a name for every code the API returns, our own
 * BK_E* codes and the errno values it uses.  Thread-safe: static strings only.
 */
#include <errno.h>
#include <string.h>

#include "client_internal.h"

BKC_API const char *bk_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case BK_EGONE:
		return "broker gone: brokerd died or closed the connection";
	case BK_EVERSION:
		return "ABI version mismatch between libbkclient and brokerd";
	case BK_ELAYOUT:
		return "shared-region layout mismatch (incompatible builds of libbkclient and brokerd)";
	case BK_EBADREGION:
		return "malformed shared region";
	case BK_ENOTBROKER:
		return "the socket did not answer like a brokerd";
	case BK_EPROTOCOL:
		return "protocol violation by the peer";
	case BK_ESTALE:
		return "stale future: it was already released";
	case BK_EREFUSED:
		return "brokerd refused the connection";
	case -EAGAIN:
		return "no free slot or ring space: try again after reaping/releasing futures";
	case -EMSGSIZE:
		return "argument larger than the inline size: use a zero-copy buffer (bk_buf_alloc)";
	case -ENOBUFS:
		return "result buffer too small";
	case -ETIMEDOUT:
		return "timed out";
	case -ECANCELED:
		return "task cancelled";
	case -EBUSY:
		return "future still pending";
	case -ENOENT:
		return "no such function, file or socket";
	case -ECONNREFUSED:
		return "no brokerd listening on the socket";
	default:
		break;
	}
	if (err < 0 && err > -4096)
		return strerror(-err); /* glibc: static strings for known codes (thread-safe since 2.32) */
	return "unknown error code";
}
