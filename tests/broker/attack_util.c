// SPDX-License-Identifier: MIT
/*
 * attack_util.c - the helpers of attack_util.h.
 */
#include "attack_util.h"

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/errors.h"
#include "broker/sys.h"
#include "broker/wire.h"
#include "region_map.h"

/* Connect, send a HELLO (passing fd when >= 0) and take its reply and descriptors; the socket. */
static int hello_exchange(const char *socket_path, const struct bk_geometry *geo, int fd,
			  struct bk_msg_hello_reply *rep, int *fds, int *nfds)
{
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", socket_path);
	assert_true(n > 0 && (size_t)n < sizeof(sa.sun_path));
	assert_int_equal(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct bk_msg_hello h = { .h = { .magic = BK_WIRE_MAGIC, .type = BK_MSG_HELLO, .len = sizeof(h), .seq = 1 },
				  .abi_major = BK_ABI_MAJOR,
				  .abi_minor = BK_ABI_MINOR,
				  .layout_hash = BK_LAYOUT_HASH,
				  .flags = fd >= 0 ? BK_HELLO_EVENTFD : 0 };
	if (geo)
		h.geo = *geo;
	assert_int_equal(bk_send_fds(s, &h, sizeof(h), &fd, fd >= 0 ? 1 : 0), (ssize_t)sizeof(h));
	struct pollfd p = { .fd = s, .events = POLLIN };
	if (poll(&p, 1, 5000) != 1)
		fail_msg("no HELLO reply within 5 s");
	assert_int_equal(bk_recv_fds(s, rep, sizeof(*rep), fds, 4, nfds), (ssize_t)sizeof(*rep));
	assert_int_equal(rep->h.type, BK_MSG_HELLO_REPLY);
	return s;
}

int at_raw_hello(const char *socket_path, const struct bk_geometry *geo, int fd, char *why, size_t whylen, int *sock)
{
	struct bk_msg_hello_reply rep;
	int fds[4], nfds = 0;
	int s = hello_exchange(socket_path, geo, fd, &rep, fds, &nfds);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (why)
		snprintf(why, whylen, "%.*s", (int)sizeof(rep.error), rep.error);
	if (sock)
		*sock = s;
	else
		close(s);
	return rep.status;
}

void at_raw_open(struct at_raw *r, const char *socket_path, const struct bk_geometry *geo)
{
	memset(r, 0, sizeof(*r));
	r->wake_efd = -1;
	struct bk_msg_hello_reply rep;
	int fds[4], nfds = 0;
	r->sock = hello_exchange(socket_path, geo, -1, &rep, fds, &nfds);
	assert_int_equal(rep.status, 0);
	assert_true(nfds >= 1 && nfds <= 2);
	char err[256];
	assert_int_equal(bkc_region_map(fds[0], &r->v, err, sizeof(err)), 0);
	close(fds[0]);
	if (nfds == 2)
		r->wake_efd = fds[1];
}

void at_raw_submit(struct at_raw *r, const struct bk_sqe *e)
{
	struct bk_sq_producer p;
	bk_sq_producer_init(&p, r->v.sq_ctl, r->v.sq, r->v.geo.sq_entries);
	assert_true(bk_sq_producer_space(&p) >= 1);
	bk_sq_producer_write(&p, 0, e);
	bk_sq_producer_publish(&p, 1);
	bk_ring_wake_bump(r->v.sq_ctl);
	bk_futex_wake(&r->v.sq_ctl->wake_seq, INT32_MAX);
	if (r->wake_efd >= 0) {
		uint64_t one = 1;
		assert_int_equal(write(r->wake_efd, &one, sizeof(one)), (ssize_t)sizeof(one));
	}
}

void at_raw_close(struct at_raw *r)
{
	if (r->v.base)
		bkc_region_unmap(&r->v);
	if (r->wake_efd >= 0)
		close(r->wake_efd);
	close(r->sock);
}

void at_lat_init(struct at_lat *l, size_t cap)
{
	l->ns = calloc(cap, sizeof(*l->ns));
	assert_non_null(l->ns);
	l->n = 0;
	l->cap = cap;
}

void at_lat_add(struct at_lat *l, int64_t ns)
{
	if (l->n < l->cap)
		l->ns[l->n++] = ns;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

double at_lat_pct_us(struct at_lat *l, double p)
{
	if (!l->n)
		return 0;
	qsort(l->ns, l->n, sizeof(*l->ns), cmp_i64);
	size_t i = (size_t)(p / 100.0 * (double)(l->n - 1) + 0.5);
	return (double)l->ns[i] / 1000.0;
}

void at_lat_free(struct at_lat *l)
{
	free(l->ns);
	l->ns = NULL;
}

int64_t at_timed_call(bk_client *c, bk_fn fn, const void *arg, size_t len, int64_t timeout_ns, int *status)
{
	bk_future *f = NULL;
	int64_t t0 = bk_now_ns();
	int r = bk_submit(c, fn, arg, len, &f);
	if (r < 0)
		fail_msg("bystander's bk_submit: %s", bk_strerror(r));
	r = bk_wait(f, timeout_ns);
	int64_t dt = bk_now_ns() - t0;
	if (r == -ETIMEDOUT) {
		/* Lost for the figures; cancelled, and left to bk_disconnect (a stuck broker may never end it). */
		bk_cancel(f);
		return -1;
	}
	if (r < 0)
		fail_msg("bystander's bk_wait: %s", bk_strerror(r));
	if (status)
		*status = bk_result(f, NULL, NULL);
	bk_release(f);
	return dt;
}

void at_figures(const char *name, struct at_lat *l, long rss0_kib, long rss1_kib, const char *extra)
{
	double p50 = at_lat_pct_us(l, 50), p99 = at_lat_pct_us(l, 99);
	printf("FIGURES %s%s: bystander p50 %.0f us p99 %.0f us (%zu calls), brokerd RSS %.1f -> %.1f MiB%s%s\n", name,
	       AT_SANITIZED ? " (sanitized)" : "", p50, p99, l->n, (double)rss0_kib / 1024.0, (double)rss1_kib / 1024.0,
	       extra ? ", " : "", extra ? extra : "");
	fflush(stdout);
}

uint32_t at_settled_fds(const char *socket)
{
	struct bk_msg_status_reply st;
	int64_t deadline = bk_now_ns() + 10 * BT_SEC;
	for (;;) {
		bt_status(socket, &st);
		if (st.connections == 1 && st.inflight == 0)
			return st.open_fds;
		if (bk_now_ns() > deadline)
			fail_msg("brokerd still has %u connection(s), %llu task(s) after 10 s", st.connections,
				 (unsigned long long)st.inflight);
		struct timespec ts = { 0, 2000000 };
		nanosleep(&ts, NULL);
	}
}
