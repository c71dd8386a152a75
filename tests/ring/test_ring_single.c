// SPDX-License-Identifier: MIT
/*
 * test_ring_single.c - single-threaded ring behaviour: empty and full rings
 * (and the completion back-pressure that keeps the broker's backlog
 * bounded), wrap-around of the free-running 32-bit counters, batch
 * submit/consume, and slot generation reuse.
 */
#include <errno.h>

#include "ring_fixture.h"

static void test_empty(void **state)
{
	(void)state;
	struct fix f;
	fix_open(&f, 8, 8, 0);
	struct bk_sqe out[8];
	struct bk_cqe c[8];
	assert_int_equal(bk_sq_consumer_avail(&f.cr.sq), 0);
	assert_false(bkd_conn_rings_sq_pending(&f.cr));
	assert_int_equal(bkd_conn_rings_fetch(&f.cr, out, 8), 0);
	assert_int_equal(bk_sq_producer_space(&f.sqp), 8);
	assert_int_equal(bkd_conn_rings_flush(&f.cr), 0);
	assert_false(bk_cq_consumer_pending(&f.cqc));
	assert_int_equal(bk_cq_consumer_reap(&f.cqc, c, 8), 0);
	assert_int_equal(bkd_conn_rings_sq_depth(&f.cr), 0);
	assert_int_equal(bkd_conn_rings_cq_depth(&f.cr), 0);
	assert_int_equal(bk_cq_producer_space(&f.cr.cq), 8);
	assert_int_equal(f.cr.violations, 0);
	fix_close(&f);
}

static void test_sq_full(void **state)
{
	(void)state;
	struct fix f;
	fix_open(&f, 8, 16, 0);
	struct bk_sqe e[8], out[8];
	for (uint32_t i = 0; i < 8; i++)
		e[i] = fix_call(i, 100 + i);
	fix_submit(&f, e, 8);
	assert_int_equal(bk_sq_producer_space(&f.sqp), 0);
	assert_int_equal(bkd_conn_rings_sq_depth(&f.cr), 8);
	assert_int_equal(bk_sq_consumer_avail(&f.cr.sq), 8);
	/* One more than the capacity is an impossible tail, not 9 entries. */
	atomic_store(&f.r.v.sq_ctl->tail, f.sqp.tail + 1);
	assert_int_equal(bk_sq_consumer_avail(&f.cr.sq), -EPROTO);
	atomic_store(&f.r.v.sq_ctl->tail, f.sqp.tail);
	assert_int_equal(bkd_conn_rings_fetch(&f.cr, out, 8), 8);
	for (uint32_t i = 0; i < 8; i++)
		assert_memory_equal(&out[i], &e[i], sizeof(e[i]));
	assert_int_equal(bk_sq_producer_space(&f.sqp), 8);
	assert_int_equal(f.cr.inflight, 8);
	fix_close(&f);
}

/*
 * CQ full: completions wait in the broker's backlog, and once the backlog
 * reaches its bound (inflight + backlog == nslots) fetch leaves further
 * completion-producing entries in the SQ instead of overflowing it.
 */
static void test_cq_full_backpressure(void **state)
{
	(void)state;
	struct fix f;
	fix_open(&f, 16, 8, 0);
	assert_int_equal(f.r.v.geo.cq_entries, 8);
	struct bk_sqe e[8], out[16];
	struct bk_cqe c[16];
	for (uint32_t i = 0; i < 8; i++)
		e[i] = fix_call(i, 1);
	fix_submit(&f, e, 8);
	assert_int_equal(bkd_conn_rings_fetch(&f.cr, out, 16), 8);
	for (uint32_t i = 0; i < 8; i++)
		assert_int_equal(bkd_conn_rings_complete(&f.cr, i, 0, 0), 0);
	assert_int_equal(bkd_conn_rings_flush(&f.cr), 0);
	assert_int_equal(bk_cq_producer_space(&f.cr.cq), 0);
	assert_int_equal(bkd_conn_rings_cq_depth(&f.cr), 8);

	/* The client reuses slot 0 after seeing done_gen, without reaping: the cqe must wait. */
	assert_int_equal(atomic_load(&f.r.v.slots[0].done_gen), 1);
	e[0] = fix_call(0, 2);
	fix_submit(&f, e, 1);
	assert_int_equal(bkd_conn_rings_fetch(&f.cr, out, 16), 1);
	assert_int_equal(bkd_conn_rings_complete(&f.cr, 0, 7, 0), 0);
	assert_int_equal(bkd_conn_rings_flush(&f.cr), 0);
	assert_int_equal(bkd_conn_rings_backlog(&f.cr), 1);

	/* 7 more fit (7 in flight + 1 queued = nslots); the 8th stays in the SQ. */
	for (uint32_t i = 1; i < 8; i++)
		e[i - 1] = fix_call(i, 2);
	e[7] = fix_call(0, 3);
	fix_submit(&f, e, 8);
	assert_int_equal(bkd_conn_rings_fetch(&f.cr, out, 16), 7);
	assert_int_equal(f.cr.inflight, 7);
	assert_int_equal(bk_sq_consumer_avail(&f.cr.sq), 1);
	assert_false(bkd_conn_rings_sq_pending(&f.cr)); /* back-pressured: nothing fetch can take now */
	assert_int_equal(bkd_conn_rings_fetch(&f.cr, out, 16), 0);
	assert_int_equal(f.cr.violations, 0);

	/* The client reaps; the backlog drains; the held entry is taken. */
	assert_int_equal(bk_cq_consumer_reap(&f.cqc, c, 16), 8);
	assert_int_equal(bkd_conn_rings_flush(&f.cr), 0);
	assert_int_equal(bkd_conn_rings_backlog(&f.cr), 0);
	assert_int_equal(bk_cq_consumer_reap(&f.cqc, c, 16), 1);
	assert_int_equal(c[0].slot, 0);
	assert_int_equal(c[0].gen, 2);
	assert_int_equal(c[0].status, 7);
	assert_true(bkd_conn_rings_sq_pending(&f.cr));
	assert_int_equal(bkd_conn_rings_fetch(&f.cr, out, 16), 1);
	assert_int_equal(out[0].gen, 3);
	assert_int_equal(f.cr.inflight, 8);
	fix_close(&f);
}

/* Both rings cross UINT32_MAX -> 0 several times with mixed batch sizes; order and contents survive. */
static void run_wrap(uint32_t start)
{
	struct fix f;
	fix_open(&f, 8, 8, start);
	uint32_t next_gen[8] = { 0 };
	uint32_t seq_sub = 0, seq_done = 0;
	for (int round = 0; round < 40; round++) {
		uint32_t n = 1 + (uint32_t)round % 8;
		struct bk_sqe e[8], out[8];
		struct bk_cqe c[8];
		for (uint32_t i = 0; i < n; i++) {
			e[i] = fix_call(i, ++next_gen[i]);
			e[i].fn = seq_sub++;
		}
		fix_submit(&f, e, n);
		assert_int_equal(bkd_conn_rings_sq_depth(&f.cr), n);
		assert_int_equal(bkd_conn_rings_fetch(&f.cr, out, 8), (int)n);
		for (uint32_t i = 0; i < n; i++) {
			assert_int_equal(out[i].fn, seq_done + i);
			assert_int_equal(bkd_conn_rings_complete(&f.cr, out[i].slot, (int32_t)out[i].fn, 0), 0);
		}
		assert_true(bkd_conn_rings_flush(&f.cr) >= 0);
		assert_int_equal(bkd_conn_rings_cq_depth(&f.cr), n);
		assert_int_equal(bk_cq_consumer_reap(&f.cqc, c, 8), n);
		for (uint32_t i = 0; i < n; i++) {
			assert_int_equal(c[i].status, (int32_t)(seq_done + i));
			assert_int_equal(c[i].gen, next_gen[c[i].slot]);
		}
		seq_done += n;
	}
	/* The counters really wrapped (unless the start was far from it). */
	uint32_t travelled = atomic_load(&f.r.v.sq_ctl->tail) - start;
	assert_int_equal(travelled, seq_sub);
	if ((uint64_t)start + seq_sub > UINT32_MAX)
		assert_true(atomic_load(&f.r.v.sq_ctl->tail) < start);
	assert_int_equal(f.cr.violations, 0);
	fix_close(&f);
}

static void test_wrap_around(void **state)
{
	(void)state;
	run_wrap(UINT32_MAX);
	run_wrap(UINT32_MAX - 3);
	run_wrap(UINT32_MAX - 8);
	run_wrap(0x7fffffffu);
}

/* A client whose index wrapped and one that went backwards across the wrap are told apart. */
static void test_wrap_impossible(void **state)
{
	(void)state;
	struct fix f;
	fix_open(&f, 8, 8, UINT32_MAX - 1);
	struct bk_sqe e[4], out[4];
	for (uint32_t i = 0; i < 4; i++)
		e[i] = fix_call(i, 1);
	fix_submit(&f, e, 4); /* tail is now 2, head UINT32_MAX - 1: 4 entries */
	assert_int_equal(bk_sq_consumer_avail(&f.cr.sq), 4);
	atomic_store(&f.r.v.sq_ctl->tail, UINT32_MAX - 2); /* one behind head */
	assert_int_equal(bkd_conn_rings_fetch(&f.cr, out, 4), -EPROTO);
	atomic_store(&f.r.v.sq_ctl->tail, 2);
	assert_int_equal(bkd_conn_rings_fetch(&f.cr, out, 4), 4);
	fix_close(&f);
}

static void test_batch(void **state)
{
	(void)state;
	struct fix f;
	fix_open(&f, 64, 64, 5);
	struct bk_sqe e[32], out[32];
	struct bk_cqe c[64];
	for (uint32_t i = 0; i < 32; i++)
		e[i] = fix_call(i, 1000 + i);
	fix_submit(&f, e, 32); /* one publish for 32 entries */
	assert_int_equal(atomic_load(&f.r.v.sq_ctl->tail), 5 + 32);
	uint32_t got = 0;
	int steps[] = { 10, 10, 10, 2 };
	for (int s = 0; s < 4; s++) {
		assert_int_equal(bkd_conn_rings_fetch(&f.cr, out + got, 10), steps[s]);
		got += (uint32_t)steps[s];
		/* The head given back to the client moves once per batch, by the batch. */
		assert_int_equal(atomic_load(&f.r.v.sq_ctl->head), 5 + got);
	}
	assert_int_equal(bkd_conn_rings_fetch(&f.cr, out, 10), 0);
	for (uint32_t i = 0; i < 32; i++) {
		assert_memory_equal(&out[i], &e[i], sizeof(e[i]));
		assert_int_equal(bkd_conn_rings_complete(&f.cr, i, -(int32_t)i, i), 0);
	}
	assert_int_equal(atomic_load(&f.r.v.cq_ctl->tail), 5); /* nothing visible before the flush */
	assert_int_equal(bkd_conn_rings_flush(&f.cr), 0);
	assert_int_equal(atomic_load(&f.r.v.cq_ctl->tail), 5 + 32); /* one publish */
	unsigned n = bk_cq_consumer_reap(&f.cqc, c, 20);
	assert_int_equal(n, 20);
	n += bk_cq_consumer_reap(&f.cqc, c + 20, 64);
	assert_int_equal(n, 32);
	for (uint32_t i = 0; i < 32; i++) {
		assert_int_equal(c[i].slot, i);
		assert_int_equal(c[i].gen, 1000 + i);
		assert_int_equal(c[i].status, -(int32_t)i);
		assert_int_equal(c[i].res_len, i);
	}
	assert_int_equal(f.cr.submitted, 32);
	assert_int_equal(f.cr.completed, 32);
	fix_close(&f);
}

static void test_generation_reuse(void **state)
{
	(void)state;
	struct fix f;
	fix_open(&f, 8, 8, 0);
	struct bk_sqe e[2], out[4];
	struct bk_cqe c[4];
	e[0] = fix_call(3, 1);
	fix_submit(&f, e, 1);
	assert_int_equal(bkd_conn_rings_fetch(&f.cr, out, 4), 1);
	assert_int_equal(bkd_conn_rings_complete(&f.cr, 3, 0, 0), 0);
	assert_int_equal(atomic_load(&f.r.v.slots[3].done_gen), 1);

	/* Same slot, next generation; a late cancel for the old one is ignored, not a violation. */
	e[0] = fix_call(3, 2);
	e[1] = (struct bk_sqe){ .op = BK_OP_CANCEL, .slot = 3, .gen = 1 };
	fix_submit(&f, e, 2);
	assert_int_equal(bkd_conn_rings_fetch(&f.cr, out, 4), 1);
	assert_int_equal(out[0].op, BK_OP_CALL);
	assert_int_equal(out[0].gen, 2);
	assert_true(bkd_conn_rings_inflight(&f.cr, 3, 2));
	assert_false(bkd_conn_rings_inflight(&f.cr, 3, 1));
	assert_int_equal(f.cr.violations, 0);
	/* done_gen still names the previous use until this one completes. */
	assert_int_equal(atomic_load(&f.r.v.slots[3].done_gen), 1);

	/* A cancel for the live generation is handed to the worker. */
	e[0] = (struct bk_sqe){ .op = BK_OP_CANCEL, .slot = 3, .gen = 2 };
	fix_submit(&f, e, 1);
	assert_int_equal(bkd_conn_rings_fetch(&f.cr, out, 4), 1);
	assert_int_equal(out[0].op, BK_OP_CANCEL);
	assert_int_equal(bkd_conn_rings_complete(&f.cr, 3, -ECANCELED, 0), 0);
	assert_int_equal(atomic_load(&f.r.v.slots[3].done_gen), 2);
	assert_int_equal(f.r.v.slots[3].status, -ECANCELED);
	assert_int_equal(bkd_conn_rings_flush(&f.cr), 0);
	assert_int_equal(bk_cq_consumer_reap(&f.cqc, c, 4), 2);
	assert_int_equal(c[0].gen, 1);
	assert_int_equal(c[1].gen, 2);
	assert_int_equal(c[1].status, -ECANCELED);
	/* A cancel after completion is dropped silently. */
	fix_submit(&f, e, 1);
	assert_int_equal(bkd_conn_rings_fetch(&f.cr, out, 4), 0);
	assert_int_equal(f.cr.violations, 0);
	fix_close(&f);
}

/* The cached-head space checks read the other side's head only when the cached room is too small. */
static void test_space_min_cache(void **state)
{
	(void)state;
	struct fix f;
	fix_open(&f, 8, 8, UINT32_MAX - 3);
	assert_int_equal(bk_sq_producer_space_min(&f.sqp, 1), 8); /* first call loads the head */
	struct bk_sqe e[6];
	for (uint32_t i = 0; i < 6; i++)
		e[i] = fix_call(i, 1);
	fix_submit(&f, e, 6);
	uint32_t real = atomic_load(&f.r.v.sq_ctl->head);
	atomic_store(&f.r.v.sq_ctl->head, real + 100); /* garbage the cache must not need to read */
	assert_int_equal(bk_sq_producer_space_min(&f.sqp, 2), 2);
	assert_int_equal(bk_sq_producer_space_min(&f.sqp, 3), 0); /* loads it: impossible reads as full */
	atomic_store(&f.r.v.sq_ctl->head, real);
	struct bk_sqe out[8];
	assert_int_equal(bkd_conn_rings_fetch(&f.cr, out, 4), 4);
	assert_int_equal(bk_sq_producer_space_min(&f.sqp, 2), 2); /* cached: still the old head */
	assert_int_equal(bk_sq_producer_space_min(&f.sqp, 3), 6); /* reload sees the broker's progress */

	/* Broker side: the CQ producer. */
	assert_int_equal(bk_cq_producer_space_min(&f.cr.cq, 1), 8);
	atomic_store(&f.r.v.cq_ctl->head, 12345);
	assert_int_equal(bk_cq_producer_space_min(&f.cr.cq, 8), 8); /* cached, head not read */
	assert_int_equal(bk_cq_producer_space_min(&f.cr.cq, 9), -EPROTO); /* read and refused */
	fix_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_sq_full),
		cmocka_unit_test(test_cq_full_backpressure),
		cmocka_unit_test(test_wrap_around),
		cmocka_unit_test(test_wrap_impossible),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_generation_reuse),
		cmocka_unit_test(test_space_min_cache),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
