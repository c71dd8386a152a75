// SPDX-License-Identifier: MIT
/*
 * control.c - the control connection used by brokerctl (and tests): a
 * region-less HELLO, then bounded request/reply round trips on the socket.
 */
#include "control.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client_internal.h"

int bkc_ctl_open(struct bkc_ctl *k, const char *path, int timeout_ms, char *err, size_t errlen)
{
	k->fd = -1;
	k->seq = 0;
	k->timeout_ms = timeout_ms > 0 ? timeout_ms : BKC_REPLY_TIMEOUT_MS;
	int fd = bkc_socket_connect(path, err, errlen);
	if (fd < 0)
		return fd;
	k->fd = fd;
	struct bk_msg_hello h;
	memset(&h, 0, sizeof(h));
	h.h.type = BK_MSG_HELLO;
	h.abi_major = BK_ABI_MAJOR;
	h.abi_minor = BK_ABI_MINOR;
	h.flags = BK_HELLO_CONTROL;
	h.layout_hash = BK_LAYOUT_HASH;
	struct bk_msg_hello_reply rep;
	int r = bkc_ctl_call(k, &h, sizeof(h), BK_MSG_HELLO_REPLY, &rep, sizeof(rep), err, errlen);
	if (r >= 0 && (size_t)r < sizeof(rep)) {
		snprintf(err, errlen, "short HELLO reply from %s", path);
		r = BK_ENOTBROKER;
	} else if (r >= 0 && rep.status != 0) {
		rep.error[sizeof(rep.error) - 1] = 0;
		snprintf(err, errlen, "brokerd (ABI %u.%u) refused the control connection (ours %u.%u): %s",
			 rep.abi_major, rep.abi_minor, BK_ABI_MAJOR, BK_ABI_MINOR, rep.error);
		r = rep.status < 0 ? rep.status : BK_EREFUSED;
	} else if (r == -ETIMEDOUT || r == BK_EGONE || r == BK_EPROTOCOL) {
		if (r == -ETIMEDOUT)
			snprintf(err, errlen, "%s did not answer the handshake within %d ms: not a brokerd?", path,
				 k->timeout_ms);
		r = BK_ENOTBROKER;
	}
	if (r < 0) {
		bkc_ctl_close(k);
		return r;
	}
	return 0;
}

void bkc_ctl_close(struct bkc_ctl *k)
{
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
}

int bkc_ctl_call(struct bkc_ctl *k, void *req, size_t req_len, uint16_t reply_type, void *buf, size_t cap, char *err,
	       size_t errlen)
{
	struct bk_msg_hdr *h = req;
	h->magic = BK_WIRE_MAGIC;
	h->len = (uint32_t)req_len;
	h->seq = ++k->seq;
	int r = bkc_send(k->fd, req, req_len, NULL, 0);
	if (r < 0) {
		snprintf(err, errlen, "send: %s", strerror(-r));
		return r == -EPIPE || r == -ECONNRESET ? BK_EGONE : r;
	}
	int64_t deadline = bk_now_ns() + (int64_t)k->timeout_ms * 1000000LL;
	for (;;) {
		int64_t left = (deadline - bk_now_ns()) / 1000000LL;
		int n = bkc_recv(k->fd, buf, cap, NULL, NULL, left > 0 ? (int)left : 0);
		if (n == 0) {
			snprintf(err, errlen, "brokerd closed the connection");
			return BK_EGONE;
		}
		if (n == -ETIMEDOUT) {
			snprintf(err, errlen, "no reply within %d ms", k->timeout_ms);
			return n;
		}
		if (n < 0) {
			snprintf(err, errlen, "receive: %s", strerror(-n));
			return n == -ECONNRESET ? BK_EGONE : n;
		}
		const struct bk_msg_hdr *rh = buf;
		if (bkc_hdr_ok(rh, (size_t)n, BK_MSG_BYE, sizeof(*rh)))
			continue; /* shutting down; our reply may still come */
		if ((size_t)n < sizeof(*rh) || rh->magic != BK_WIRE_MAGIC || rh->len != (uint32_t)n) {
			snprintf(err, errlen, "malformed reply (%d bytes)", n);
			return BK_EPROTOCOL;
		}
		if (rh->seq != h->seq)
			continue; /* a stale reply */
		if (rh->type == BK_MSG_RESULT && reply_type != BK_MSG_RESULT) {
			const struct bk_msg_result *res = buf;
			if ((size_t)n < sizeof(*res)) {
				snprintf(err, errlen, "short RESULT reply");
				return BK_EPROTOCOL;
			}
			snprintf(err, errlen, "%.*s", (int)sizeof(res->message), res->message);
			return res->status < 0 ? res->status : BK_EPROTOCOL;
		}
		if (rh->type != reply_type) {
			snprintf(err, errlen, "unexpected reply type %u (wanted %u)", rh->type, reply_type);
			return BK_EPROTOCOL;
		}
		return n;
	}
}
