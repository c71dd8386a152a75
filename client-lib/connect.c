/*
 * connect.c - bk_connect and bk_disconnect: the handshake of DESIGN.md 3.
 *
 * HELLO carries our geometry request and our eventfd; HELLO_REPLY carries the
 * region memfd (and, on kernels without futex-in-io_uring, the broker's
 * eventfd).  The reply wait is bounded, so a socket that is not a brokerd
 * gives BK_ENOTBROKER rather than a hang, and every failure has its own code
 * and a readable reason.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "client_internal.h"

BKC_API void bk_options_init(bk_options *o)
{
	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	o->spin_ns = -1;
}

static void set_err(char *err, size_t errlen, const char *fmt, const char *a)
{
	if (err && errlen)
		snprintf(err, errlen, fmt, a);
}

static bool is_our_code(int32_t s)
{
	return s == BK_EVERSION || s == BK_ELAYOUT || s == BK_EBADREGION || s == BK_EREFUSED;
}

/* Send HELLO, receive and check HELLO_REPLY.  On success fds[0] is the region, fds[1] maybe the broker eventfd. */
static int handshake(bk_client *c, const struct bk_geometry *geo, int fds[2], int *nfds, char *err, size_t errlen)
{
	struct bk_msg_hello h;
	memset(&h, 0, sizeof(h));
	h.h.magic = BK_WIRE_MAGIC;
	h.h.type = BK_MSG_HELLO;
	h.h.len = sizeof(h);
	h.h.seq = ++c->seq;
	h.abi_major = BK_ABI_MAJOR;
	h.abi_minor = BK_ABI_MINOR;
	h.flags = BK_HELLO_EVENTFD;
	h.layout_hash = BK_LAYOUT_HASH;
	h.geo = *geo;
	int r = bkc_send(c->sock, &h, sizeof(h), &c->efd, 1);
	if (r < 0) {
		snprintf(err, errlen, "sending HELLO: %s", strerror(-r));
		return r == -EPIPE || r == -ECONNRESET ? BK_ENOTBROKER : r;
	}

	union {
		struct bk_msg_hello_reply rep;
		char raw[BK_WIRE_MAX_MSG];
	} *u = malloc(sizeof(*u));
	if (!u)
		return -ENOMEM;
	*nfds = 2;
	int n = bkc_recv(c->sock, u->raw, sizeof(u->raw), fds, nfds, BKC_REPLY_TIMEOUT_MS);
	if (n == -ETIMEDOUT) {
		snprintf(err, errlen, "no HELLO reply within %d ms: the socket does not answer like a brokerd",
			 BKC_REPLY_TIMEOUT_MS);
		r = BK_ENOTBROKER;
	} else if (n == 0) {
		snprintf(err, errlen, "the peer closed the connection without a HELLO reply: not a brokerd?");
		r = BK_ENOTBROKER;
	} else if (n < 0 && n != -EMSGSIZE) {
		snprintf(err, errlen, "receiving HELLO reply: %s", strerror(-n));
		r = n;
	} else if (n < 0 || !bkc_hdr_ok(&u->rep.h, (size_t)n, BK_MSG_HELLO_REPLY, sizeof(u->rep)) ||
		   u->rep.h.seq != h.h.seq) {
		snprintf(err, errlen, "the peer answered HELLO with something that is not a brokerd reply (%d bytes)", n);
		r = BK_ENOTBROKER;
	} else {
		struct bk_msg_hello_reply *rep = &u->rep;
		rep->error[sizeof(rep->error) - 1] = 0;
		if (rep->status != 0) {
			char tmp[400];
			snprintf(tmp, sizeof(tmp), "brokerd (ABI %u.%u, layout %016" PRIx64 ") refused the connection "
				 "(library ABI %u.%u, layout %016" PRIx64 "): %s",
				 rep->abi_major, rep->abi_minor, rep->layout_hash, BK_ABI_MAJOR, BK_ABI_MINOR,
				 (uint64_t)BK_LAYOUT_HASH, rep->error[0] ? rep->error : strerror(-rep->status));
			set_err(err, errlen, "%s", tmp);
			r = is_our_code(rep->status) ? rep->status : BK_EREFUSED;
		} else if (rep->abi_major != BK_ABI_MAJOR) {
			snprintf(err, errlen, "brokerd speaks ABI %u.%u, this library %u.%u", rep->abi_major,
				 rep->abi_minor, BK_ABI_MAJOR, BK_ABI_MINOR);
			r = BK_EVERSION;
		} else if (rep->layout_hash != BK_LAYOUT_HASH) {
			snprintf(err, errlen, "brokerd region layout %016" PRIx64 ", this library %016" PRIx64
				 " (ABI %u.%u)", rep->layout_hash, (uint64_t)BK_LAYOUT_HASH, BK_ABI_MAJOR, BK_ABI_MINOR);
			r = BK_ELAYOUT;
		} else if (*nfds < 1) {
			snprintf(err, errlen, "brokerd's HELLO reply carried no region fd");
			r = BK_EPROTOCOL;
		} else {
			c->conn_id = rep->conn_id;
			c->features = rep->features;
			r = 0;
		}
	}
	free(u);
	if (r < 0) {
		for (int i = 0; i < *nfds; i++)
			close(fds[i]);
		*nfds = 0;
	}
	return r;
}

static int setup_rings(bk_client *c)
{
	uint32_t n = c->v.geo.nslots;
	c->futures = calloc(n, sizeof(*c->futures));
	if (!c->futures)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		struct bk_future *f = &c->futures[i];
		f->c = c;
		f->slot = i;
		f->gen = 0;
		f->next = i + 1 < n ? i + 1 : UINT32_MAX;
	}
	c->free_head = 0;
	c->free_tail = n - 1;
	c->nfree = n;
	bk_sq_producer_init(&c->sq, c->v.sq_ctl, c->v.sq, c->v.geo.sq_entries);
	bk_cq_consumer_init(&c->cq, c->v.cq_ctl, c->v.cq, c->v.geo.cq_entries);
	return bkc_bufs_init(c);
}

static int do_connect(const char *socket_path, const bk_options *opts, bk_client **out, char *err, size_t errlen)
{
	char path[256];
	bk_options o;
	bk_options_init(&o);
	if (!out) {
		snprintf(err, errlen, "out is NULL");
		return -EINVAL;
	}
	*out = NULL;
	if (opts) {
		if (opts->size < offsetof(bk_options, flags) || opts->size > 4096) {
			snprintf(err, errlen, "bk_options.size %u is not sizeof(bk_options): use bk_options_init", opts->size);
			return -EINVAL;
		}
		memcpy(&o, opts, opts->size < sizeof(o) ? opts->size : sizeof(o));
	}
	if (!socket_path) {
		if (bk_default_socket_path(path, sizeof(path)) < 0) {
			snprintf(err, errlen, "default socket path is too long");
			return -ENAMETOOLONG;
		}
		socket_path = path;
	}
	struct bk_geometry req = {
		.sq_entries = o.sq_entries,
		.nslots = o.max_inflight,
		.slot_inline = o.inline_size,
		.large_size = o.zero_copy_size,
	}, geo;
	if (bk_geometry_clamp(&req, BK_ARENA_MAX, &geo) < 0) {
		snprintf(err, errlen, "options beyond limits (ring <= %u, in flight <= %u, inline <= %u, arena <= %u)",
			 BK_RING_MAX, BK_SLOTS_MAX, BK_INLINE_MAX, BK_ARENA_MAX);
		return -EINVAL;
	}
	/* Ask for exactly what the user asked (0 = broker's default); the broker clamps the same way. */

	bk_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->sock = c->efd = c->pollfd = c->broker_efd = -1;
	c->spin_ns = o.spin_ns;
	atomic_init(&c->wait_ewma_ns, BKC_SPIN_DEFAULT_NS / 2);
	atomic_init(&c->next_gone_poll_ns, 0);
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->sock_lock, NULL);
	pthread_mutex_init(&c->buf_lock, NULL);

	int r;
	int fds[2] = {-1, -1}, nfds = 0;
	c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->efd < 0) {
		r = -errno;
		snprintf(err, errlen, "eventfd: %s", strerror(-r));
		goto fail;
	}
	r = bkc_socket_connect(socket_path, err, errlen);
	if (r < 0)
		goto fail;
	c->sock = r;
	r = handshake(c, &req, fds, &nfds, err, errlen);
	if (r < 0)
		goto fail;
	r = bkc_region_map(fds[0], &c->v, err, errlen);
	close(fds[0]);
	if (nfds > 1) {
		if (c->features & BK_FEAT_SQ_EVENTFD)
			c->broker_efd = fds[1];
		else
			close(fds[1]);
	}
	if (r < 0)
		goto fail;
	if ((c->features & BK_FEAT_SQ_EVENTFD) && !(c->features & BK_FEAT_SQ_FUTEX) && c->broker_efd < 0) {
		snprintf(err, errlen, "brokerd wants eventfd wake-ups but sent no eventfd");
		r = BK_EPROTOCOL;
		goto fail;
	}
	r = setup_rings(c);
	if (r < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	c->pollfd = epoll_create1(EPOLL_CLOEXEC);
	if (c->pollfd < 0) {
		r = -errno;
		snprintf(err, errlen, "epoll_create1: %s", strerror(-r));
		goto fail;
	}
	/* bk_fd is an epoll set so that it also turns readable when the broker hangs up or says BYE. */
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 0};
	struct epoll_event es = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = 1};
	if (epoll_ctl(c->pollfd, EPOLL_CTL_ADD, c->efd, &ev) < 0 ||
	    epoll_ctl(c->pollfd, EPOLL_CTL_ADD, c->sock, &es) < 0) {
		r = -errno;
		snprintf(err, errlen, "epoll_ctl: %s", strerror(-r));
		goto fail;
	}
	*out = c;
	return 0;
fail:
	bk_disconnect(c);
	return r;
}

BKC_API int bk_connect_error(const char *socket_path, const bk_options *opts, bk_client **out, char *err,
			    size_t errlen)
{
	char local[512];
	if (!err || errlen == 0) {
		err = local;
		errlen = sizeof(local);
	}
	err[0] = 0;
	int r = do_connect(socket_path, opts, out, err, errlen);
	if (r < 0 && !err[0])
		snprintf(err, errlen, "%s", bk_strerror(r));
	return r;
}

BKC_API int bk_connect(const char *socket_path, const bk_options *opts, bk_client **out)
{
	return bk_connect_error(socket_path, opts, out, NULL, 0);
}

BKC_API void bk_disconnect(bk_client *c)
{
	if (!c)
		return;
	/* Closing the socket tells the broker to cancel what is in flight and free the region. */
	if (c->sock >= 0)
		close(c->sock);
	if (c->pollfd >= 0)
		close(c->pollfd);
	if (c->efd >= 0)
		close(c->efd);
	if (c->broker_efd >= 0)
		close(c->broker_efd);
	bkc_bufs_fini(c);
	bkc_region_unmap(&c->v);
	free(c->futures);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->sock_lock);
	pthread_mutex_destroy(&c->buf_lock);
	free(c);
}
