// SPDX-License-Identifier: MIT
/*
 * test_child_wait.c - unit tests of bkt_child_wait (tools/common/child_wait.h),
 * the deadline-bounded waitpid of the tools and the tests: the status of a
 * child that ends, -ETIMEDOUT for one that does not (left running, or killed
 * and reaped when asked), and -ECHILD for a pid that is not a child.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/sys.h"
#include "child_wait.h"

#define LONG_NS (30LL * 1000000000LL)
#define SHORT_NS (50LL * 1000000LL)

static pid_t spawn(int code)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (code < 0)
			for (;;)
				pause(); /* never ends by itself */
		_exit(code);
	}
	return pid;
}

static void test_status_of_a_child_that_ends(void **state)
{
	(void)state;
	int st = 0;
	assert_int_equal(bkt_child_wait(spawn(7), bk_now_ns() + LONG_NS, &st, false), 0);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 7);
}

static void test_late_child_left_running(void **state)
{
	(void)state;
	pid_t pid = spawn(-1);
	int st = -1;
	assert_int_equal(bkt_child_wait(pid, bk_now_ns() + SHORT_NS, &st, false), -ETIMEDOUT);
	assert_int_equal(st, -1); /* untouched */
	assert_int_equal(kill(pid, 0), 0); /* still there */
	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_int_equal(bkt_child_wait(pid, bk_now_ns() + LONG_NS, &st, false), 0);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGTERM);
}

static void test_late_child_killed_and_reaped(void **state)
{
	(void)state;
	pid_t pid = spawn(-1);
	int st = 0;
	int r = bkt_child_wait(pid, bk_now_ns() + SHORT_NS, &st, true);
	/* Reaped: no zombie is left, so the pid is no child of ours any more. */
	pid_t w = waitpid(pid, &st, WNOHANG);
	int e = errno;
	if (w == 0) {
		kill(pid, SIGKILL); /* a failing run leaves no child behind */
		waitpid(pid, NULL, 0);
	}
	assert_int_equal(r, -ETIMEDOUT);
	assert_int_equal(w, -1);
	assert_int_equal(e, ECHILD);
}

static void test_not_a_child(void **state)
{
	(void)state;
	int st = 0;
	assert_int_equal(bkt_child_wait(getpid(), bk_now_ns() + SHORT_NS, &st, true), -ECHILD);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_of_a_child_that_ends),
		cmocka_unit_test(test_late_child_left_running),
		cmocka_unit_test(test_late_child_killed_and_reaped),
		cmocka_unit_test(test_not_a_child),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
