// SPDX-License-Identifier: MIT
/*
 * test_ring_hostile.c - the broker side against a malicious client.
 *
 * First a table of deliberate protocol violations (impossible SQ and CQ
 * indices, bad opcodes, slots out of range or already in flight, ranges past
 * the arena, offsets near UINT32_MAX) each of which must be reported, not
 * acted on.  Then a fuzz phase: the broker engine runs in one thread on a
 * mapping fenced by PROT_NONE guard pages (so any read or write outside the
 * region faults at once, which ASan alone would not catch for mmap'd memory)
 * while a hostile "client" thread submits a mix of valid and random entries
 * and rewrites indices, and a third thread flips random words in the header,
 * ring control blocks, ring entries and slot table.  The broker must report
 * violations and -EPROTO, keep its private bounds, never fault and never
 * hang (watchdog), and a fresh connection on the same region must still work.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <sys/mman.h>

#include "ring_fixture.h"
#include "ring_util.h"
#include "region_map.h"

#define FUZZ_SECONDS 1.5
#define FUZZ_MAX_OPS 5000000u

/* ---- table of violations --------------------------------------------------- */

static void expect_violation(struct fix *f, struct bk_sqe e, const char *why, bool completes)
{
	struct bk_sqe out[2];
	uint64_t before = f->cr.violations, done = f->cr.completed;
	fix_submit(f, &e, 1);
	int n = bkd_conn_rings_fetch(&f->cr, out, 2);
	if (n != 0)
		fail_msg("%s: fetch returned %d, want 0", why, n);
	if (f->cr.violations != before + 1)
		fail_msg("%s: not counted as a violation", why);
	if (f->cr.completed != done + (completes ? 1 : 0))
		fail_msg("%s: %s", why, completes ? "the free slot did not complete with -EINVAL" : "completed");
	print_message("  %-44s -> %s\n", why, f->cr.last_violation);
	if (completes) {
		struct bk_cqe c;
		assert_true(bkd_conn_rings_flush(&f->cr) >= 0);
		assert_int_equal(bk_cq_consumer_reap(&f->cqc, &c, 1), 1);
		assert_int_equal(c.slot, e.slot);
		assert_int_equal(c.gen, e.gen);
		assert_int_equal(c.status, -EINVAL);
	}
}

static void test_violation_table(void **state)
{
	(void)state;
	struct fix f;
	fix_open(&f, 16, 8, UINT32_MAX - 4);
	const uint32_t arena = (uint32_t)f.r.v.layout.arena_size;
	struct bk_sqe e, out[4];

	/* A victim task in flight on slot 1. */
	e = fix_call(1, 41);
	fix_submit(&f, &e, 1);
	assert_int_equal(bkd_conn_rings_fetch(&f.cr, out, 4), 1);

	e = fix_call(2, 1), e.op = 0;
	expect_violation(&f, e, "opcode 0", true);
	e = fix_call(2, 2), e.op = 255;
	expect_violation(&f, e, "opcode 255", true);
	e = fix_call(8, 1);
	expect_violation(&f, e, "slot == nslots", false);
	e = fix_call(0, 1), e.slot = UINT32_MAX;
	expect_violation(&f, e, "slot UINT32_MAX", false);
	e = (struct bk_sqe){ .op = BK_OP_CANCEL, .slot = 0x80000000u };
	expect_violation(&f, e, "cancel of slot out of range", false);
	e = fix_call(1, 42);
	expect_violation(&f, e, "slot already in flight", false);
	e = fix_call(1, 41), e.op = 9;
	expect_violation(&f, e, "bad opcode on an in-flight slot", false);
	e = fix_call(3, 1), e.arg_off = arena, e.arg_len = 1;
	expect_violation(&f, e, "argument starts at the arena end", true);
	e = fix_call(3, 2), e.arg_off = 0, e.arg_len = arena + 1;
	expect_violation(&f, e, "argument one byte too long", true);
	e = fix_call(3, 3), e.arg_off = UINT32_MAX, e.arg_len = 1;
	expect_violation(&f, e, "argument offset UINT32_MAX", true);
	e = fix_call(3, 4), e.arg_off = 0xfffffff0u, e.arg_len = 0x20; /* wraps to 0x10 in 32 bits */
	expect_violation(&f, e, "argument range wrapping 32 bits", true);
	e = fix_call(3, 5), e.arg_off = UINT32_MAX, e.arg_len = UINT32_MAX;
	expect_violation(&f, e, "argument off and len UINT32_MAX", true);
	e = fix_call(4, 1), e.res_off = 0xffffffc0u, e.res_cap = 0x80;
	expect_violation(&f, e, "result range wrapping 32 bits", true);
	e = fix_call(4, 2), e.res_off = arena - 4, e.res_cap = 8;
	expect_violation(&f, e, "result range past the arena", true);

	/* Boundaries that are legal: the whole arena, and empty ranges at its end. */
	e = fix_call(5, 1), e.arg_off = 0, e.arg_len = arena, e.res_off = arena, e.res_cap = 0;
	fix_submit(&f, &e, 1);
	assert_int_equal(bkd_conn_rings_fetch(&f.cr, out, 4), 1);
	assert_int_equal(bkd_conn_rings_complete(&f.cr, 5, 0, 0), 0);

	/* The victim was never disturbed. */
	assert_true(bkd_conn_rings_inflight(&f.cr, 1, 41));
	assert_int_equal(bkd_conn_rings_complete(&f.cr, 1, 0, 3), 0);
	assert_true(bkd_conn_rings_flush(&f.cr) >= 0);
	struct bk_cqe c[4];
	assert_int_equal(bk_cq_consumer_reap(&f.cqc, c, 4), 2);
	assert_int_equal(c[1].slot, 1);
	assert_int_equal(c[1].gen, 41);
	assert_int_equal(c[1].res_len, 3);

	/* Impossible SQ tails: behind head, one past capacity, far ahead. */
	uint32_t head = f.cr.sq.head;
	uint32_t bad_tails[] = { head - 1, head + 17, head + 0x80000000u, head - 0x10000u };
	for (unsigned i = 0; i < sizeof(bad_tails) / sizeof(bad_tails[0]); i++) {
		uint64_t v = f.cr.violations;
		atomic_store(&f.r.v.sq_ctl->tail, bad_tails[i]);
		assert_int_equal(bkd_conn_rings_fetch(&f.cr, out, 4), -EPROTO);
		assert_int_equal(f.cr.violations, v + 1);
		assert_int_equal(f.cr.sq.head, head); /* nothing consumed */
	}
	/* Capacity exactly is fine (entries are then judged one by one). */
	atomic_store(&f.r.v.sq_ctl->tail, head + 16);
	assert_true(bkd_conn_rings_fetch(&f.cr, out, 4) >= 0);

	fix_close(&f);

	/* Impossible CQ heads: ahead of the broker's tail, more than capacity behind it, far away. */
	uint32_t head_delta[] = { 1, (uint32_t)-9, 0x7fffffffu, 0x80000000u };
	for (unsigned i = 0; i < sizeof(head_delta) / sizeof(head_delta[0]); i++) {
		fix_open(&f, 8, 8, UINT32_MAX - 2);
		e = fix_call(0, 1);
		fix_submit(&f, &e, 1);
		assert_int_equal(bkd_conn_rings_fetch(&f.cr, out, 4), 1);
		assert_int_equal(bkd_conn_rings_complete(&f.cr, 0, 0, 0), 0);
		atomic_store(&f.r.v.cq_ctl->head, f.cr.cq.tail + head_delta[i]);
		assert_int_equal(bkd_conn_rings_flush(&f.cr), -EPROTO);
		assert_non_null(strstr(f.cr.last_violation, "CQ head"));
		assert_int_equal(bkd_conn_rings_backlog(&f.cr), 1); /* nothing published */
		/* Statistics stay clamped to the capacity whatever the client wrote. */
		assert_true(bkd_conn_rings_cq_depth(&f.cr) <= 8);
		atomic_store(&f.r.v.sq_ctl->tail, f.cr.sq.head + 0x40000000u);
		assert_true(bkd_conn_rings_sq_depth(&f.cr) <= 8);
		fix_close(&f);
	}
}

/* ---- fuzz phase ----------------------------------------------------------------- */

struct fuzz {
	struct bkd_region r; /* creator mapping: the hostile threads write through it */
	uint8_t *guarded; /* reservation with guard pages around the broker's mapping */
	size_t guarded_len;
	struct bk_region_view bv; /* the broker's mapping, fenced */
	_Atomic uint32_t stop;
	_Atomic uint64_t broker_iters, fetched, violations, eproto, hostile_ops;
	uint64_t checksum; /* of every validated argument byte: keeps the reads real */
	char fail[200];
};

static struct fuzz *g_fz;

static void fz_report(void)
{
	if (g_fz)
		fprintf(stderr, "broker iterations %" PRIu64 ", hostile ops %" PRIu64 "\n",
			(uint64_t)atomic_load(&g_fz->broker_iters), (uint64_t)atomic_load(&g_fz->hostile_ops));
}

static void *fz_broker(void *arg)
{
	struct fuzz *z = arg;
	struct bkd_conn_rings cr;
	uint32_t start = atomic_load_explicit(&z->bv.sq_ctl->tail, memory_order_relaxed);
	if (bkd_conn_rings_init(&cr, &z->bv, start) < 0) {
		snprintf(z->fail, sizeof(z->fail), "init failed");
		return NULL;
	}
	const uint32_t nslots = z->bv.geo.nslots;
	uint64_t sum = 0, viol_total = 0;
	struct bk_sqe out[64];
	while (!atomic_load_explicit(&z->stop, memory_order_relaxed)) {
		atomic_fetch_add_explicit(&z->broker_iters, 1, memory_order_relaxed);
		int n = bkd_conn_rings_fetch(&cr, out, 64);
		int f = n >= 0 ? 0 : n;
		for (int i = 0; i < n; i++) {
			const struct bk_sqe *e = &out[i];
			if (e->op == BK_OP_CANCEL) {
				if (bkd_conn_rings_inflight(&cr, e->slot, e->gen))
					bkd_conn_rings_complete(&cr, e->slot, -ECANCELED, 0);
				continue;
			}
			/* Touch every byte of the validated ranges: outside the region they would fault. */
			const uint8_t *a = bkd_conn_rings_arena(&cr, e->arg_off);
			for (uint32_t k = 0; k < e->arg_len; k++)
				sum += a[k];
			memset(bkd_conn_rings_arena(&cr, e->res_off), 0xa5, e->res_cap);
			if (bkd_conn_rings_complete(&cr, e->slot, 0, e->res_cap) < 0) {
				snprintf(z->fail, sizeof(z->fail), "fetch returned slot %u that is not in flight", e->slot);
				return NULL;
			}
		}
		if (n >= 0)
			atomic_fetch_add_explicit(&z->fetched, (uint64_t)n, memory_order_relaxed);
		if (f == 0)
			f = bkd_conn_rings_flush(&cr);
		if (cr.npending > nslots || cr.inflight > nslots) {
			snprintf(z->fail, sizeof(z->fail), "private bounds broken: pending %u inflight %u", cr.npending,
				 cr.inflight);
			return NULL;
		}
		atomic_store_explicit(&z->violations, viol_total + cr.violations, memory_order_relaxed);
		if (f < 0) {
			/* The connection would be dropped; the test reconnects on the same region. */
			if (f != -EPROTO) {
				snprintf(z->fail, sizeof(z->fail), "unexpected error %d", f);
				return NULL;
			}
			atomic_fetch_add_explicit(&z->eproto, 1, memory_order_relaxed);
			viol_total += cr.violations;
			bkd_conn_rings_fini(&cr);
			start = atomic_load_explicit(&z->bv.sq_ctl->tail, memory_order_relaxed);
			if (bkd_conn_rings_init(&cr, &z->bv, start) < 0) {
				snprintf(z->fail, sizeof(z->fail), "re-init failed");
				return NULL;
			}
		}
		if (n == 0)
			sched_yield();
	}
	z->checksum = sum;
	bkd_conn_rings_fini(&cr);
	return NULL;
}

/* The hostile client: valid-looking and random entries, and indices it makes up. */
static void *fz_client(void *arg)
{
	struct fuzz *z = arg;
	struct bk_region_view *v = &z->r.v;
	struct bk_sq_producer sqp;
	uint64_t rng = 12345;
	const uint32_t nslots = v->geo.nslots, arena = (uint32_t)v->layout.arena_size;
	int64_t end = bk_now_ns() + (int64_t)(FUZZ_SECONDS * 1e9);
	bk_sq_producer_init(&sqp, v->sq_ctl, v->sq, v->geo.sq_entries);
	for (uint32_t op = 0; op < FUZZ_MAX_OPS && bk_now_ns() < end; op++) {
		uint64_t r1 = rt_mix(rng++), r2 = rt_mix(rng++);
		struct bk_sqe e;
		switch (r1 % 6) {
		case 0: /* random bytes */
			e = (struct bk_sqe){ .op = (uint8_t)r2, .slot = (uint32_t)(r2 >> 8), .gen = (uint32_t)r1,
					     .arg_off = (uint32_t)(r2 >> 16), .arg_len = (uint32_t)(r1 >> 32),
					     .res_off = (uint32_t)(r2 >> 32), .res_cap = (uint32_t)(r1 >> 16) };
			break;
		case 1: /* near-limit ranges */
			e = (struct bk_sqe){ .op = BK_OP_CALL, .slot = (uint32_t)(r2 % nslots),
					     .arg_off = arena - (uint32_t)(r2 % 64), .arg_len = (uint32_t)(r1 % 128),
					     .res_off = UINT32_MAX - (uint32_t)(r1 % 64), .res_cap = (uint32_t)(r2 % 128) };
			break;
		case 2: /* cancels, mostly stale */
			e = (struct bk_sqe){ .op = BK_OP_CANCEL, .slot = (uint32_t)(r2 % (nslots + 2)),
					     .gen = (uint32_t)(r1 % 4) };
			break;
		default: /* plausible calls, often on busy slots */
			e = (struct bk_sqe){ .op = BK_OP_CALL, .slot = (uint32_t)(r2 % nslots), .gen = (uint32_t)r1,
					     .arg_off = (uint32_t)(r1 % arena) & ~63u, .arg_len = (uint32_t)(r2 % 64),
					     .res_off = (uint32_t)(r2 % arena) & ~63u, .res_cap = (uint32_t)(r1 % 64) };
			break;
		}
		uint32_t space = bk_sq_producer_space(&sqp);
		if (space) {
			bk_sq_producer_write(&sqp, 0, &e);
			bk_sq_producer_publish(&sqp, 1);
		}
		switch (r2 % 64) {
		case 0: /* tail behind head */
			atomic_store(&v->sq_ctl->tail, atomic_load(&v->sq_ctl->head) - 1 - (uint32_t)(r1 % 8));
			break;
		case 1: /* tail far ahead */
			atomic_store(&v->sq_ctl->tail, atomic_load(&v->sq_ctl->head) + v->geo.sq_entries + (uint32_t)r1 % 1000);
			break;
		case 2: /* CQ head moved anywhere */
			atomic_store(&v->cq_ctl->head, (uint32_t)r1);
			break;
		case 3: /* back to something sane so the broker also makes progress */
			sqp.tail = atomic_load(&v->sq_ctl->head);
			atomic_store(&v->sq_ctl->tail, sqp.tail);
			atomic_store(&v->cq_ctl->head, atomic_load(&v->cq_ctl->tail));
			break;
		case 4:
			atomic_store(&v->sq_ctl->need_wakeup, (uint32_t)r1);
			atomic_store(&v->cq_ctl->notify_armed, (uint32_t)r1);
			break;
		default:
			if (!space) /* keep the ring moving: pretend the broker gave everything back */
				sqp.tail = atomic_load(&v->sq_ctl->head);
			break;
		}
		atomic_fetch_add_explicit(&z->hostile_ops, 1, memory_order_relaxed);
		if (op % 256 == 255)
			sched_yield(); /* 2 cores: let the broker thread get turns while we scribble */
	}
	return NULL;
}

/* Flip random words everywhere the client can write except the arena (payload bytes are opaque). */
static void *fz_flipper(void *arg)
{
	struct fuzz *z = arg;
	struct bk_region_view *v = &z->r.v;
	uint32_t *words = v->base;
	const size_t nwords = (size_t)((uint8_t *)v->arena - (uint8_t *)v->base) / 4;
	uint64_t rng = 999;
	while (!atomic_load_explicit(&z->stop, memory_order_relaxed)) {
		for (int i = 0; i < 64; i++) {
			uint64_t r = rt_mix(rng++);
			size_t w = (size_t)(r % nwords);
			uint32_t val = (uint32_t)(r >> 32);
			if (r & 0x10000)
				val = __atomic_load_n(&words[w], __ATOMIC_RELAXED) ^ (1u << ((r >> 20) % 32));
			__atomic_store_n(&words[w], val, __ATOMIC_RELAXED);
		}
		sched_yield();
	}
	return NULL;
}

static void test_fuzz_while_running(void **state)
{
	(void)state;
	struct fuzz *z = calloc(1, sizeof(*z));
	assert_non_null(z);
	g_fz = z;
	struct bk_geometry g = { .sq_entries = 64, .nslots = 64, .slot_inline = 64, .large_size = 4096 };
	struct bkd_region_params p = { .max_large = 1 << 20, .ring_start = UINT32_MAX - 10, .conn_id = 1, .epoch = 1 };
	char err[256];
	if (bkd_region_create(&g, &p, &z->r, err, sizeof(err)) < 0)
		fail_msg("bkd_region_create: %s", err);

	/* The broker's mapping: the region with a PROT_NONE page on each side. */
	size_t size = (size_t)z->r.v.size, page = (size_t)sysconf(_SC_PAGESIZE);
	assert_int_equal(size % page, 0);
	z->guarded_len = size + 2 * page;
	z->guarded = mmap(NULL, z->guarded_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(z->guarded != MAP_FAILED);
	void *base = mmap(z->guarded + page, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, z->r.fd, 0);
	assert_true(base == z->guarded + page);
	int rv = bkc_region_validate(base, size, &z->bv, err, sizeof(err));
	if (rv < 0)
		fail_msg("validate: %s", err);

	struct rt_watchdog wd;
	rt_watchdog_start(&wd, 60, "hostile-client fuzz", 0, fz_report);
	pthread_t tb, tc, tf;
	assert_int_equal(pthread_create(&tb, NULL, fz_broker, z), 0);
	assert_int_equal(pthread_create(&tf, NULL, fz_flipper, z), 0);
	assert_int_equal(pthread_create(&tc, NULL, fz_client, z), 0);
	pthread_join(tc, NULL); /* bounded by FUZZ_SECONDS and FUZZ_MAX_OPS */
	atomic_store(&z->stop, 1);
	pthread_join(tf, NULL);
	pthread_join(tb, NULL);
	rt_watchdog_stop(&wd);
	if (z->fail[0])
		fail_msg("%s", z->fail);
	print_message("fuzz: %" PRIu64 " hostile ops, %" PRIu64 " broker iterations, %" PRIu64
		      " entries accepted, %" PRIu64 " violations, %" PRIu64 " -EPROTO (reconnects)\n",
		      (uint64_t)z->hostile_ops, (uint64_t)z->broker_iters, (uint64_t)z->fetched,
		      (uint64_t)z->violations, (uint64_t)z->eproto);
	assert_true(z->hostile_ops > 1000);
	assert_true(z->broker_iters > 100);
	assert_true(z->violations > 0);
	assert_true(z->eproto > 0);
	assert_true(z->fetched > 0);

	/* Hostility over: a fresh connection on the same (scribbled) region works normally. */
	atomic_store(&z->bv.sq_ctl->head, 7);
	atomic_store(&z->bv.sq_ctl->tail, 7);
	atomic_store(&z->bv.cq_ctl->head, 7);
	atomic_store(&z->bv.cq_ctl->tail, 7);
	struct bkd_conn_rings cr;
	assert_int_equal(bkd_conn_rings_init(&cr, &z->bv, 7), 0);
	struct bk_sq_producer sqp;
	struct bk_cq_consumer cqc;
	bk_sq_producer_init(&sqp, z->bv.sq_ctl, z->bv.sq, z->bv.geo.sq_entries);
	bk_cq_consumer_init(&cqc, z->bv.cq_ctl, z->bv.cq, z->bv.geo.cq_entries);
	struct bk_sqe e = fix_call(9, 77), out[2];
	bk_sq_producer_write(&sqp, 0, &e);
	bk_sq_producer_publish(&sqp, 1);
	assert_int_equal(bkd_conn_rings_fetch(&cr, out, 2), 1);
	assert_int_equal(bkd_conn_rings_complete(&cr, 9, 5, 0), 0);
	assert_true(bkd_conn_rings_flush(&cr) >= 0);
	struct bk_cqe c;
	assert_int_equal(bk_cq_consumer_reap(&cqc, &c, 1), 1);
	assert_int_equal(c.gen, 77);
	assert_int_equal(c.status, 5);
	bkd_conn_rings_fini(&cr);

	g_fz = NULL;
	munmap(z->guarded, z->guarded_len);
	bkd_region_destroy(&z->r);
	free(z);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_violation_table),
		cmocka_unit_test(test_fuzz_while_running),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
