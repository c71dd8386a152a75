// SPDX-License-Identifier: MIT
/*
 * test_trace.c - `brokerctl trace echo.noop --seconds 2` attached to a
 * harness brokerd while this test makes a known number of echo.noop calls
 * (and some echo.echo calls the filter must leave out): the histogram's
 * count is exactly the calls made.  Skipped, saying why, when not root or
 * when this build or kernel cannot load the BPF program.  Without root it
 * checks instead that brokerctl says it needs root.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/client.h"
#include "harness.h"
#include "obs_util.h"

#define NOOPS 2000
#define ECHOS 300
#define WINDOW_NS 2000000000LL

static struct bkt_brokerd B;

static void calls(bk_client *c, const char *name, const char *arg, int n)
{
	bk_fn fn;
	assert_int_equal(bk_lookup(c, name, &fn), 0);
	for (int i = 0; i < n; i++) {
		bk_future *f;
		assert_int_equal(bk_submit_wait(c, fn, arg, strlen(arg), 5000000000LL, &f), 0);
		assert_int_equal(bk_wait(f, 10000000000LL), 0);
		bk_release(f);
	}
}

/* The count of the histogram of name in trace's output, -1 if it has none. */
static long long count_of(const char *out, const char *name)
{
	char key[96];
	snprintf(key, sizeof(key), "function = %s (id ", name);
	const char *p = strstr(out, key);
	if (!p)
		return -1;
	return obs_number_after(p, NULL, "): ");
}

static void test_trace_count(void **state)
{
	(void)state;
	const char *bin = getenv("BK_BROKERCTL");
	assert_non_null(bin);
	struct obs_proc *p = calloc(1, sizeof(*p));
	assert_non_null(p);
	assert_int_equal(bk_test_broker_start(&B, NULL), 0);
	const char *a[] = {bin, "--socket", B.socket, "trace", "echo.noop", "--seconds", "2", NULL};
	if (geteuid() != 0) {
		assert_int_equal(obs_run(p, a, 20), 1);
		assert_non_null(strstr(p->err, "needs root"));
		free(p);
		skip(); /* the count needs root */
	}
	assert_int_equal(obs_spawn(p, a), 0);
	int64_t t0 = bk_now_ns();
	if (!obs_wait_for(p, "attached to brokerd", t0 + 15000000000LL)) {
		int st = obs_wait(p, bk_now_ns() + 15000000000LL);
		fprintf(stderr, "trace could not attach (exit %d), skipped: %s\n", st, p->err);
		assert_true(strstr(p->err, "BPF") || strstr(p->err, "attaching")); /* a reason, not a crash */
		free(p);
		skip();
	}
	bk_client *c;
	assert_int_equal(bk_connect(B.socket, NULL, &c), 0);
	calls(c, "echo.noop", "", NOOPS);
	calls(c, "echo.echo", "abc", ECHOS);
	int64_t done = bk_now_ns();
	/* Every call must fall inside the window for the count to be exact; the window starts after t0. */
	if (done - t0 >= WINDOW_NS)
		fail_msg("the calls took %.2f s, longer than the trace's 2 s window", (double)(done - t0) / 1e9);
	assert_int_equal(obs_wait(p, bk_now_ns() + 20000000000LL), 0);
	assert_int_equal(count_of(p->out, "echo.noop"), NOOPS);
	assert_int_equal(count_of(p->out, "echo.echo"), -1); /* filtered out */
	assert_non_null(strstr(p->out, "nsecs"));
	assert_non_null(strstr(p->out, "slowest tasks:"));
	bk_disconnect(c);
	assert_int_equal(bk_test_broker_stop(&B), 0);
	free(p);
}

static int teardown(void **state)
{
	(void)state;
	bk_test_broker_cleanup(&B);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_trace_count, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
