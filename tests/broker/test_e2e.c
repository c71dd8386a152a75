// SPDX-License-Identifier: MIT
/*
 * test_e2e.c - brokerd end to end through libbkclient: every built-in
 * function with its result checked byte for byte, 1,000 concurrent 100 ms
 * sleeps on one worker in under a second, prompt cancellation, and the same
 * with the eventfd wake-up fallback (--no-futex).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "bt_util.h"

#define NSLEEP 1000

struct fixture {
	struct bkt_brokerd b;
	bk_client *c;
};

static int setup_with(void **state, const char *const *extra, const char *mode)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	bt_start(&fx->b, extra);
	/* The group covers the wake-up mechanism it names, not whatever the kernel picked. */
	if (bt_log_wait(&fx->b, mode, 5 * BT_SEC) < 0) {
		bk_test_broker_dump_log(&fx->b);
		fail_msg("brokerd does not report '%s'", mode);
	}
	fx->c = bt_connect_slots(fx->b.socket, 1024); /* test_thousand_sleeps keeps 1000 in flight */
	*state = fx;
	return 0;
}

static int setup_futex(void **state)
{
	static const char *const extra[] = { "--workers", "1", NULL };
	return setup_with(state, extra, "wake-ups by futex");
}

static int setup_eventfd(void **state)
{
	static const char *const extra[] = { "--workers", "1", "--no-futex", NULL };
	return setup_with(state, extra, "wake-ups by eventfd");
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	bk_disconnect(fx->c);
	int st = bk_test_broker_stop(&fx->b);
	if (st != 0)
		bk_test_broker_dump_log(&fx->b);
	bk_test_broker_cleanup(&fx->b);
	free(fx);
	assert_int_equal(st, 0);
	return 0;
}

static void fill_random(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

static void test_echo(void **state)
{
	struct fixture *fx = *state;
	uint8_t out[256];
	size_t n = 99;

	assert_int_equal(bt_call(fx->c, bt_lookup(fx->c, "echo.noop"), "ignored", 7, out, sizeof(out), &n), 0);
	assert_int_equal(n, 0);

	uint8_t arg[200];
	fill_random(arg, sizeof(arg), 7); /* binary, NULs included */
	arg[10] = 0;
	assert_int_equal(bt_call(fx->c, bt_lookup(fx->c, "echo.echo"), arg, sizeof(arg), out, sizeof(out), &n), 0);
	assert_int_equal(n, sizeof(arg));
	assert_memory_equal(out, arg, sizeof(arg));

	const char *mixed = "Hello, World 123 zz";
	assert_int_equal(bt_call(fx->c, bt_lookup(fx->c, "echo.upper"), mixed, strlen(mixed), out, sizeof(out), &n),
			 0);
	assert_int_equal(n, strlen(mixed));
	assert_memory_equal(out, "HELLO, WORLD 123 ZZ", n);
}

static void test_sleep_one(void **state)
{
	struct fixture *fx = *state;
	size_t n = 99;
	int64_t t0 = bk_now_ns();
	assert_int_equal(bt_call(fx->c, bt_lookup(fx->c, "timer.sleep"), "100", 3, NULL, 0, &n), 0);
	int64_t dt = bk_now_ns() - t0;
	assert_int_equal(n, 0);
	assert_true(dt >= 100000000LL); /* a timer never fires early */
	assert_true(dt < 5 * BT_SEC);
}

static void test_file_read(void **state)
{
	struct fixture *fx = *state;
	char path[] = "/tmp/bk-file-read-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	uint8_t data[1000];
	fill_random(data, sizeof(data), 99);
	assert_int_equal(write(fd, data, sizeof(data)), (ssize_t)sizeof(data));
	close(fd);

	char arg[256];
	uint8_t out[256];
	size_t n = 0;
	bk_fn fn = bt_lookup(fx->c, "file.read");
	snprintf(arg, sizeof(arg), "100 200 %s", path);
	assert_int_equal(bt_call(fx->c, fn, arg, strlen(arg), out, sizeof(out), &n), 0);
	assert_int_equal(n, 200);
	assert_memory_equal(out, data + 100, 200);

	/* Near the end of the file: fewer bytes. */
	snprintf(arg, sizeof(arg), "950 200 %s", path);
	assert_int_equal(bt_call(fx->c, fn, arg, strlen(arg), out, sizeof(out), &n), 0);
	assert_int_equal(n, 50);
	assert_memory_equal(out, data + 950, 50);

	unlink(path);
	snprintf(arg, sizeof(arg), "0 10 %s", path);
	assert_int_equal(bt_call(fx->c, fn, arg, strlen(arg), out, sizeof(out), &n), -ENOENT);
}

static void test_sha256(void **state)
{
	struct fixture *fx = *state;
	uint8_t arg[240], out[64], want[SHA256_DIGEST_LENGTH];
	fill_random(arg, sizeof(arg), 3);
	SHA256(arg, sizeof(arg), want);
	size_t n = 0;
	assert_int_equal(bt_call(fx->c, bt_lookup(fx->c, "hash.sha256"), arg, sizeof(arg), out, sizeof(out), &n), 0);
	assert_int_equal(n, SHA256_DIGEST_LENGTH);
	assert_memory_equal(out, want, SHA256_DIGEST_LENGTH);
}

static void test_unknown_function(void **state)
{
	struct fixture *fx = *state;
	bk_fn fn;
	assert_int_equal(bk_lookup(fx->c, "echo.nosuch", &fn), -ENOENT);
	/* An id that was never handed out completes with -ENOENT; it does not hang or crash. */
	size_t n;
	assert_int_equal(bt_call(fx->c, 0x7fffffffu, "x", 1, NULL, 0, &n), -ENOENT);
}

/*
 * 1000 sleeps of 100 ms on one worker finish in under a second only if the
 * worker keeps serving while they are pending (one after another they would
 * take 100 s): proves no worker blocks on a sleep.
 */
static void test_thousand_sleeps(void **state)
{
	struct fixture *fx = *state;
	bk_fn fn = bt_lookup(fx->c, "timer.sleep");
	static bk_future *f[NSLEEP];
	int64_t t0 = bk_now_ns();
	for (int i = 0; i < NSLEEP; i++) {
		int r = bk_submit(fx->c, fn, "100", 3, &f[i]);
		if (r < 0)
			fail_msg("submit %d: %s", i, bk_strerror(r));
	}
	for (int i = 0; i < NSLEEP; i++) {
		int r = bk_wait(f[i], 10 * BT_SEC);
		if (r < 0)
			fail_msg("wait %d: %s", i, bk_strerror(r));
		assert_int_equal(bk_result(f[i], NULL, NULL), 0);
	}
	int64_t dt = bk_now_ns() - t0;
	for (int i = 0; i < NSLEEP; i++)
		bk_release(f[i]);
	print_message("1000 x timer.sleep 100 on one worker: %.3f s\n", (double)dt / 1e9);
	assert_true(dt >= 100000000LL);
	assert_true(dt < BT_SEC);
}

static void test_cancel_sleep(void **state)
{
	struct fixture *fx = *state;
	bk_fn fn = bt_lookup(fx->c, "timer.sleep");
	bk_future *f = NULL;
	assert_int_equal(bk_submit(fx->c, fn, "10000", 5, &f), 0);
	assert_int_equal(bk_wait(f, 50000000LL), -ETIMEDOUT); /* really pending */
	int64_t t0 = bk_now_ns();
	assert_int_equal(bk_cancel(f), 0);
	assert_int_equal(bk_wait(f, 2 * BT_SEC), 0);
	int64_t dt = bk_now_ns() - t0;
	assert_int_equal(bk_result(f, NULL, NULL), -ECANCELED);
	bk_release(f);
	print_message("cancel of a pending sleep completed in %.3f ms\n", (double)dt / 1e6);
	assert_true(dt < 500000000LL);

	/* The broker's books agree: nothing left in flight. */
	struct bk_msg_status_reply st;
	bt_status(fx->b.socket, &st);
	assert_int_equal(st.inflight, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_echo),
		cmocka_unit_test(test_sleep_one),
		cmocka_unit_test(test_file_read),
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_unknown_function),
		cmocka_unit_test(test_thousand_sleeps),
		cmocka_unit_test(test_cancel_sleep),
	};
	int failed = cmocka_run_group_tests_name("brokerd e2e (futex wake-ups)", tests, setup_futex, teardown);
	failed += cmocka_run_group_tests_name("brokerd e2e (eventfd wake-ups, --no-futex)", tests, setup_eventfd,
					       teardown);
	return failed;
}
