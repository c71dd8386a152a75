// SPDX-License-Identifier: MIT
/*
 * test_deadline.c - deadlines and priority lanes end to end (bk_call
 * deadline_ns and priority, bk_submit_opts; docs/ARCHITECTURE.md
 * "Priorities" and "Deadlines"), and the 1.0 bk_submit_batch symbol.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "broker/sys.h"
#include "bt_util.h"

#define MS 1000000LL

static struct bkt_brokerd brokerd;

static int setup(void **state)
{
	(void)state;
	bt_start(&brokerd, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return bkt_brokerd_stop(&brokerd, 10000) == 0 ? 0 : -1;
}

/* Wait for f (bounded), return its status and release it. */
static int finish(bk_future *f)
{
	assert_int_equal(bk_wait(f, 10 * BT_SEC), 0);
	int st = bk_result(f, NULL, NULL);
	bk_release(f);
	return st;
}

static void test_bad_options(void **state)
{
	(void)state;
	bk_client *c = bt_connect(brokerd.socket);
	bk_fn noop = bt_lookup(c, "echo.noop");
	bk_future *f = NULL;
	assert_int_equal(bk_submit_opts(c, noop, NULL, 0, 0, 3, &f), -EINVAL);
	assert_int_equal(bk_submit_opts(c, noop, NULL, 0, -1, BK_PRIO_NORMAL, &f), -EINVAL);
	assert_int_equal(bk_submit_opts(c, noop, NULL, 0, BK_DEADLINE_MAX_NS + 1, BK_PRIO_NORMAL, &f), -EINVAL);
	bk_call k = {.fn = noop, .flags = 2}; /* a flag no version defines (1 is BK_CALL_DURABLE) */
	assert_int_equal(bk_submit_batch(c, &k, 1, &f), -EINVAL);
	/* Every lane and a far deadline work. */
	for (unsigned p = BK_PRIO_NORMAL; p <= BK_PRIO_BACKGROUND; p++) {
		assert_int_equal(bk_submit_opts(c, noop, NULL, 0, 60 * BT_SEC, p, &f), 0);
		assert_int_equal(finish(f), 0);
	}
	bk_disconnect(c);
}

/* A deadline that passed before the broker took the call: -ETIMEDOUT, and the sleep never started. */
static void test_deadline_before_start(void **state)
{
	(void)state;
	bk_client *c = bt_connect(brokerd.socket);
	bk_fn sleep_fn = bt_lookup(c, "timer.sleep");
	enum { N = 64 };
	bk_future *fs[N];
	int64_t t0 = bk_now_ns();
	for (int i = 0; i < N; i++)
		assert_int_equal(bk_submit_opts(c, sleep_fn, "2000", 4, 1, BK_PRIO_NORMAL, &fs[i]), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(finish(fs[i]), -ETIMEDOUT);
	/* Started sleeps would have taken 2 s each: these never ran. */
	assert_true(bk_now_ns() - t0 < 1500 * MS);
	bk_disconnect(c);
}

/*
 * Deadlines of running tasks: 1,000 one-second sleeps with a 50 ms deadline
 * all end -ETIMEDOUT well before a sleep could have ended on its own, and a
 * sleep shorter than its deadline still succeeds.
 */
static void test_deadline_while_running(void **state)
{
	(void)state;
	enum { N = 1000 };
	bk_client *c = bt_connect_slots(brokerd.socket, 1024);
	bk_fn sleep_fn = bt_lookup(c, "timer.sleep");
	static bk_future *fs[N];
	bk_call k = {.fn = sleep_fn, .arg = "1000", .len = 4, .deadline_ns = 50 * MS};
	bk_call ks[64];
	for (int i = 0; i < 64; i++)
		ks[i] = k;
	int64_t t0 = bk_now_ns();
	for (size_t n = 0; n < N;) {
		int r = bk_submit_batch(c, ks, N - n < 64 ? N - n : 64, fs + n);
		assert_true(r > 0);
		n += (size_t)r;
	}
	assert_int_equal(bk_wait_all(fs, N, 10 * BT_SEC), 0);
	int64_t took = bk_now_ns() - t0;
	for (int i = 0; i < N; i++) {
		assert_int_equal(bk_result(fs[i], NULL, NULL), -ETIMEDOUT);
		bk_release(fs[i]);
	}
	print_message("1000 sleeps of 1 s with a 50 ms deadline: all -ETIMEDOUT after %lld ms\n", (long long)(took / MS));
	assert_true(took < 900 * MS); /* the sleeps themselves would have taken 1000 ms */
	bk_future *f;
	assert_int_equal(bk_submit_opts(c, sleep_fn, "5", 1, 5 * BT_SEC, BK_PRIO_NORMAL, &f), 0);
	assert_int_equal(finish(f), 0);
	bk_disconnect(c);
}

/* The 1.0 struct through the 1.0 symbol, as a program built before 1.1 calls it. */
struct call_v1_0 {
	bk_fn fn;
	const void *arg;
	size_t len;
	void *result;
	size_t result_cap;
	bk_complete_cb cb;
	void *user_data;
};
int submit_batch_v1_0(bk_client *c, const struct call_v1_0 *calls, size_t n, bk_future **out);
__asm__(".symver submit_batch_v1_0, bk_submit_batch@BKCLIENT_1");

static void test_v1_0_symbol(void **state)
{
	(void)state;
	bk_client *c = bt_connect(brokerd.socket);
	bk_fn upper = bt_lookup(c, "echo.upper");
	/* Three calls: the stride of the old struct must be honoured, or the second and third go wrong. */
	struct call_v1_0 k[3] = {
		{.fn = upper, .arg = "ab", .len = 2},
		{.fn = upper, .arg = "cd", .len = 2},
		{.fn = upper, .arg = "ef", .len = 2},
	};
	bk_future *f[3];
	assert_int_equal(submit_batch_v1_0(c, k, 3, f), 3);
	const char *want[3] = {"AB", "CD", "EF"};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(bk_wait(f[i], 10 * BT_SEC), 0);
		const void *data;
		size_t len;
		assert_int_equal(bk_result(f[i], &data, &len), 0);
		assert_int_equal(len, 2);
		assert_memory_equal(data, want[i], 2);
		bk_release(f[i]);
	}
	bk_disconnect(c);
}

struct flood {
	const char *socket;
	_Atomic int stop;
	_Atomic long done;
};

/* Keep a window of background no-ops in flight until told to stop. */
static void *flood_main(void *arg)
{
	struct flood *fl = arg;
	bk_client *c = bt_connect_slots(fl->socket, 256);
	bk_fn noop = bt_lookup(c, "echo.noop");
	enum { W = 192 };
	bk_future *fs[W];
	bk_call calls[64];
	for (int i = 0; i < 64; i++)
		calls[i] = (bk_call){.fn = noop, .priority = BK_PRIO_BACKGROUND};
	while (!atomic_load(&fl->stop)) {
		size_t n = 0;
		while (n < W) {
			size_t want = W - n < 64 ? W - n : 64;
			int r = bk_submit_batch(c, calls, want, fs + n);
			if (r == -EAGAIN)
				break;
			assert_true(r > 0);
			n += (size_t)r;
		}
		assert_int_equal(bk_wait_all(fs, n, 10 * BT_SEC), 0);
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(bk_result(fs[i], NULL, NULL), 0);
			bk_release(fs[i]);
		}
		atomic_fetch_add(&fl->done, (long)n);
	}
	bk_disconnect(c);
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/*
 * Interactive round trips beside a background flood: the flood keeps
 * progressing and the interactive p99 stays under a generous bound (the
 * bench measures the real ratio; docs/BENCHMARKS.md).
 */
static void test_interactive_beside_flood(void **state)
{
	(void)state;
	struct flood fl = {.socket = brokerd.socket};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, flood_main, &fl), 0);
	bk_client *c = bt_connect(brokerd.socket);
	bk_fn noop = bt_lookup(c, "echo.noop");
	/* Let the flood start before measuring (bounded). */
	int64_t until = bk_now_ns() + 10 * BT_SEC;
	while (atomic_load(&fl.done) == 0 && bk_now_ns() < until)
		sched_yield();
	assert_true(atomic_load(&fl.done) > 0);
	enum { R = 2000 };
	static int64_t rtt[R];
	for (int i = 0; i < R; i++) {
		bk_future *f;
		int64_t t0 = bk_now_ns();
		assert_int_equal(bk_submit_opts(c, noop, NULL, 0, 0, BK_PRIO_INTERACTIVE, &f), 0);
		assert_int_equal(finish(f), 0);
		rtt[i] = bk_now_ns() - t0;
	}
	long before = atomic_load(&fl.done);
	atomic_store(&fl.stop, 1);
	assert_int_equal(pthread_join(th, NULL), 0);
	qsort(rtt, R, sizeof(rtt[0]), cmp_i64);
	print_message("interactive beside a background flood: p50 %lld us, p99 %lld us; flood did %ld\n",
		      (long long)rtt[R / 2] / 1000, (long long)rtt[R * 99 / 100] / 1000, atomic_load(&fl.done));
	assert_true(rtt[R * 99 / 100] < 200 * MS);
	assert_true(before > 192); /* background progressed while interactive ran */
	bk_disconnect(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_deadline_before_start),
		cmocka_unit_test(test_deadline_while_running),
		cmocka_unit_test(test_v1_0_symbol),
		cmocka_unit_test(test_interactive_beside_flood),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
