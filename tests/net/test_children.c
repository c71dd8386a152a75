// SPDX-License-Identifier: MIT
/*
 * test_children.c - child tasks (host->call) inside a real brokerd: the
 * kids test module (kidsmod.c) and net.fanout.  A parent with 100 children
 * completes after all of them; cancelling a parent cancels its children and
 * their pending I/O (timers, sockets); the depth limit; and a client killed
 * in the middle of a fan-out leaves brokerd with the descriptors it had
 * before.  Every wait is bounded.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "bt_util.h"
#include "echo_server.h"
#include "net_util.h"

#define SEC 1000000000LL

static struct bkt_brokerd B;
static struct bkt_echo silent, echo;
static bk_client *C;
static bk_fn f_spawn, f_hang, f_live, f_deep, f_fan, f_poll;

static int setup(void **state)
{
	(void)state;
	const char *mod = getenv("BK_KIDSMOD");
	const char *extra[] = {"--workers", "1", "--module", mod, NULL};
	if (!mod || bk_test_broker_start(&B, extra) != 0 || bkt_echo_start(&silent, BKT_SILENT) != 0 ||
	    bkt_echo_start(&echo, BKT_ECHO) != 0)
		return -1;
	C = bt_connect(B.socket);
	f_spawn = bt_lookup(C, "kids.spawn");
	f_hang = bt_lookup(C, "kids.hang");
	f_live = bt_lookup(C, "kids.live");
	f_deep = bt_lookup(C, "kids.deep");
	f_fan = bt_lookup(C, "net.fanout");
	f_poll = bt_lookup(C, "kids.poll");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (C)
		bk_disconnect(C);
	bkt_echo_stop(&silent);
	bkt_echo_stop(&echo);
	/* A clean exit: under ASan a leak, or any error on the way out, makes brokerd's status nonzero. */
	int st = bk_test_broker_stop(&B);
	if (st != 0) {
		fprintf(stderr, "brokerd exited with %d\n", st);
		bk_test_broker_dump_log(&B);
	}
	bk_test_broker_cleanup(&B);
	return st == 0 ? 0 : -1;
}

static int live_children(void)
{
	char *out;
	assert_int_equal(nt_call(C, f_live, "", 0, 32, &out, NULL), 0);
	int n = atoi(out);
	free(out);
	return n;
}

/* The parent's result is built in its last child's callback: "100 4950" says every child reported first. */
static void hundred_children(void **state)
{
	(void)state;
	char *out;
	assert_int_equal(nt_call(C, f_spawn, "100", 3, 64, &out, NULL), 0);
	assert_string_equal(out, "100 4950");
	free(out);
	assert_int_equal(live_children(), 0);
}

struct live_at {
	int n;
};

static bool live_is(void *arg)
{
	return live_children() == ((struct live_at *)arg)->n;
}

/* Children waiting on 60 s timers: a cancel of the parent ends them all (their timers too) at once. */
static void cancel_cancels_children(void **state)
{
	(void)state;
	struct nt_call call;
	nt_submit(C, f_hang, "10", 2, 64, &call);
	struct live_at ten = {10};
	assert_true(nt_wait_for(live_is, &ten, 10 * SEC));
	int64_t t0 = bk_now_ns();
	assert_int_equal(bk_cancel(call.f), 0);
	assert_int_equal(nt_finish(&call, 5 * SEC, NULL, NULL), -ECANCELED);
	assert_true(bk_now_ns() - t0 < 5 * SEC);
	assert_int_equal(live_children(), 0);
}

static void depth_limit(void **state)
{
	(void)state;
	char *out;
	size_t n;
	assert_int_equal(nt_call(C, f_deep, "16", 2, 16, &out, &n), 0);
	assert_int_equal(n, 4);
	uint32_t levels;
	memcpy(&levels, out, 4);
	assert_int_equal(levels, 16);
	free(out);
	assert_int_equal(nt_call(C, f_deep, "17", 2, 16, NULL, NULL), -ELOOP);
	assert_int_equal(nt_call(C, f_deep, "500", 3, 16, NULL, NULL), -ELOOP);
}

/* n net.request records to the silent server, no timeout: they wait until cancelled. */
static size_t silent_fanout(char *arg, int n)
{
	size_t at = 0;
	for (int i = 0; i < n; i++) {
		char req[64];
		int r = snprintf(req, sizeof(req), "127.0.0.1 %u 0\nhang-%d", silent.port, i);
		at += (size_t)sprintf(arg + at, "%d\n", r);
		memcpy(arg + at, req, (size_t)r);
		at += (size_t)r;
	}
	return at;
}

struct accepted_at {
	uint64_t n;
};

static bool accepted(void *arg)
{
	return atomic_load(&silent.accepted) >= ((struct accepted_at *)arg)->n;
}

/* A fan-out whose children wait in recv: the cancel reaches their sockets, which brokerd closes. */
static void cancel_fanout_closes_sockets(void **state)
{
	(void)state;
	int base = bk_test_broker_fd_count(&B);
	char arg[2048];
	size_t len = silent_fanout(arg, 8);
	struct accepted_at at = {atomic_load(&silent.accepted) + 8};
	struct nt_call call;
	nt_submit(C, f_fan, arg, len, 4096, &call);
	assert_true(nt_wait_for(accepted, &at, 10 * SEC));
	assert_int_equal(bk_cancel(call.f), 0);
	assert_int_equal(nt_finish(&call, 5 * SEC, NULL, NULL), -ECANCELED);
	nt_expect_fds(&B, base);
}

/* A client process killed while its fan-out's children hold sockets: brokerd ends up where it started. */
static void client_killed_mid_fanout(void **state)
{
	(void)state;
	int base = bk_test_broker_fd_count(&B);
	char arg[8192];
	size_t len = silent_fanout(arg, 50);
	struct accepted_at at = {atomic_load(&silent.accepted) + 50};
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		bk_client *c;
		bk_fn fn;
		bk_future *f;
		if (bk_connect(B.socket, NULL, &c) != 0 || bk_lookup(c, "net.fanout", &fn) != 0)
			_exit(1);
		void *buf = bk_buf_alloc(c, len);
		void *res = bk_buf_alloc(c, 8192);
		if (!buf || !res)
			_exit(1);
		memcpy(buf, arg, len);
		bk_call call = {.fn = fn, .arg = buf, .len = len, .result = res, .result_cap = 8192};
		if (bk_submit_batch(c, &call, 1, &f) != 1)
			_exit(1);
		for (;;)
			pause(); /* until killed */
	}
	bool ok = nt_wait_for(accepted, &at, 10 * SEC);
	kill(pid, SIGKILL);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(ok);
	nt_expect_fds(&B, base);
	/* And brokerd still serves. */
	assert_int_equal(live_children(), 0);
}

/* host->poll: readable once the echo comes back; a linked timeout ends a poll that never fires.  The module
 * never closes its socket: brokerd does, at the task's end. */
static void poll_and_link_timeout(void **state)
{
	(void)state;
	int base = bk_test_broker_fd_count(&B);
	char arg[32], *out;
	int n = snprintf(arg, sizeof(arg), "%u 0", echo.port);
	assert_int_equal(nt_call(C, f_poll, arg, (size_t)n, 32, &out, NULL), 0);
	assert_true(atoi(out) & POLLIN);
	free(out);
	n = snprintf(arg, sizeof(arg), "%u 150", silent.port);
	int64_t t0 = bk_now_ns();
	assert_int_equal(nt_call(C, f_poll, arg, (size_t)n, 32, NULL, NULL), -ETIMEDOUT);
	assert_true(bk_now_ns() - t0 >= 140 * 1000000LL);
	nt_expect_fds(&B, base);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hundred_children),
		cmocka_unit_test(cancel_cancels_children),
		cmocka_unit_test(depth_limit),
		cmocka_unit_test(cancel_fanout_closes_sockets),
		cmocka_unit_test(client_killed_mid_fanout),
		cmocka_unit_test(poll_and_link_timeout),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
