// SPDX-License-Identifier: MIT
/*
 * connect.c - bk_connect and bk_disconnect: the HELLO handshake of wire.h.
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
#include <sys/mman.h>
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

/* bkc_recv's result n for the HELLO reply: 0 when a well-formed reply to seq arrived, else why not. */
static int hello_reply_received(int n, const struct bk_msg_hello_reply *rep, uint32_t seq, char *err, size_t errlen)
{
	if (n == -ETIMEDOUT) {
		snprintf(err, errlen, "no HELLO reply within %d ms: the socket does not answer like a brokerd",
			 BKC_REPLY_TIMEOUT_MS);
		return BK_ENOTBROKER;
	}
	if (n == 0) {
		snprintf(err, errlen, "the peer closed the connection without a HELLO reply: not a brokerd?");
		return BK_ENOTBROKER;
	}
	if (n < 0 && n != -EMSGSIZE) {
		snprintf(err, errlen, "receiving HELLO reply: %s", strerror(-n));
		return n;
	}
	if (n < 0 || !bkc_hdr_ok(&rep->h, (size_t)n, BK_MSG_HELLO_REPLY, sizeof(*rep)) || rep->h.seq != seq) {
		snprintf(err, errlen, "the peer answered HELLO with something that is not a brokerd reply (%d bytes)",
			 n);
		return BK_ENOTBROKER;
	}
	return 0;
}

/* A well-formed HELLO reply that came with nfds fds: 0 when brokerd accepted us and sent a region. */
static int hello_reply_accepted(bk_client *c, struct bk_msg_hello_reply *rep, int nfds, char *err, size_t errlen)
{
	rep->error[sizeof(rep->error) - 1] = 0;
	if (rep->status != 0) {
		char tmp[400];
		snprintf(tmp, sizeof(tmp), "brokerd (ABI %u.%u, layout %016" PRIx64 ") refused the connection "
			 "(library ABI %u.%u, layout %016" PRIx64 "): %s",
			 rep->abi_major, rep->abi_minor, rep->layout_hash, BK_ABI_MAJOR, BK_ABI_MINOR,
			 (uint64_t)BK_LAYOUT_HASH, rep->error[0] ? rep->error : strerror(-rep->status));
		set_err(err, errlen, "%s", tmp);
		return is_our_code(rep->status) ? rep->status : BK_EREFUSED;
	}
	if (rep->abi_major != BK_ABI_MAJOR) {
		snprintf(err, errlen, "brokerd speaks ABI %u.%u, this library %u.%u", rep->abi_major, rep->abi_minor,
			 BK_ABI_MAJOR, BK_ABI_MINOR);
		return BK_EVERSION;
	}
	if (rep->layout_hash != BK_LAYOUT_HASH) {
		snprintf(err, errlen, "brokerd region layout %016" PRIx64 ", this library %016" PRIx64 " (ABI %u.%u)",
			 rep->layout_hash, (uint64_t)BK_LAYOUT_HASH, BK_ABI_MAJOR, BK_ABI_MINOR);
		return BK_ELAYOUT;
	}
	if (nfds < 1) {
		snprintf(err, errlen, "brokerd's HELLO reply carried no region fd");
		return BK_EPROTOCOL;
	}
	c->conn_id = rep->conn_id;
	c->features = rep->features;
	return 0;
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
	r = hello_reply_received(n, &u->rep, h.h.seq, err, errlen);
	if (r == 0)
		r = hello_reply_accepted(c, &u->rep, *nfds, err, errlen);
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
	/* Anonymous pages read as zeros and cost nothing until a future is first used (submit.c takes fresh
	 * ones only when no released one waits): an app touches the futures it has in flight, not nslots. */
	size_t bytes = (size_t)n * sizeof(*c->futures);
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	c->futures = p;
	c->futures_bytes = bytes;
	c->free_head = UINT32_MAX;
	c->fresh = 0;
	c->nfree = n;
	bk_sq_producer_init(&c->sq, c->v.sq_ctl, c->v.sq, c->v.geo.sq_entries);
	bk_cq_consumer_init(&c->cq, c->v.cq_ctl, c->v.cq, c->v.geo.cq_entries);
	return bkc_bufs_init(c);
}

/* The caller's options over the defaults: a size field older or newer than ours is fine, nonsense is not. */
static int read_options(const bk_options *opts, bk_options *o, char *err, size_t errlen)
{
	bk_options_init(o);
	if (!opts)
		return 0;
	if (opts->size < offsetof(bk_options, flags) || opts->size > 4096) {
		snprintf(err, errlen, "bk_options.size %u is not sizeof(bk_options): use bk_options_init", opts->size);
		return -EINVAL;
	}
	memcpy(o, opts, opts->size < sizeof(*o) ? opts->size : sizeof(*o));
	return 0;
}

/*
 * The geometry to ask for: exactly what the user asked (0 = the broker's
 * default), since the broker clamps the same way; only checked here so that
 * impossible options fail before any socket is opened.
 */
static int request_geometry(const bk_options *o, struct bk_geometry *req, char *err, size_t errlen)
{
	*req = (struct bk_geometry){
		.sq_entries = o->sq_entries,
		.nslots = o->max_inflight,
		.slot_inline = o->inline_size,
		.large_size = o->zero_copy_size,
	};
	struct bk_geometry geo;
	if (bk_geometry_clamp(req, BK_ARENA_MAX, &geo) < 0) {
		snprintf(err, errlen, "options beyond limits (ring <= %u, in flight <= %u, inline <= %u, arena <= %u)",
			 BK_RING_MAX, BK_SLOTS_MAX, BK_INLINE_MAX, BK_ARENA_MAX);
		return -EINVAL;
	}
	return 0;
}

/* A handle owning nothing yet (every fd -1), so bk_disconnect can undo any later step. */
static bk_client *client_new(const bk_options *o)
{
	bk_client *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->sock = c->efd = c->pollfd = c->broker_efd = -1;
	c->spin_ns = o->spin_ns;
	atomic_init(&c->wait_ewma_ns, BKC_SPIN_DEFAULT_NS / 2);
	bkc_spin_init(c);
	atomic_init(&c->last_gone_poll_ns, INT64_MIN / 4); /* long ago, without overflow in now - last */
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->sock_lock, NULL);
	pthread_mutex_init(&c->buf_lock, NULL);
	return c;
}

/*
 * Our eventfd, the socket, the handshake and the region mapping.  Every fd
 * received is either kept in c (freed by bk_disconnect) or closed here.
 */
static int open_session(bk_client *c, const char *socket_path, const struct bk_geometry *req, char *err,
			size_t errlen)
{
	c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->efd < 0) {
		int r = -errno;
		snprintf(err, errlen, "eventfd: %s", strerror(-r));
		return r;
	}
	int r = bkc_socket_connect(socket_path, err, errlen);
	if (r < 0)
		return r;
	c->sock = r;
	int fds[2] = {-1, -1}, nfds = 0;
	r = handshake(c, req, fds, &nfds, err, errlen);
	if (r < 0)
		return r;
	r = bkc_region_map(fds[0], &c->v, err, errlen);
	close(fds[0]); /* the mapping keeps the memory */
	if (nfds > 1) {
		if (c->features & BK_FEAT_SQ_EVENTFD)
			c->broker_efd = fds[1];
		else
			close(fds[1]);
	}
	if (r < 0)
		return r;
	if ((c->features & BK_FEAT_SQ_EVENTFD) && !(c->features & BK_FEAT_SQ_FUTEX) && c->broker_efd < 0) {
		snprintf(err, errlen, "brokerd wants eventfd wake-ups but sent no eventfd");
		return BK_EPROTOCOL;
	}
	return 0;
}

/* bk_fd is an epoll set so that it also turns readable when the broker hangs up or says BYE. */
static int setup_pollfd(bk_client *c, char *err, size_t errlen)
{
	c->pollfd = epoll_create1(EPOLL_CLOEXEC);
	if (c->pollfd < 0) {
		int r = -errno;
		snprintf(err, errlen, "epoll_create1: %s", strerror(-r));
		return r;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 0};
	struct epoll_event es = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = 1};
	if (epoll_ctl(c->pollfd, EPOLL_CTL_ADD, c->efd, &ev) < 0 ||
	    epoll_ctl(c->pollfd, EPOLL_CTL_ADD, c->sock, &es) < 0) {
		int r = -errno;
		snprintf(err, errlen, "epoll_ctl: %s", strerror(-r));
		return r;
	}
	return 0;
}

static int do_connect(const char *socket_path, const bk_options *opts, bk_client **out, char *err, size_t errlen)
{
	if (!out) {
		snprintf(err, errlen, "out is NULL");
		return -EINVAL;
	}
	*out = NULL;
	bk_options o;
	int r = read_options(opts, &o, err, errlen);
	if (r < 0)
		return r;
	char path[256];
	if (!socket_path) {
		if (bk_default_socket_path(path, sizeof(path)) < 0) {
			snprintf(err, errlen, "default socket path is too long");
			return -ENAMETOOLONG;
		}
		socket_path = path;
	}
	struct bk_geometry req;
	r = request_geometry(&o, &req, err, errlen);
	if (r < 0)
		return r;

	bk_client *c = client_new(&o);
	if (!c)
		return -ENOMEM;
	r = open_session(c, socket_path, &req, err, errlen);
	if (r == 0 && (r = setup_rings(c)) < 0)
		snprintf(err, errlen, "out of memory");
	if (r == 0)
		r = setup_pollfd(c, err, errlen);
	if (r < 0) {
		bk_disconnect(c); /* undoes whichever steps were done: see client_new */
		return r;
	}
	*out = c;
	return 0;
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
	bkc_spin_fini(c);
	bkc_bufs_fini(c);
	bkc_region_unmap(&c->v);
	if (c->futures)
		munmap(c->futures, c->futures_bytes);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->sock_lock);
	pthread_mutex_destroy(&c->buf_lock);
	free(c);
}
