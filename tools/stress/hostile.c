// SPDX-License-Identifier: MIT
/*
 * hostile.c - broker-stress's hostile client processes, run beside the
 * honest ones.  They speak the wire protocol and the rings themselves
 * (wire.h, proto.h, ring.h), not through libbkclient, so they can do what
 * libbkclient never does:
 *   garbage   random SQEs and impossible tails: brokerd drops the
 *             connection (a protocol violation), the client connects again
 *   flood     valid calls of a function id that does not exist, as fast as
 *             the SQ takes them, reaping the -ENOENT answers, plus a LOOKUP
 *             flood on the control socket
 *   slow      fills the SQ with sleeps and never reaps the CQ for a while
 *             (back-pressure), then hangs up with everything in flight
 * Their results are not checked (brokerd owes them nothing but to stay up);
 * what is checked is that the honest clients beside them are served.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "broker/proto.h"
#include "broker/ring.h"
#include "broker/sys.h"
#include "broker/wire.h"
#include "stress.h"
#include "util.h"

const char *const stress_hostile_names[HOSTILE_NKINDS] = { "garbage", "flood", "slow" };

struct raw {
	int sock;
	struct bk_region_view v;
	struct bk_sq_producer sq;
	uint32_t cq_head;
};

static int raw_connect(const char *path, struct raw *r)
{
	memset(r, 0, sizeof(*r));
	errno = 0;
	r->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (r->sock < 0)
		return -errno;
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	struct timeval tv = { .tv_sec = 5 };
	struct bk_msg_hello m = {
		.h = { .magic = BK_WIRE_MAGIC, .type = BK_MSG_HELLO, .len = sizeof(m), .seq = 1 },
		.abi_major = BK_ABI_MAJOR,
		.abi_minor = BK_ABI_MINOR,
		.layout_hash = BK_LAYOUT_HASH,
		.geo = { .sq_entries = 64, .nslots = 64, .slot_inline = 64, .large_size = 4096 },
	};
	struct bk_msg_hello_reply rep;
	int fds[2], nfds = 0;
	if (connect(r->sock, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    setsockopt(r->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 || bk_send_fds(r->sock, &m, sizeof(m), NULL, 0) < 0 ||
	    bk_recv_fds(r->sock, &rep, sizeof(rep), fds, 2, &nfds) != (ssize_t)sizeof(rep)) {
		int e = errno ? -errno : -EPROTO;
		close(r->sock);
		return e;
	}
	for (int i = 1; i < nfds; i++)
		close(fds[i]);
	if (rep.status != 0 || nfds < 1) {
		if (nfds)
			close(fds[0]);
		close(r->sock);
		return rep.status ? rep.status : -EPROTO;
	}
	void *base = mmap(NULL, rep.region_size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	close(fds[0]);
	if (base == MAP_FAILED) {
		close(r->sock);
		return -ENOMEM;
	}
	/* Our own build's layout for the header's geometry (a hostile client need not validate more). */
	const struct bk_region_hdr *h = base;
	struct bk_geometry g = { h->sq_entries, h->cq_entries, h->nslots, h->slot_inline, h->large_size };
	struct bk_layout l;
	bk_layout_compute(&g, &l);
	bk_region_view_bind(&r->v, base, &g, &l);
	bk_sq_producer_init(&r->sq, r->v.sq_ctl, r->v.sq, g.sq_entries);
	r->cq_head = atomic_load_explicit(&r->v.cq_ctl->head, memory_order_relaxed);
	return 0;
}

static void raw_close(struct raw *r)
{
	if (r->v.base)
		munmap(r->v.base, r->v.size);
	close(r->sock);
}

static void raw_wake(struct raw *r)
{
	if (bk_ring_wake_needed(r->v.sq_ctl)) {
		bk_ring_wake_bump(r->v.sq_ctl);
		bk_futex_wake(&r->v.sq_ctl->wake_seq, 1);
	}
}

/* Reap every completion there is (the entries are not looked at). */
static unsigned raw_reap(struct raw *r)
{
	uint32_t tail = atomic_load_explicit(&r->v.cq_ctl->tail, memory_order_acquire);
	unsigned n = tail - r->cq_head;
	if (n > r->v.geo.cq_entries)
		n = 0; /* not our problem: the broker is the one that must stay sane */
	r->cq_head += n;
	atomic_store_explicit(&r->v.cq_ctl->head, r->cq_head, memory_order_release);
	return n;
}

/* The broker dropped us (the socket hung up). */
static int raw_dropped(struct raw *r, int timeout_ms)
{
	struct pollfd p = { .fd = r->sock, .events = POLLIN | POLLRDHUP };
	return poll(&p, 1, timeout_ms) > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR));
}

static void garbage(struct raw *r, uint64_t *rng)
{
	for (int i = 0; i < 64; i++) {
		struct bk_sqe e;
		uint64_t w[4] = { stress_rand(rng), stress_rand(rng), stress_rand(rng), stress_rand(rng) };
		memcpy(&e, w, sizeof(e));
		if (bk_sq_producer_space(&r->sq) == 0)
			break;
		bk_sq_producer_write(&r->sq, 0, &e);
		bk_sq_producer_publish(&r->sq, 1);
	}
	if (stress_rand(rng) % 4 == 0) /* an impossible tail: the connection must be dropped */
		atomic_store_explicit(&r->v.sq_ctl->tail, (uint32_t)stress_rand(rng), memory_order_release);
	raw_wake(r);
	raw_dropped(r, 20);
}

static void flood(struct raw *r, uint64_t *rng)
{
	int64_t until = bk_now_ns() + 200000000LL;
	uint32_t slot = 0;
	while (bk_now_ns() < until) {
		uint32_t room = bk_sq_producer_space(&r->sq);
		for (uint32_t i = 0; i < room; i++, slot++) {
			/* A valid entry for a function id nobody has: each one costs brokerd a lookup and an answer. */
			struct bk_sqe e = { .op = BK_OP_CALL, .fn = 0xFFFF00 | (uint32_t)(stress_rand(rng) & 0xFF),
					    .slot = slot % r->v.geo.nslots, .gen = slot, .arg_len = 8, .res_cap = 64 };
			e.arg_off = e.slot * r->v.geo.slot_inline;
			e.res_off = e.arg_off;
			bk_sq_producer_write(&r->sq, i, &e);
		}
		bk_sq_producer_publish(&r->sq, room);
		raw_wake(r);
		raw_reap(r);
		struct bk_msg_lookup l = { .h = { .magic = BK_WIRE_MAGIC, .type = BK_MSG_LOOKUP, .len = sizeof(l) } };
		snprintf(l.name, sizeof(l.name), "nosuch.fn%u", slot);
		if (bk_send_fds(r->sock, &l, sizeof(l), NULL, 0) < 0)
			return; /* dropped (not reading our replies is a reason) */
		char buf[512];
		while (recv(r->sock, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			; /* the -ENOENT answers: read, not checked */
		if (raw_dropped(r, 0))
			return;
	}
}

static void slow(struct raw *r)
{
	/* timer.sleep's id is not ours to know without a LOOKUP: ask, as a client would. */
	struct bk_msg_lookup l = { .h = { .magic = BK_WIRE_MAGIC, .type = BK_MSG_LOOKUP, .len = sizeof(l), .seq = 2 } };
	snprintf(l.name, sizeof(l.name), "timer.sleep");
	struct bk_msg_lookup_reply rep;
	if (bk_send_fds(r->sock, &l, sizeof(l), NULL, 0) < 0 ||
	    bk_recv_fds(r->sock, &rep, sizeof(rep), NULL, 0, NULL) != (ssize_t)sizeof(rep) || rep.status != 0)
		return;
	/* Every slot busy with a short sleep whose completion we then do not reap. */
	uint32_t n = r->v.geo.nslots < bk_sq_producer_space(&r->sq) ? r->v.geo.nslots : bk_sq_producer_space(&r->sq);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t off = i * r->v.geo.slot_inline;
		memcpy(r->v.arena + off, "5", 1);
		struct bk_sqe e = { .op = BK_OP_CALL, .fn = rep.fn, .slot = i, .gen = 1, .arg_off = off, .arg_len = 1,
				    .res_off = off, .res_cap = 0 };
		bk_sq_producer_write(&r->sq, i, &e);
	}
	bk_sq_producer_publish(&r->sq, n);
	raw_wake(r);
	raw_dropped(r, 500); /* hold the unreaped backlog for half a second, then hang up with it */
}

void bk_stress_hostile(const struct bk_stress_client_cfg *cfg, enum stress_hostile_kind kind)
{
	uint64_t rng = cfg->seed | 1;
	struct bk_stress_msg m = { .pid = (int32_t)getpid(), .kind = MSG_DELTA };
	while (bk_now_ns() < cfg->deadline_ns) {
		struct raw r;
		if (raw_connect(cfg->socket, &r) < 0) {
			/* brokerd restarting, or refusing us: try again shortly (a back-off, not synchronisation) */
			struct timespec ts = { 0, 20000000L };
			nanosleep(&ts, NULL);
			continue;
		}
		m.hostile_conns++;
		if (kind == HOSTILE_GARBAGE)
			garbage(&r, &rng);
		else if (kind == HOSTILE_FLOOD)
			flood(&r, &rng);
		else
			slow(&r);
		raw_close(&r);
		if (bk_write_full(cfg->report_fd, &m, sizeof(m)) != 0)
			_exit(4);
		m.hostile_conns = 0;
	}
	m.kind = MSG_FINAL;
	if (bk_write_full(cfg->report_fd, &m, sizeof(m)) != 0)
		_exit(4);
	_exit(0);
}
