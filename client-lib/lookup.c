// SPDX-License-Identifier: MIT
/*
 * lookup.c - bk_lookup: resolve "module.function" to a numeric id with one
 * LOOKUP round trip on the control socket, bounded in time.  Requests are
 * serialised on sock_lock; an unsolicited BYE met on the way is noted.
 * bk_lookup_async: the same for event loops, never blocking (below).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

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

/*
 * bk_lookup_async: the same LOOKUP on a connection of its own, opened
 * non-blocking, so that neither the request nor the wait for its answer
 * blocks, and the main socket's one-request-at-a-time rule (sock_lock) is
 * never held across an event loop turn.  The connection is a control-only
 * one (BK_HELLO_CONTROL, no region) to the socket the client is connected
 * to (getpeername), and the HELLO and the LOOKUP are sent back to back:
 * brokerd answers a connection's datagrams in order.  Function ids are
 * brokerd's, the same on every connection of the same user.
 */
struct bk_lookup_req {
	int fd;
	bool hello_done;
	int result; /* 1: pending */
	bk_fn fn;
	int64_t deadline_ns;
};

static int lookup_send(int fd, const char *name, size_t n)
{
	struct bk_msg_hello h;
	memset(&h, 0, sizeof(h));
	h.h.magic = BK_WIRE_MAGIC;
	h.h.type = BK_MSG_HELLO;
	h.h.len = sizeof(h);
	h.h.seq = 1;
	h.abi_major = BK_ABI_MAJOR;
	h.abi_minor = BK_ABI_MINOR;
	h.flags = BK_HELLO_CONTROL;
	h.layout_hash = BK_LAYOUT_HASH;
	struct bk_msg_lookup m;
	memset(&m, 0, sizeof(m));
	m.h.magic = BK_WIRE_MAGIC;
	m.h.type = BK_MSG_LOOKUP;
	m.h.len = sizeof(m);
	m.h.seq = 2;
	memcpy(m.name, name, n);
	/* A fresh socket's send buffer holds both: MSG_DONTWAIT never waits here, and EAGAIN would be an error. */
	if (send(fd, &h, sizeof(h), MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)sizeof(h) ||
	    send(fd, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)sizeof(m))
		return errno == EPIPE || errno == ECONNRESET ? BK_EGONE : -errno;
	return 0;
}

BKC_API int bk_lookup_async(bk_client *c, const char *name, bk_lookup_req **out)
{
	if (!c || !name || !out)
		return -EINVAL;
	size_t n = strlen(name);
	if (n == 0 || n >= sizeof(((struct bk_msg_lookup *)0)->name))
		return -EINVAL;
	if (bkc_gone(c))
		return BK_EGONE;
	struct sockaddr_un sa;
	socklen_t sl = sizeof(sa);
	if (getpeername(c->sock, (struct sockaddr *)&sa, &sl) < 0)
		return errno == ENOTCONN ? BK_EGONE : -errno;
	bk_lookup_req *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->result = 1;
	r->deadline_ns = bk_now_ns() + (int64_t)BKC_REPLY_TIMEOUT_MS * 1000000LL;
	r->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int e = r->fd < 0 ? -errno : 0;
	/* A local connect does not wait: it is made, or refused (EAGAIN: brokerd's backlog is full). */
	if (e == 0 && connect(r->fd, (struct sockaddr *)&sa, sl) < 0)
		e = errno == ECONNREFUSED || errno == ENOENT ? BK_EGONE : -errno;
	if (e == 0)
		e = lookup_send(r->fd, name, n);
	if (e < 0) {
		bk_lookup_free(r);
		return e;
	}
	*out = r;
	return 0;
}

BKC_API int bk_lookup_fd(const bk_lookup_req *r)
{
	return r ? r->fd : -EINVAL;
}

/* One datagram of the answer: the hello's, then the lookup's.  Sets r->result when the lookup is over. */
static void lookup_take(bk_lookup_req *r, const void *buf, size_t k)
{
	const struct bk_msg_hello_reply *hr = buf;
	const struct bk_msg_lookup_reply *lr = buf;
	const struct bk_msg_result *res = buf;
	if (bkc_hdr_ok(buf, k, BK_MSG_BYE, sizeof(struct bk_msg_hdr))) {
		return; /* brokerd is shutting down; its answer may still come */
	} else if (!r->hello_done && bkc_hdr_ok(buf, k, BK_MSG_HELLO_REPLY, sizeof(*hr)) && hr->h.seq == 1) {
		r->hello_done = true;
		if (hr->status != 0)
			r->result = hr->status < 0 ? hr->status : BK_EREFUSED;
	} else if (r->hello_done && bkc_hdr_ok(buf, k, BK_MSG_LOOKUP_REPLY, sizeof(*lr)) && lr->h.seq == 2) {
		r->fn = lr->fn;
		r->result = lr->status <= 0 ? lr->status : BK_EPROTOCOL;
	} else if (bkc_hdr_ok(buf, k, BK_MSG_RESULT, sizeof(*res))) {
		r->result = res->status < 0 ? res->status : BK_EPROTOCOL;
	} else {
		r->result = BK_EPROTOCOL;
	}
}

BKC_API int bk_lookup_result(bk_lookup_req *r, bk_fn *out)
{
	if (!r || !out)
		return -EINVAL;
	while (r->result == 1) {
		union {
			struct bk_msg_hello_reply hello;
			char raw[1024];
		} u;
		ssize_t k = recv(r->fd, u.raw, sizeof(u.raw), MSG_DONTWAIT);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return bk_now_ns() < r->deadline_ns ? -EAGAIN : (r->result = -ETIMEDOUT);
		if (k <= 0)
			r->result = k == 0 || errno == ECONNRESET ? BK_EGONE : -errno;
		else
			lookup_take(r, u.raw, (size_t)k);
	}
	if (r->result == 0)
		*out = r->fn;
	return r->result;
}

BKC_API void bk_lookup_free(bk_lookup_req *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	free(r);
}
