// SPDX-License-Identifier: MIT
/*
 * test_spin.c - the worker's spin policy (broker/spin.h): when an idle
 * worker busy-polls and when it sleeps at once.  Idle periods are fed to the
 * policy by moving its idle_since into the past, so no test waits on time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "brokerd.h"
#include "spin.h"

#define BUDGET_NS 50000LL

static bool asleep_answer;
static int asleep_calls;

static bool fake_all_asleep(void *arg)
{
	(void)arg;
	asleep_calls++;
	return asleep_answer;
}

/* Point the policy's machine-load check at a file of ours holding loadavg_line ("" disables the check). */
static void fake_loadavg(struct bkd_spin *s, const char *loadavg_line)
{
	if (s->load.fd >= 0)
		close(s->load.fd);
	s->load.fd = -1;
	atomic_store(&s->load.checked_ns, 0); /* read at the next idle period, not a millisecond later */
	if (!*loadavg_line)
		return;
	char path[] = "/tmp/bk-loadavg-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, loadavg_line, strlen(loadavg_line)), (ssize_t)strlen(loadavg_line));
	s->load.fd = fd;
}

/* A loadavg line saying `runnable` threads are runnable right now. */
static void fake_runnable(struct bkd_spin *s, unsigned runnable)
{
	char line[64];
	snprintf(line, sizeof(line), "1.00 1.00 1.00 %u/300 4242\n", runnable);
	fake_loadavg(s, line);
}

/* One idle period of gap_ns that ended with work. */
static void feed_gap(struct bkd_spin *s, int64_t gap_ns)
{
	s->idle_since = bk_now_ns() - gap_ns;
	bkd_spin_busy(s);
}

/* An adaptive policy whose first idle period spins while one thread more than CPUs is runnable. */
static void open_polite_period(struct bkd_spin *s)
{
	bkd_spin_init(s, BUDGET_NS, BKD_SPIN_ADAPTIVE);
	asleep_answer = false;
	fake_runnable(s, s->load.ncpus + 1);
	assert_true(bkd_spin_idle(s, fake_all_asleep, NULL));
}

static void test_always_spins_budget(void **state)
{
	(void)state;
	struct bkd_spin s;
	bkd_spin_init(&s, BUDGET_NS, BKD_SPIN_ALWAYS);
	for (int i = 0; i < 20; i++)
		feed_gap(&s, 10 * 1000 * 1000); /* long gaps do not matter to "always" */
	asleep_answer = true;
	assert_true(bkd_spin_idle(&s, fake_all_asleep, NULL));
	assert_int_equal(s.spun, 1);
	bkd_spin_fini(&s);
}

static void test_zero_budget_never_spins(void **state)
{
	(void)state;
	struct bkd_spin s;
	bkd_spin_init(&s, 0, BKD_SPIN_ALWAYS);
	assert_false(bkd_spin_idle(&s, NULL, NULL));
	assert_int_equal(s.skipped, 1);
	bkd_spin_fini(&s);
}

static void test_long_gaps_stop_spinning_short_ones_resume(void **state)
{
	(void)state;
	struct bkd_spin s;
	bkd_spin_init(&s, BUDGET_NS, BKD_SPIN_ADAPTIVE);
	fake_loadavg(&s, ""); /* this machine's load must not decide the test */
	asleep_answer = false;
	/* Fresh: nothing learnt yet, so it spins. */
	assert_true(bkd_spin_idle(&s, fake_all_asleep, NULL));
	bkd_spin_busy(&s);
	for (int i = 0; i < 8; i++)
		feed_gap(&s, 2 * 1000 * 1000); /* 2 ms periods, e.g. a client ticking */
	assert_true(s.gap_ewma_ns > BUDGET_NS);
	asleep_calls = 0;
	assert_false(bkd_spin_idle(&s, fake_all_asleep, NULL));
	assert_int_equal(asleep_calls, 0); /* decided on the gaps alone */
	bkd_spin_busy(&s);
	/* A stream of short periods (a busy client) brings spinning back. */
	for (int i = 0; i < 64 && s.gap_ewma_ns > BUDGET_NS; i++)
		feed_gap(&s, 1000);
	assert_true(s.gap_ewma_ns <= BUDGET_NS);
	asleep_calls = 0;
	assert_true(bkd_spin_idle(&s, fake_all_asleep, NULL));
	assert_int_equal(asleep_calls, 1);
	bkd_spin_fini(&s);
}

static void test_all_clients_asleep_no_spin(void **state)
{
	(void)state;
	struct bkd_spin s;
	bkd_spin_init(&s, BUDGET_NS, BKD_SPIN_ADAPTIVE);
	asleep_answer = true;
	assert_false(bkd_spin_idle(&s, fake_all_asleep, NULL));
	/* The decision holds for the whole idle period: no second look. */
	assert_false(bkd_spin_idle(&s, fake_all_asleep, NULL));
	assert_int_equal(s.skipped, 1);
	bkd_spin_fini(&s);
}

static void test_waiting_threads_spin_politely(void **state)
{
	(void)state;
	struct bkd_spin s;
	open_polite_period(&s);
	assert_true(s.yield); /* every turn of this period gives the CPU away first */
	assert_int_equal(s.yielded, 1);
	assert_int_equal(s.spin_until - s.idle_since, BK_POLITE_SPIN_MAX_NS); /* and it is short (sys.h) */
	s.spin_until = bk_now_ns() + 60 * 1000000000LL; /* the test may be preempted: keep the budget open */
	assert_true(bkd_spin_idle(&s, fake_all_asleep, NULL)); /* a yielding turn, within the budget */
	s.spin_until = bk_now_ns() - 1; /* the budget spent: a yielding period ends like any other */
	assert_false(bkd_spin_idle(&s, fake_all_asleep, NULL));
	feed_gap(&s, 1000); /* a short period, however long the test was preempted */
	fake_runnable(&s, s.load.ncpus); /* every CPU busy, nobody waiting: spinning takes no one's CPU */
	assert_true(bkd_spin_idle(&s, fake_all_asleep, NULL));
	assert_false(s.yield);
	assert_int_equal(s.spin_until - s.idle_since, BUDGET_NS); /* the whole budget */
	feed_gap(&s, 1000); /* a short period, however long the test was preempted */
	fake_loadavg(&s, "garbage\n"); /* unreadable: the check is skipped */
	assert_true(bkd_spin_idle(&s, fake_all_asleep, NULL));
	assert_false(s.yield);
	assert_int_equal(s.yielded, 1);
	feed_gap(&s, 1000); /* a short period, however long the test was preempted */
	/* Long gaps still stop spinning, yielding or not. */
	fake_runnable(&s, s.load.ncpus + 1);
	for (int i = 0; i < 16; i++)
		feed_gap(&s, 2 * 1000 * 1000);
	assert_false(bkd_spin_idle(&s, fake_all_asleep, NULL));
	bkd_spin_fini(&s);
}

/* bkd_spin_spinning tells a spinning period from the others without deciding, yielding or counting. */
static void test_spinning_asks_nothing(void **state)
{
	(void)state;
	struct bkd_spin s;
	bkd_spin_init(&s, BUDGET_NS, BKD_SPIN_ADAPTIVE);
	assert_false(bkd_spin_spinning(&s, bk_now_ns())); /* no idle period open */
	bkd_spin_fini(&s);
	open_polite_period(&s);
	int64_t t = s.idle_since;
	uint64_t spun = s.spun;
	int calls = asleep_calls;
	assert_true(bkd_spin_spinning(&s, t));
	assert_true(bkd_spin_spinning(&s, s.spin_until - 1));
	assert_false(bkd_spin_spinning(&s, s.spin_until)); /* spent: the loop must ask bkd_spin_idle */
	assert_int_equal(s.spun, spun); /* nothing decided again */
	assert_int_equal(asleep_calls, calls);
	bkd_spin_busy(&s);
	assert_false(bkd_spin_spinning(&s, t)); /* the period is closed */
	asleep_answer = true; /* a period that sleeps at once is not spinning, at any time */
	assert_false(bkd_spin_idle(&s, fake_all_asleep, NULL));
	assert_false(bkd_spin_spinning(&s, s.idle_since));
	bkd_spin_fini(&s);
}

/* /proc/loadavg is read at most once a millisecond: at one idle period per round trip, a pread each
 * would cost more than the round trip. */
static void test_load_read_once_a_ms(void **state)
{
	(void)state;
	struct bkd_spin s;
	open_polite_period(&s);
	assert_true(s.yield);
	int64_t read_at = atomic_load(&s.load.checked_ns);
	assert_true(read_at > 0);
	feed_gap(&s, 1000);
	fake_runnable(&s, s.load.ncpus);
	atomic_store(&s.load.checked_ns, INT64_MAX / 2); /* "just read", however slowly this test runs */
	assert_true(bkd_spin_idle(&s, fake_all_asleep, NULL));
	assert_true(s.yield); /* the answer of the last read, not the file's */
	feed_gap(&s, 1000);
	atomic_store(&s.load.checked_ns, bk_now_ns() - 2000000); /* read 2 ms ago: read again */
	assert_true(bkd_spin_idle(&s, fake_all_asleep, NULL));
	assert_false(s.yield);
	bkd_spin_fini(&s);
}

static void test_runnable_count(void **state)
{
	(void)state;
	struct bkd_spin s;
	bkd_spin_init(&s, BUDGET_NS, BKD_SPIN_ADAPTIVE);
	/* This thread is running while it reads the count, so it is at least 1. */
	assert_true(bk_runnable_threads(s.load.fd) >= 1);
	bkd_spin_fini(&s);
	assert_int_equal(s.load.fd, -1);
	assert_int_equal(bk_runnable_threads(s.load.fd), -1);
	assert_false(bk_load_check_busy(&s.load, bk_now_ns())); /* closed: never contended */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_always_spins_budget),
		cmocka_unit_test(test_zero_budget_never_spins),
		cmocka_unit_test(test_long_gaps_stop_spinning_short_ones_resume),
		cmocka_unit_test(test_all_clients_asleep_no_spin),
		cmocka_unit_test(test_waiting_threads_spin_politely),
		cmocka_unit_test(test_spinning_asks_nothing),
		cmocka_unit_test(test_load_read_once_a_ms),
		cmocka_unit_test(test_runnable_count),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
