// SPDX-License-Identifier: MIT
/*
 * test_wait_many.c - bk_wait_all and bk_wait_any against a real brokerd:
 * thousands of futures in one wait, results byte for byte, timeouts, which
 * future bk_wait_any names, bad arguments, and broker death (BK_EGONE
 * within the broker-gone bound, completed futures keep their results).
 * The wake gate (include/broker/ring.h): bk_wait_all over futures that
 * end one after another is woken once, not once each, and still ends when
 * another thread reaps its completions.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <pthread.h>

#include <cmocka.h>

#include "broker/client.h"
#include "client_internal.h"
#include "harness.h"

#define SEC 1000000000LL
#define MANY 2000

struct fx {
	struct bkt_brokerd b;
	bk_client *c;
	bk_fn sleep, upper;
};

static int setup(void **state)
{
	static struct fx fx;
	assert_int_equal(bk_test_broker_start(&fx.b, NULL), 0);
	bk_options o;
	bk_options_init(&o);
	o.max_inflight = 2048;
	o.sq_entries = 2048;
	assert_int_equal(bk_connect(fx.b.socket, &o, &fx.c), 0);
	assert_int_equal(bk_lookup(fx.c, "timer.sleep", &fx.sleep), 0);
	assert_int_equal(bk_lookup(fx.c, "echo.upper", &fx.upper), 0);
	*state = &fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	bk_disconnect(fx->c);
	bk_test_broker_cleanup(&fx->b);
	return 0;
}

static bk_future *submit(struct fx *fx, bk_fn fn, const char *arg)
{
	bk_future *f = NULL;
	int r = bk_submit(fx->c, fn, arg, strlen(arg), &f);
	if (r < 0)
		fail_msg("submit: %s", bk_strerror(r));
	return f;
}

static void test_all_of_many(void **state)
{
	struct fx *fx = *state;
	static bk_future *f[MANY];
	static char args[MANY][16];
	for (int i = 0; i < MANY; i++) {
		if (i % 4 == 0) {
			snprintf(args[i], sizeof(args[i]), "%d", 1 + i % 20); /* 1..20 ms */
			f[i] = submit(fx, fx->sleep, args[i]);
		} else {
			snprintf(args[i], sizeof(args[i]), "item%d", i);
			f[i] = submit(fx, fx->upper, args[i]);
		}
	}
	int64_t t0 = bk_now_ns();
	assert_int_equal(bk_wait_all(f, MANY, 10 * SEC), 0);
	int64_t dt = bk_now_ns() - t0;
	for (int i = 0; i < MANY; i++) {
		const void *out;
		size_t len;
		assert_int_equal(bk_result(f[i], &out, &len), 0);
		if (i % 4 != 0) {
			char want[16];
			size_t n = strlen(args[i]);
			for (size_t k = 0; k <= n; k++)
				want[k] = (char)(args[i][k] >= 'a' && args[i][k] <= 'z' ? args[i][k] - 32 : args[i][k]);
			assert_int_equal(len, n);
			assert_memory_equal(out, want, n);
		}
		bk_release(f[i]);
	}
	print_message("bk_wait_all over %d futures: %.1f ms\n", MANY, (double)dt / 1e6);
}

static void test_all_times_out_then_finishes(void **state)
{
	struct fx *fx = *state;
	bk_future *f[3] = { submit(fx, fx->upper, "a"), submit(fx, fx->sleep, "10000"), submit(fx, fx->upper, "b") };
	int64_t t0 = bk_now_ns();
	assert_int_equal(bk_wait_all(f, 3, 50 * 1000000LL), -ETIMEDOUT);
	int64_t dt = bk_now_ns() - t0;
	assert_true(dt >= 50 * 1000000LL && dt < 2 * SEC);
	assert_int_equal(bk_cancel(f[1]), 0);
	assert_int_equal(bk_wait_all(f, 3, 5 * SEC), 0);
	assert_int_equal(bk_result(f[1], NULL, NULL), -ECANCELED);
	for (int i = 0; i < 3; i++)
		bk_release(f[i]);
}

/* Four sleeps ending 20 ms apart: the broker leaves the one sleeping thread asleep until the last. */
static void test_all_wakes_once(void **state)
{
	struct fx *fx = *state;
	_Atomic uint32_t *wake_seq = &fx->c->v.cq_ctl->wake_seq;
	bk_future *f[4] = { submit(fx, fx->sleep, "20"), submit(fx, fx->sleep, "40"), submit(fx, fx->sleep, "60"),
			    submit(fx, fx->sleep, "80") };
	uint32_t before = atomic_load(wake_seq);
	assert_int_equal(bk_wait_all(f, 4, 10 * SEC), 0);
	uint32_t wakes = atomic_load(wake_seq) - before;
	print_message("bk_wait_all over 4 sleeps ending 20 ms apart: %u wake-ups\n", wakes);
	assert_true(wakes <= 1); /* 4 without the gate (0 if all ended before it slept) */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(bk_result(f[i], NULL, NULL), 0);
		bk_release(f[i]);
	}
}

struct poller {
	bk_future **f;
	int n;
	_Atomic bool stop;
};

/* Another thread that reaps: bk_poll takes completions off the CQ, the waiter's included. */
static void *poll_all(void *arg)
{
	struct poller *p = arg;
	while (!atomic_load(&p->stop)) {
		for (int i = 0; i < p->n; i++)
			(void)bk_poll(p->f[i]);
		struct timespec ts = { 0, 200000 };
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void test_all_with_another_reaper(void **state)
{
	struct fx *fx = *state;
	for (int round = 0; round < 5; round++) {
		bk_future *f[4] = { submit(fx, fx->sleep, "5"), submit(fx, fx->sleep, "10"), submit(fx, fx->upper, "x"),
				    submit(fx, fx->sleep, "15") };
		struct poller p = { .f = f, .n = 4 };
		pthread_t t;
		assert_int_equal(pthread_create(&t, NULL, poll_all, &p), 0);
		int64_t t0 = bk_now_ns();
		int r = bk_wait_all(f, 4, 10 * SEC);
		int64_t dt = bk_now_ns() - t0;
		atomic_store(&p.stop, true);
		assert_int_equal(pthread_join(t, NULL), 0);
		assert_int_equal(r, 0);
		print_message("bk_wait_all beside a polling thread, round %d: %.1f ms\n", round, (double)dt / 1e6);
		for (int i = 0; i < 4; i++) {
			assert_int_equal(bk_result(f[i], NULL, NULL), 0);
			bk_release(f[i]);
		}
	}
}

static void test_any_names_the_first(void **state)
{
	struct fx *fx = *state;
	bk_future *f[3] = { submit(fx, fx->sleep, "3000"), submit(fx, fx->sleep, "20"), submit(fx, fx->sleep, "2000") };
	size_t idx = 99;
	assert_int_equal(bk_wait_any(f, 3, 5 * SEC, &idx), 0);
	assert_int_equal(idx, 1);
	assert_int_equal(bk_poll(f[0]), 0); /* the others are still pending */
	assert_int_equal(bk_poll(f[2]), 0);
	/* A short timeout with nothing ending: -ETIMEDOUT, index untouched. */
	bk_future *rest[2] = { f[0], f[2] };
	idx = 99;
	assert_int_equal(bk_wait_any(rest, 2, 10 * 1000000LL, &idx), -ETIMEDOUT);
	assert_int_equal(idx, 99);
	for (int i = 0; i < 3; i++)
		bk_release(f[i]);
}

static void test_bad_arguments(void **state)
{
	struct fx *fx = *state;
	size_t idx;
	assert_int_equal(bk_wait_all(NULL, 1, 0), -EINVAL);
	assert_int_equal(bk_wait_any(NULL, 1, 0, &idx), -EINVAL);
	bk_future *none[1] = { NULL };
	assert_int_equal(bk_wait_all(none, 0, 0), 0);
	assert_int_equal(bk_wait_any(none, 0, 0, &idx), -EINVAL);
	assert_int_equal(bk_wait_all(none, 1, 0), -EINVAL);
	/* Futures of two clients in one wait. */
	bk_client *other;
	assert_int_equal(bk_connect(fx->b.socket, NULL, &other), 0);
	bk_fn up2;
	assert_int_equal(bk_lookup(other, "echo.upper", &up2), 0);
	bk_future *f[2] = { submit(fx, fx->upper, "x"), NULL };
	assert_int_equal(bk_submit(other, up2, "y", 1, &f[1]), 0);
	assert_int_equal(bk_wait_all(f, 2, SEC), -EINVAL);
	assert_int_equal(bk_wait_any(f, 2, SEC, &idx), -EINVAL);
	assert_int_equal(bk_wait(f[0], SEC), 0);
	assert_int_equal(bk_wait(f[1], SEC), 0);
	bk_release(f[0]);
	bk_release(f[1]);
	bk_disconnect(other);
}

/* Last: it kills the group's brokerd. */
static void test_broker_death(void **state)
{
	struct fx *fx = *state;
	bk_future *done = submit(fx, fx->upper, "kept");
	assert_int_equal(bk_wait(done, 5 * SEC), 0);
	bk_future *f[4] = { done, submit(fx, fx->sleep, "10000"), submit(fx, fx->sleep, "10000"),
			    submit(fx, fx->sleep, "10000") };
	assert_int_equal(bk_wait_all(f, 4, 20 * 1000000LL), -ETIMEDOUT); /* really pending */
	bk_test_broker_kill(&fx->b);
	int64_t t0 = bk_now_ns();
	assert_int_equal(bk_wait_all(f, 4, 10 * SEC), BK_EGONE);
	int64_t dt = bk_now_ns() - t0;
	assert_true(dt < 2 * SEC); /* the broker-gone check runs between sleep slices */
	size_t idx = 99;
	assert_int_equal(bk_wait_any(f + 1, 3, SEC, &idx), BK_EGONE);
	assert_int_equal(idx, 0);
	const void *out;
	size_t len;
	assert_int_equal(bk_result(done, &out, &len), 0); /* completed before the death: kept */
	assert_int_equal(len, 4);
	assert_memory_equal(out, "KEPT", 4);
	for (int i = 0; i < 4; i++)
		bk_release(f[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_of_many),
		cmocka_unit_test(test_all_times_out_then_finishes),
		cmocka_unit_test(test_all_wakes_once),
		cmocka_unit_test(test_all_with_another_reaper),
		cmocka_unit_test(test_any_names_the_first),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_broker_death),
	};
	return cmocka_run_group_tests_name("bk_wait_all and bk_wait_any", tests, setup, teardown);
}
