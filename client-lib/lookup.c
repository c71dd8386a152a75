// SPDX-License-Identifier: MIT
/*
 * lookup.c - bk_lookup: resolve "module.function" to a numeric id with one
 * LOOKUP round trip on the control socket, bounded in time.  Requests are
 * serialised on sock_lock; an unsolicited BYE met on the way is noted.
 */
#include <errno.h>
#include <string.h>

#include "client_internal.h"

BKC_API int bk_lookup(bk_client *c, const char *name, bk_fn *out)
{
	if (!c || !name || !out)
		return -EINVAL;
	struct bk_msg_lookup m;
	size_t n = strlen(name);
	if (n == 0 || n >= sizeof(m.name))
		return -EINVAL;
	if (bkc_gone(c))
		return BK_EGONE;
	memset(&m, 0, sizeof(m));
	m.h.magic = BK_WIRE_MAGIC;
	m.h.type = BK_MSG_LOOKUP;
	m.h.len = sizeof(m);
	memcpy(m.name, name, n);

	pthread_mutex_lock(&c->sock_lock);
	m.h.seq = ++c->seq;
	int r = bkc_send(c->sock, &m, sizeof(m), NULL, 0);
	int64_t deadline = bk_now_ns() + (int64_t)BKC_REPLY_TIMEOUT_MS * 1000000LL;
	while (r == 0) {
		union {
			struct bk_msg_lookup_reply rep;
			struct bk_msg_result res;
			char raw[1024];
		} u;
		int64_t left = (deadline - bk_now_ns()) / 1000000LL;
		int k = bkc_recv(c->sock, u.raw, sizeof(u.raw), NULL, NULL, left > 0 ? (int)left : 0);
		if (k == 0) {
			r = BK_EGONE;
		} else if (k == -ETIMEDOUT) {
			r = -ETIMEDOUT;
		} else if (k == -EMSGSIZE) {
			continue; /* an oversized stray datagram: not our reply */
		} else if (k < 0) {
			r = k == -ECONNRESET || k == -EPIPE ? BK_EGONE : k;
		} else if (bkc_hdr_ok(&u.rep.h, (size_t)k, BK_MSG_BYE, sizeof(u.rep.h))) {
			atomic_store_explicit(&c->draining, 1, memory_order_relaxed); /* a record only */
		} else if (u.rep.h.seq != m.h.seq) {
			continue; /* a stale reply to an earlier, timed-out request */
		} else if (bkc_hdr_ok(&u.rep.h, (size_t)k, BK_MSG_LOOKUP_REPLY, sizeof(u.rep))) {
			if (u.rep.status == 0)
				*out = u.rep.fn;
			r = u.rep.status == 0 ? 1 : u.rep.status == -ENOENT ? -ENOENT
				: u.rep.status < 0 ? u.rep.status : BK_EPROTOCOL;
			break;
		} else if (bkc_hdr_ok(&u.res.h, (size_t)k, BK_MSG_RESULT, sizeof(u.res))) {
			r = u.res.status < 0 ? u.res.status : BK_EPROTOCOL;
		} else {
			r = BK_EPROTOCOL;
		}
	}
	pthread_mutex_unlock(&c->sock_lock);
	if (r == BK_EGONE || r == -EPIPE || r == -ECONNRESET) {
		bkc_set_gone(c);
		r = BK_EGONE;
	}
	return r == 1 ? 0 : r;
}
