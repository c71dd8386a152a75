// SPDX-License-Identifier: MIT
/*
 * test_lat_sample.c - the sampling of latency accounting (broker/latency.h,
 * latency_hooks.h), driven as a worker drives it but with this test's
 * clock and task counts: every task is timed under the budget, one in
 * `period` of each function's above it, the period follows the rate window
 * by window, a timed task carries the weight of the untimed ones before it
 * (so histogram count + untimed == calls, per function and per client),
 * and a raised probe semaphore (brokerctl trace attached) times them all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "latency_hooks.h"

extern unsigned short brokerd_task__done_semaphore; /* latency.c */

struct fixture {
	struct bkd_broker b;
	struct bkd_worker w;
	struct bkd_conn c;
	struct bk_task t;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->w.b = &f->b;
	f->w.now = 1000000000;
	f->t.w = &f->w;
	f->t.conn = &f->c;
	f->t.ref.fn = 7;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	bkd_lat_conn_free(&f->c);
	bkd_lat_worker_free(&f->w);
	free(f);
	return 0;
}

/* n tasks of one fetch through every hook, as task.c calls them; returns how many were timed. */
static unsigned run(struct fixture *f, unsigned n)
{
	unsigned timed = 0;
	bkd_lat_batch(&f->w);
	for (unsigned i = 0; i < n; i++) {
		struct bk_task *t = &f->t;
		t->lat_timed = false; /* as a recycled task's memset does */
		t->lat_ns[0] = t->lat_ns[1] = 0;
		bkd_worker_count_start(&f->w);
		bkd_lat_taken(&f->w, t);
		timed += t->lat_timed;
		bkd_lat_start(&f->w, t);
		bkd_lat_done(&f->w, t, 0);
		bkd_lat_published(&f->w, t, 0);
	}
	return timed;
}

static struct bkd_lat_set *fn_set(struct fixture *f)
{
	return atomic_load(&atomic_load(&f->w.lat)->fn[7]);
}

/* Every histogram of s counts calls - untimed tasks, by the weights. */
static void assert_weights(struct bkd_lat_set *s)
{
	for (unsigned k = 0; k < BK_LAT_KINDS; k++) {
		uint64_t n = 0;
		for (unsigned i = 0; i < BKD_LAT_BUCKETS; i++)
			n += atomic_load(&s->b[i][k]);
		assert_int_equal(n + s->untimed, atomic_load(&s->calls));
	}
}

static void test_all_timed_without_budget(void **state)
{
	struct fixture *f = *state;
	f->b.opt.latency_budget = 0;
	assert_int_equal(run(f, 5000), 5000);
	f->w.now += 5 * BKD_LAT_WINDOW_NS; /* a busy window still times them all */
	assert_int_equal(run(f, 5000), 5000);
	assert_int_equal(atomic_load(&fn_set(f)->timed), 10000);
	assert_int_equal(fn_set(f)->untimed, 0);
	assert_weights(fn_set(f));
	assert_weights(atomic_load(&f->c.lat));
}

static void test_period_follows_the_rate(void **state)
{
	struct fixture *f = *state;
	f->b.opt.latency_budget = 10;
	/* First window: quiet so far, so every task is timed, 3000 of them within 1 ms. */
	assert_int_equal(run(f, 3000), 3000);
	/* At the window's end: 3000 tasks against 10 allowed, 1 in 512 (the power of two >= 300). */
	f->w.now += BKD_LAT_WINDOW_NS;
	unsigned timed = run(f, 4096);
	assert_int_equal(atomic_load(&f->w.lat)->period, 512);
	assert_int_equal(timed, 4096 / 512);
	/* 4096 tasks in that millisecond: 1 in 512 again (410 -> 512); then 20480 in one: at most 1 in 1024. */
	f->w.now += BKD_LAT_WINDOW_NS;
	timed = run(f, 20480);
	assert_int_equal(atomic_load(&f->w.lat)->period, 512);
	assert_int_equal(timed, 20480 / 512);
	f->w.now += BKD_LAT_WINDOW_NS;
	timed = run(f, 2048);
	assert_int_equal(atomic_load(&f->w.lat)->period, BKD_LAT_MAX_PERIOD);
	assert_int_equal(timed, 2);
	/* The rate is over a whole window: those 2048 over 100 ms are 1 in 4; then 100 ms quiet: each one. */
	f->w.now += 100 * BKD_LAT_WINDOW_NS;
	run(f, 0);
	assert_int_equal(atomic_load(&f->w.lat)->period, 4);
	f->w.now += 100 * BKD_LAT_WINDOW_NS;
	assert_int_equal(run(f, 5), 5);
	assert_int_equal(atomic_load(&f->w.lat)->period, 1);
	f->w.now += BKD_LAT_WINDOW_NS;
	assert_int_equal(run(f, 7), 7);
	struct bkd_lat_set *s = fn_set(f);
	assert_int_equal(atomic_load(&s->calls), 3000 + 4096 + 20480 + 2048 + 5 + 7);
	assert_true(atomic_load(&s->timed) <= 3000 + 8 + 40 + 2 + 5 + 7 + 1);
	assert_weights(s);
	assert_weights(atomic_load(&f->c.lat));
}

static void test_traced_times_every_task(void **state)
{
	struct fixture *f = *state;
	f->b.opt.latency_budget = 1;
	run(f, 4000);
	f->w.now += BKD_LAT_WINDOW_NS;
	assert_true(run(f, 1000) < 1000); /* sampling */
	__atomic_store_n(&brokerd_task__done_semaphore, 1, __ATOMIC_RELAXED); /* what the kernel does */
	f->w.now += BKD_LAT_WINDOW_NS;
	unsigned timed = run(f, 1000);
	__atomic_store_n(&brokerd_task__done_semaphore, 0, __ATOMIC_RELAXED);
	assert_int_equal(timed, 1000);
	assert_weights(fn_set(f));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_all_timed_without_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_period_follows_the_rate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_traced_times_every_task, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
