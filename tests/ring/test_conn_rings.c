// SPDX-License-Identifier: MIT
/*
 * test_conn_rings.c - unit tests of the broker's validated ring engine
 * (broker/conn_rings.c) driven single-threaded from both sides: the test
 * plays the client with ring.h's producer/consumer and the broker with
 * bkd_conn_rings, on a real sealed memfd region.
 */
#include <errno.h>

#include "ring_fixture.h"

static void test_call_complete_reap(void **state)
{
	(void)state;
	struct fix f;
	fix_open(&f, 8, 8, 0);
	assert_false(bkd_conn_rings_sq_pending(&f.cr));
	struct bk_sqe e = fix_call(2, 11), out[4];
	fix_submit(&f, &e, 1);
	assert_true(bkd_conn_rings_sq_pending(&f.cr));
	assert_int_equal(bkd_conn_rings_sq_depth(&f.cr), 1);
	assert_int_equal(bkd_conn_rings_fetch(&f.cr, out, 4), 1);
	assert_memory_equal(&out[0], &e, sizeof(e));
	assert_true(bkd_conn_rings_inflight(&f.cr, 2, 11));
	assert_false(bkd_conn_rings_inflight(&f.cr, 2, 12));
	assert_int_equal(f.cr.inflight, 1);
	assert_int_equal(f.cr.submitted, 1);

	assert_int_equal(bkd_conn_rings_complete(&f.cr, 2, 5, 9), 0);
	assert_int_equal(bkd_conn_rings_complete(&f.cr, 2, 5, 9), -EINVAL); /* no longer in flight */
	assert_int_equal(bkd_conn_rings_complete(&f.cr, 99, 5, 9), -EINVAL);
	assert_int_equal(atomic_load(&f.r.v.slots[2].done_gen), 11);
	assert_int_equal(f.r.v.slots[2].status, 5);
	assert_int_equal(f.r.v.slots[2].res_len, 9);
	assert_int_equal(bkd_conn_rings_backlog(&f.cr), 1);
	struct bk_cqe c[4];
	assert_int_equal(bk_cq_consumer_reap(&f.cqc, c, 4), 0); /* not yet flushed */
	assert_int_equal(bkd_conn_rings_flush(&f.cr), 0); /* nobody sleeps, nothing armed */
	assert_int_equal(bkd_conn_rings_cq_depth(&f.cr), 1);
	assert_int_equal(bk_cq_consumer_reap(&f.cqc, c, 4), 1);
	assert_int_equal(c[0].slot, 2);
	assert_int_equal(c[0].gen, 11);
	assert_int_equal(c[0].status, 5);
	assert_int_equal(c[0].res_len, 9);
	assert_int_equal(f.cr.completed, 1);
	assert_int_equal(f.cr.inflight, 0);
	assert_int_equal(f.cr.violations, 0);
	fix_close(&f);
}

static void test_flush_wake_bits(void **state)
{
	(void)state;
	struct fix f;
	fix_open(&f, 8, 8, 0);
	struct bk_sqe e = fix_call(0, 1), out[1];
	fix_submit(&f, &e, 1);
	assert_int_equal(bkd_conn_rings_fetch(&f.cr, out, 1), 1);
	assert_int_equal(bkd_conn_rings_complete(&f.cr, 0, 0, 0), 0);
	/* A client thread sleeps (counting) and armed its eventfd. */
	uint32_t seq = bk_ring_sleep_prepare(f.r.v.cq_ctl, true);
	atomic_store(&f.r.v.cq_ctl->notify_armed, 1);
	assert_int_equal(bkd_conn_rings_flush(&f.cr), BKD_FLUSH_WAKE_FUTEX | BKD_FLUSH_NOTIFY_FD);
	assert_int_not_equal(atomic_load(&f.r.v.cq_ctl->wake_seq), seq); /* bumped: a FUTEX_WAIT on seq fails */
	assert_int_equal(atomic_load(&f.r.v.cq_ctl->notify_armed), 0);
	bk_ring_sleep_finish(f.r.v.cq_ctl, true);
	/* Nothing to publish: no wake bits even when armed. */
	atomic_store(&f.r.v.cq_ctl->notify_armed, 1);
	assert_int_equal(bkd_conn_rings_flush(&f.cr), 0);

	/* Broker sleep: need_wakeup raised, producer side sees it. */
	bkd_conn_rings_sleep_prepare(&f.cr);
	assert_int_equal(atomic_load(&f.r.v.sq_ctl->need_wakeup), 1);
	assert_true(bk_ring_wake_needed(f.r.v.sq_ctl));
	bkd_conn_rings_sleep_finish(&f.cr);
	assert_false(bk_ring_wake_needed(f.r.v.sq_ctl));
	fix_close(&f);
}

/* bk_wait_all's gate (ring.h): a lone sleeper that needs the tail at `at` is not woken before. */
static void test_flush_wake_gate(void **state)
{
	(void)state;
	struct fix f;
	fix_open(&f, 8, 8, 0);
	struct bk_ring_ctl *cq = f.r.v.cq_ctl;
	struct bk_sqe e[3] = {fix_call(0, 1), fix_call(1, 1), fix_call(2, 1)}, out[3];
	fix_submit(&f, e, 3);
	assert_int_equal(bkd_conn_rings_fetch(&f.cr, out, 3), 3);
	/* The one sleeper waits for all three: the tail must reach head 0 + 3. */
	uint32_t seq = bk_ring_sleep_prepare_until(cq, true, 3);
	assert_int_equal(atomic_load(&cq->need_wakeup), BK_WAKE_GATE | 1u);
	assert_int_equal(atomic_load(&cq->wake_at), 3);
	assert_int_equal(bkd_conn_rings_complete(&f.cr, 0, 0, 0), 0);
	assert_int_equal(bkd_conn_rings_flush(&f.cr), 0); /* tail 1: left asleep */
	assert_int_equal(bkd_conn_rings_complete(&f.cr, 1, 0, 0), 0);
	assert_int_equal(bkd_conn_rings_flush(&f.cr), 0); /* tail 2 */
	assert_int_equal(atomic_load(&cq->wake_seq), seq);
	assert_int_equal(bkd_conn_rings_complete(&f.cr, 2, 0, 0), 0);
	assert_int_equal(bkd_conn_rings_flush(&f.cr), BKD_FLUSH_WAKE_FUTEX); /* tail 3: due */
	assert_int_not_equal(atomic_load(&cq->wake_seq), seq);
	bk_ring_sleep_finish(cq, true);
	assert_int_equal(atomic_load(&cq->need_wakeup), 0); /* the gate went with its sleeper */

	/* A second sleeper, gated or not, makes it a plain count: it may need a single completion. */
	fix_submit(&f, e, 2);
	assert_int_equal(bkd_conn_rings_fetch(&f.cr, out, 2), 2);
	bk_ring_sleep_prepare_until(cq, true, 100);
	bk_ring_sleep_prepare(cq, true);
	assert_int_equal(atomic_load(&cq->need_wakeup), 2);
	assert_int_equal(bkd_conn_rings_complete(&f.cr, 0, 0, 0), 0);
	assert_int_equal(bkd_conn_rings_flush(&f.cr), BKD_FLUSH_WAKE_FUTEX);
	bk_ring_sleep_prepare_until(cq, true, 100); /* a third, gated, while others sleep: counts only */
	assert_int_equal(atomic_load(&cq->need_wakeup), 3);
	for (int i = 0; i < 3; i++)
		bk_ring_sleep_finish(cq, true);
	assert_int_equal(atomic_load(&cq->need_wakeup), 0);

	/* The producer's rule: only exactly GATE|1 gates, and the tail is compared by distance (wraps). */
	atomic_store(&cq->wake_at, 0xfffffffeu);
	assert_true(bk_ring_wake_due(cq, BK_WAKE_GATE | 1u, 0xfffffffeu));
	assert_true(bk_ring_wake_due(cq, BK_WAKE_GATE | 1u, 1u)); /* wrapped past it */
	assert_false(bk_ring_wake_due(cq, BK_WAKE_GATE | 1u, 0xfffffff0u));
	assert_true(bk_ring_wake_due(cq, BK_WAKE_GATE | 2u, 0xfffffff0u)); /* two sleepers */
	assert_true(bk_ring_wake_due(cq, BK_WAKE_PREP | 1u, 0xfffffff0u)); /* still preparing */
	assert_true(bk_ring_wake_due(cq, 1u, 0xfffffff0u));
	assert_false(bk_ring_wake_due(cq, 0u, 0xfffffff0u)); /* nobody sleeps */
	assert_int_equal(bkd_conn_rings_complete(&f.cr, 1, 0, 0), 0);
	assert_int_equal(bkd_conn_rings_flush(&f.cr), 0);
	fix_close(&f);
}

static void test_bad_entries(void **state)
{
	(void)state;
	struct fix f;
	fix_open(&f, 16, 8, 0);
	uint64_t arena = f.r.v.layout.arena_size;
	struct bk_sqe e[8], out[8];
	e[0] = fix_call(1, 1);                                  /* good */
	e[1] = fix_call(1, 2);                                  /* slot 1 already in flight */
	e[2] = fix_call(8, 1);                                  /* slot out of range */
	e[3] = fix_call(3, 1), e[3].op = 77;                    /* bad op, slot free: -EINVAL */
	e[4] = fix_call(4, 1), e[4].arg_off = UINT32_MAX - 3;   /* offset near UINT32_MAX: no 32-bit wrap */
	e[5] = fix_call(5, 1), e[5].res_off = (uint32_t)arena - 8, e[5].res_cap = 9;
	e[6] = (struct bk_sqe){ .op = BK_OP_CANCEL, .slot = 1, .gen = 9 };   /* stale gen: dropped */
	e[7] = (struct bk_sqe){ .op = BK_OP_CANCEL, .slot = 1, .gen = 1 };   /* live: returned */
	fix_submit(&f, e, 8);
	assert_int_equal(bkd_conn_rings_fetch(&f.cr, out, 8), 2);
	assert_memory_equal(&out[0], &e[0], sizeof(e[0]));
	assert_memory_equal(&out[1], &e[7], sizeof(e[7]));
	assert_int_equal(f.cr.violations, 5);
	assert_non_null(strstr(f.cr.last_violation, "result range"));
	assert_int_equal(f.cr.submitted, 1);
	assert_int_equal(f.cr.inflight, 1);
	assert_true(bkd_conn_rings_inflight(&f.cr, 1, 1));
	/* Slots 3, 4, 5 got -EINVAL completions; the in-flight slot 1 is untouched. */
	assert_int_equal(bkd_conn_rings_flush(&f.cr), 0);
	struct bk_cqe c[8];
	assert_int_equal(bk_cq_consumer_reap(&f.cqc, c, 8), 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(c[i].slot, 3 + i);
		assert_int_equal(c[i].status, -EINVAL);
	}
	/* Impossible tail: -EPROTO, nothing consumed. */
	atomic_store(&f.r.v.sq_ctl->tail, f.cr.sq.head - 1);
	assert_true(bkd_conn_rings_sq_pending(&f.cr));
	assert_int_equal(bkd_conn_rings_fetch(&f.cr, out, 8), -EPROTO);
	assert_non_null(strstr(f.cr.last_violation, "SQ tail"));
	/*
	 * Impossible CQ head: the broker reads the client's head only when the
	 * last head it validated leaves too little room (5 of 8 free here), so
	 * the garbage is seen, and refused, once room is needed.
	 */
	assert_int_equal(bkd_conn_rings_complete(&f.cr, 1, 0, 0), 0);
	atomic_store(&f.r.v.cq_ctl->head, f.cr.cq.tail + 100);
	assert_int_equal(bkd_conn_rings_flush(&f.cr), 0); /* published on the cached room */
	assert_int_equal(atomic_load(&f.r.v.cq_ctl->tail), f.cr.cq.tail);
	struct bk_sqe more[5];
	for (uint32_t i = 0; i < 5; i++)
		more[i] = fix_call(2 + i, 50);
	atomic_store(&f.r.v.sq_ctl->tail, f.cr.sq.head); /* undo the bad tail */
	f.sqp.tail = f.cr.sq.head;
	fix_submit(&f, more, 5);
	assert_int_equal(bkd_conn_rings_fetch(&f.cr, out, 8), 5);
	for (uint32_t i = 0; i < 5; i++)
		assert_int_equal(bkd_conn_rings_complete(&f.cr, 2 + i, 0, 0), 0);
	assert_int_equal(bkd_conn_rings_flush(&f.cr), -EPROTO); /* 5 wanted, 4 cached: the head is read */
	assert_non_null(strstr(f.cr.last_violation, "CQ head"));
	assert_int_equal(bkd_conn_rings_backlog(&f.cr), 5); /* nothing published on a bad head */
	fix_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_call_complete_reap),
		cmocka_unit_test(test_flush_wake_bits),
		cmocka_unit_test(test_flush_wake_gate),
		cmocka_unit_test(test_bad_entries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
