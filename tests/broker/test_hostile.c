// SPDX-License-Identifier: MIT
/*
 * test_hostile.c - brokerd against clients that break the protocol, spoken
 * raw (wire.h + ring.h + region_map.h): impossible ring indices drop that
 * connection with a logged reason while a well-behaved client keeps working;
 * bad entries complete with -EINVAL and the connection is kept; malformed
 * control messages get a RESULT or a disconnect; refused handshakes name
 * the reason.  Nothing here may crash or hang brokerd.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/ring.h"
#include "broker/sys.h"
#include "bt_util.h"
#include "region_map.h"

struct raw {
	int fd;
	int wake_efd;
	struct bk_region_view v;
	struct bk_msg_hello_reply rep;
	uint32_t seq;
};

static int raw_socket(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_true(n > 0 && (size_t)n < sizeof(sa.sun_path)); /* a cut path would name another socket */
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Receive one datagram (and up to 2 fds) within 5 s; returns its length, 0 on hang-up. */
static ssize_t raw_recv(int fd, void *buf, size_t cap, int *fds, int *nfds)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 5000) != 1)
		fail_msg("no message from brokerd within 5 s");
	ssize_t n = bk_recv_fds(fd, buf, cap, fds, fds ? 2 : 0, nfds);
	if (n == -ECONNRESET)
		n = 0;
	assert_true(n >= 0);
	return n;
}

static void raw_send(int fd, const void *msg, size_t len)
{
	assert_int_equal(send(fd, msg, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* HELLO; on status 0 map the region.  Returns the reply status. */
static int raw_hello(struct raw *r, const char *path, uint16_t abi_major, const struct bk_geometry *geo)
{
	memset(r, 0, sizeof(*r));
	r->wake_efd = -1;
	r->fd = raw_socket(path);
	struct bk_msg_hello h = { .h = { .magic = BK_WIRE_MAGIC, .type = BK_MSG_HELLO, .len = sizeof(h), .seq = 1 },
				  .abi_major = abi_major,
				  .abi_minor = BK_ABI_MINOR,
				  .layout_hash = BK_LAYOUT_HASH };
	if (geo)
		h.geo = *geo;
	raw_send(r->fd, &h, sizeof(h));
	int fds[2], nfds = 0;
	ssize_t n = raw_recv(r->fd, &r->rep, sizeof(r->rep), fds, &nfds);
	assert_int_equal(n, sizeof(r->rep));
	assert_int_equal(r->rep.h.type, BK_MSG_HELLO_REPLY);
	if (r->rep.status != 0) {
		assert_int_equal(nfds, 0);
		return r->rep.status;
	}
	assert_true(nfds >= 1);
	char err[256];
	assert_int_equal(bkc_region_map(fds[0], &r->v, err, sizeof(err)), 0);
	close(fds[0]);
	if (nfds == 2)
		r->wake_efd = fds[1];
	return 0;
}

static void raw_close(struct raw *r)
{
	if (r->v.base)
		bkc_region_unmap(&r->v);
	if (r->wake_efd >= 0)
		close(r->wake_efd);
	close(r->fd);
}

/* Wake the broker whichever way the region says (it may be asleep on our SQ). */
static void raw_kick(struct raw *r)
{
	bk_ring_wake_bump(r->v.sq_ctl);
	bk_futex_wake(&r->v.sq_ctl->wake_seq, INT32_MAX);
	if (r->wake_efd >= 0) {
		uint64_t one = 1;
		assert_int_equal(write(r->wake_efd, &one, sizeof(one)), sizeof(one));
	}
}

static uint32_t raw_lookup(struct raw *r, const char *name)
{
	struct bk_msg_lookup m = { .h = { .magic = BK_WIRE_MAGIC, .type = BK_MSG_LOOKUP, .len = sizeof(m), .seq = 7 } };
	snprintf(m.name, sizeof(m.name), "%s", name);
	raw_send(r->fd, &m, sizeof(m));
	struct bk_msg_lookup_reply rep;
	assert_int_equal(raw_recv(r->fd, &rep, sizeof(rep), NULL, NULL), sizeof(rep));
	assert_int_equal(rep.h.seq, 7);
	assert_int_equal(rep.status, 0);
	return rep.fn;
}

/* Wait (bounded) for slot's done_gen to reach gen; returns its status. */
static int32_t raw_wait_slot(struct raw *r, uint32_t slot, uint32_t gen)
{
	int64_t deadline = bk_now_ns() + 5 * BT_SEC;
	struct bk_slot *s = &r->v.slots[slot];
	while (atomic_load_explicit(&s->done_gen, memory_order_acquire) != gen) {
		if (bk_now_ns() > deadline)
			fail_msg("slot %u gen %u did not complete within 5 s", slot, gen);
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	return __atomic_load_n(&s->status, __ATOMIC_RELAXED);
}

static void raw_submit(struct raw *r, const struct bk_sqe *e)
{
	struct bk_sq_producer p;
	bk_sq_producer_init(&p, r->v.sq_ctl, r->v.sq, r->v.geo.sq_entries);
	assert_true(bk_sq_producer_space(&p) >= 1);
	bk_sq_producer_write(&p, 0, e);
	bk_sq_producer_publish(&p, 1);
	raw_kick(r);
}

static void good_client_works(bk_client *c)
{
	char out[16];
	size_t n = 0;
	assert_int_equal(bt_call(c, bt_lookup(c, "echo.upper"), "still ok", 8, out, sizeof(out), &n), 0);
	assert_int_equal(n, 8);
	assert_memory_equal(out, "STILL OK", 8);
}

static void hostile_indices(const char *const *extra)
{
	struct bkt_brokerd b;
	bt_start(&b, extra);
	bk_client *good = bt_connect(b.socket);
	good_client_works(good);

	struct raw r;
	assert_int_equal(raw_hello(&r, b.socket, BK_ABI_MAJOR, NULL), 0);
	/* A tail far beyond the ring's capacity: impossible, so the connection must go. */
	uint32_t head = atomic_load_explicit(&r.v.sq_ctl->head, memory_order_acquire);
	atomic_store_explicit(&r.v.sq_ctl->tail, head + 100000u, memory_order_release);
	raw_kick(&r);
	char buf[256];
	ssize_t n;
	do /* a BYE could come first only at shutdown; anything else would be a reply we never asked for */
		n = raw_recv(r.fd, buf, sizeof(buf), NULL, NULL);
	while (n > 0);
	assert_int_equal(n, 0); /* hung up by brokerd */
	assert_int_equal(bt_log_wait(&b, "protocol violation, disconnecting", 5 * BT_SEC), 0);
	assert_true(bt_log_count(&b, "SQ tail") >= 1);
	raw_close(&r);

	good_client_works(good);
	struct bk_msg_status_reply st;
	bt_status(b.socket, &st);
	assert_true(st.violations >= 1);
	assert_int_equal(st.inflight, 0);
	bk_disconnect(good);
	assert_int_equal(bk_test_broker_stop(&b), 0);
	bk_test_broker_cleanup(&b);
}

static void test_garbage_indices(void **state)
{
	(void)state;
	hostile_indices(NULL);
}

static void test_garbage_indices_eventfd(void **state)
{
	(void)state;
	static const char *const extra[] = { "--no-futex", NULL };
	hostile_indices(extra);
}

static void test_bad_entries_kept(void **state)
{
	(void)state;
	struct bkt_brokerd b;
	bt_start(&b, NULL);
	struct raw r;
	struct bk_geometry g = { .sq_entries = 16, .nslots = 16, .slot_inline = 64, .large_size = 0 };
	assert_int_equal(raw_hello(&r, b.socket, BK_ABI_MAJOR, &g), 0);
	uint32_t echo = raw_lookup(&r, "echo.echo");
	uint32_t inl = r.v.geo.slot_inline;

	/* Slot out of range: no slot to complete, logged and dropped. */
	struct bk_sqe e = { .op = BK_OP_CALL, .fn = echo, .slot = r.v.geo.nslots + 5, .gen = 1 };
	raw_submit(&r, &e);
	/* Argument past the arena: completes with -EINVAL. */
	e = (struct bk_sqe){ .op = BK_OP_CALL, .fn = echo, .slot = 3, .gen = 11,
			     .arg_off = (uint32_t)r.v.layout.arena_size, .arg_len = 16, .res_off = 3 * inl,
			     .res_cap = inl };
	raw_submit(&r, &e);
	assert_int_equal(raw_wait_slot(&r, 3, 11), -EINVAL);
	/* Unknown opcode: -EINVAL too. */
	e = (struct bk_sqe){ .op = 77, .slot = 5, .gen = 2 };
	raw_submit(&r, &e);
	assert_int_equal(raw_wait_slot(&r, 5, 2), -EINVAL);

	/* The connection is still served: a valid call echoes. */
	memcpy(r.v.arena + 4 * inl, "raw bytes", 9);
	e = (struct bk_sqe){ .op = BK_OP_CALL, .fn = echo, .slot = 4, .gen = 21, .arg_off = 4 * inl, .arg_len = 9,
			     .res_off = 6 * inl, .res_cap = inl };
	raw_submit(&r, &e);
	assert_int_equal(raw_wait_slot(&r, 4, 21), 0);
	assert_int_equal(r.v.slots[4].res_len, 9);
	assert_memory_equal(r.v.arena + 6 * inl, "raw bytes", 9);
	/* A result buffer too small: -ENOBUFS with the size needed. */
	e = (struct bk_sqe){ .op = BK_OP_CALL, .fn = echo, .slot = 7, .gen = 1, .arg_off = 4 * inl, .arg_len = 9,
			     .res_off = 6 * inl, .res_cap = 4 };
	raw_submit(&r, &e);
	assert_int_equal(raw_wait_slot(&r, 7, 1), -ENOBUFS);
	assert_int_equal(r.v.slots[7].res_len, 9);

	assert_int_equal(bt_log_wait(&b, "bad submission", 5 * BT_SEC), 0);
	assert_int_equal(bt_log_count(&b, "disconnecting"), 0);
	raw_close(&r);
	assert_int_equal(bk_test_broker_stop(&b), 0);
	bk_test_broker_cleanup(&b);
}

/*
 * A client that never reaps its CQ (legal: it may reuse a slot as soon as
 * done_gen says so) must cost the broker neither memory nor a busy loop:
 * once the CQ and the broker's private backlog (one completion per slot) are
 * full, further submissions stay in the SQ, other clients are served, and
 * everything moves again as soon as the client reaps.
 */
static void post_round(struct raw *r, uint32_t fn, uint32_t gen)
{
	struct bk_sq_producer p;
	bk_sq_producer_init(&p, r->v.sq_ctl, r->v.sq, r->v.geo.sq_entries);
	uint32_t n = r->v.geo.nslots, inl = r->v.geo.slot_inline;
	assert_true(bk_sq_producer_space(&p) >= n);
	for (uint32_t i = 0; i < n; i++) {
		struct bk_sqe e = { .op = BK_OP_CALL, .fn = fn, .slot = i, .gen = gen, .res_off = i * inl, .res_cap = inl };
		bk_sq_producer_write(&p, i, &e);
	}
	bk_sq_producer_publish(&p, n);
	raw_kick(r);
}

/* Claim every published cqe and check they are one full round of gen, slot by slot. */
static void reap_round(struct raw *r, uint32_t gen)
{
	struct bk_cq_consumer cq;
	bk_cq_consumer_init(&cq, r->v.cq_ctl, r->v.cq, r->v.geo.cq_entries);
	struct bk_cqe e[64];
	uint32_t n = r->v.geo.nslots, got = 0;
	int64_t deadline = bk_now_ns() + 5 * BT_SEC;
	while (got < n) {
		unsigned k = bk_cq_consumer_reap(&cq, e + got, n - got);
		got += k;
		if (k == 0 && bk_now_ns() > deadline)
			fail_msg("only %u of %u completions of gen %u reached the CQ within 5 s", got, n, gen);
		if (k == 0) {
			struct timespec ts = { 0, 1000000 }; /* polling a deadline-bounded wait */
			nanosleep(&ts, NULL);
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		assert_int_equal(e[i].gen, gen);
		assert_int_equal(e[i].status, 0);
	}
}

static void test_cq_backlog(void **state)
{
	(void)state;
	struct bkt_brokerd b;
	const char *const extra[] = { "--workers", "1", NULL };
	bt_start(&b, extra);
	struct raw r;
	struct bk_geometry g = { .sq_entries = 32, .nslots = 8, .slot_inline = 64 };
	assert_int_equal(raw_hello(&r, b.socket, BK_ABI_MAJOR, &g), 0);
	assert_int_equal(r.v.geo.cq_entries, 8);
	uint32_t noop = raw_lookup(&r, "echo.noop");
	uint32_t n = r.v.geo.nslots;

	/* Round 1 fills the CQ, round 2 the broker's backlog; the client reaps nothing. */
	for (uint32_t gen = 1; gen <= 2; gen++) {
		post_round(&r, noop, gen);
		for (uint32_t i = 0; i < n; i++)
			assert_int_equal(raw_wait_slot(&r, i, gen), 0);
	}
	/* Round 3 cannot be taken: it would need a completion that has nowhere to go. */
	post_round(&r, noop, 3);
	bk_client *c = bt_connect(b.socket);
	good_client_works(c); /* the same (only) worker keeps serving others meanwhile */
	struct bk_msg_status_reply st;
	bt_status(b.socket, &st);
	assert_int_equal(st.inflight, 0);
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(atomic_load_explicit(&r.v.slots[i].done_gen, memory_order_acquire), 2);
	uint32_t head = atomic_load_explicit(&r.v.sq_ctl->head, memory_order_acquire);
	uint32_t tail = atomic_load_explicit(&r.v.sq_ctl->tail, memory_order_relaxed);
	assert_int_equal(tail - head, n); /* round 3 still waits in the SQ, untouched */

	/* Reaping lets the backlog into the CQ and round 3 through, without any further kick from us. */
	reap_round(&r, 1);
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(raw_wait_slot(&r, i, 3), 0);
	reap_round(&r, 2);
	reap_round(&r, 3);
	assert_int_equal(bt_log_count(&b, "disconnecting"), 0);

	bk_disconnect(c);
	raw_close(&r);
	assert_int_equal(bk_test_broker_stop(&b), 0);
	bk_test_broker_cleanup(&b);
}

static void test_bad_control(void **state)
{
	(void)state;
	struct bkt_brokerd b;
	bt_start(&b, NULL);
	char buf[512];

	/* ABI major mismatch: refused with both versions named. */
	struct raw r;
	assert_int_equal(raw_hello(&r, b.socket, 9, NULL), BK_EVERSION);
	char want[32];
	snprintf(want, sizeof(want), "client 9.%u", BK_ABI_MINOR);
	assert_non_null(strstr(r.rep.error, want));
	snprintf(want, sizeof(want), "brokerd %u.%u", BK_ABI_MAJOR, BK_ABI_MINOR);
	assert_non_null(strstr(r.rep.error, want));
	raw_close(&r);

	/* Oversized geometry: a clear error, no crash. */
	struct bk_geometry huge = { .sq_entries = 1u << 20 };
	assert_int_equal(raw_hello(&r, b.socket, BK_ABI_MAJOR, &huge), -EINVAL);
	assert_non_null(strstr(r.rep.error, "beyond limits"));
	raw_close(&r);
	struct bk_geometry big_large = { .large_size = 4ull << 30 };
	assert_int_equal(raw_hello(&r, b.socket, BK_ABI_MAJOR, &big_large), -EINVAL);
	raw_close(&r);

	/* Garbage datagram: disconnected. */
	int fd = raw_socket(b.socket);
	raw_send(fd, "xyz", 3);
	assert_int_equal(raw_recv(fd, buf, sizeof(buf), NULL, NULL), 0);
	close(fd);

	/* A request before HELLO: disconnected. */
	fd = raw_socket(b.socket);
	struct bk_msg_hdr st = { .magic = BK_WIRE_MAGIC, .type = BK_MSG_STATUS, .len = sizeof(st), .seq = 1 };
	raw_send(fd, &st, sizeof(st));
	assert_int_equal(raw_recv(fd, buf, sizeof(buf), NULL, NULL), 0);
	close(fd);

	/* After HELLO: unknown type and wrong sizes get RESULT -EINVAL, and the connection stays. */
	assert_int_equal(raw_hello(&r, b.socket, BK_ABI_MAJOR, NULL), 0);
	struct bk_msg_hdr unk = { .magic = BK_WIRE_MAGIC, .type = 99, .len = sizeof(unk), .seq = 2 };
	raw_send(r.fd, &unk, sizeof(unk));
	struct bk_msg_result res;
	assert_int_equal(raw_recv(r.fd, &res, sizeof(res), NULL, NULL), sizeof(res));
	assert_int_equal(res.h.type, BK_MSG_RESULT);
	assert_int_equal(res.h.seq, 2);
	assert_int_equal(res.status, -EINVAL);
	uint8_t longer[40] = { 0 };
	struct bk_msg_hdr lh = { .magic = BK_WIRE_MAGIC, .type = BK_MSG_STATUS, .len = sizeof(longer), .seq = 3 };
	memcpy(longer, &lh, sizeof(lh));
	raw_send(r.fd, longer, sizeof(longer));
	assert_int_equal(raw_recv(r.fd, &res, sizeof(res), NULL, NULL), sizeof(res));
	assert_int_equal(res.status, -EINVAL);
	(void)raw_lookup(&r, "echo.noop"); /* still answered: raw_lookup asserts status 0 */
	raw_close(&r);

	struct bk_msg_status_reply s;
	bt_status(b.socket, &s);
	assert_int_equal(s.inflight, 0);
	assert_int_equal(bk_test_broker_stop(&b), 0);
	bk_test_broker_cleanup(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_garbage_indices),
		cmocka_unit_test(test_garbage_indices_eventfd),
		cmocka_unit_test(test_bad_entries_kept),
		cmocka_unit_test(test_bad_control),
		cmocka_unit_test(test_cq_backlog),
	};
	return cmocka_run_group_tests_name("brokerd against hostile clients", tests, NULL, NULL);
}
