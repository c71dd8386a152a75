// SPDX-License-Identifier: MIT
/*
 * test_policy.c - who may talk to brokerd (docs/ARCHITECTURE.md, "Inside
 * brokerd": handshake and policy): by default only
 * its own uid and root; --allow-uid / --allow-gid widen that, and
 * --allow-gid also hands the socket file to that group so its members can
 * reach it at all.  Clients of another uid are forked children that drop to
 * nobody (65534); the test needs root for that and is skipped otherwise.
 */
#include <errno.h>
#include <grp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "bt_util.h"

#define NOBODY 65534
#define CHILD_TIMEOUT_NS (10LL * BT_SEC)

/* Child exit codes. */
enum { C_OK = 0, C_SETID = 10, C_WRONG_CODE = 11, C_CALL = 12 };

/* In a child: become uid/gid, connect, and check the outcome against want (0: a call must work). */
static int child_connect(const char *socket, uid_t uid, gid_t gid, int want)
{
	if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
		return C_SETID;
	bk_client *c = NULL;
	char why[256] = "";
	int r = bk_connect_error(socket, NULL, &c, why, sizeof(why));
	if (r != want) {
		fprintf(stderr, "child uid %u gid %u: bk_connect gave %d (%s: %s), want %d\n", (unsigned)uid, (unsigned)gid,
			r, bk_strerror(r), why, want);
		return C_WRONG_CODE;
	}
	if (r < 0)
		return C_OK;
	bk_fn fn;
	char out[16];
	size_t len = 0;
	if (bk_lookup(c, "echo.upper", &fn) < 0 || bt_call(c, fn, "ok", 2, out, sizeof(out), &len) != 0 || len != 2 ||
	    memcmp(out, "OK", 2) != 0) {
		fprintf(stderr, "child uid %u: echo.upper failed\n", (unsigned)uid);
		return C_CALL;
	}
	bk_disconnect(c);
	return C_OK;
}

/* Fork a client as uid/gid and return its exit code (fails the test if it does not finish in time). */
static int run_as(const char *socket, uid_t uid, gid_t gid, int want)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_connect(socket, uid, gid, want));
	int64_t deadline = bk_now_ns() + CHILD_TIMEOUT_NS;
	for (;;) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid) {
			assert_true(WIFEXITED(st));
			return WEXITSTATUS(st);
		}
		assert_int_equal(r, 0);
		if (bk_now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			fail_msg("client as uid %u did not finish within 10 s", (unsigned)uid);
		}
		struct timespec ts = {0, 2000000}; /* polling a deadline-bounded wait, not synchronisation */
		nanosleep(&ts, NULL);
	}
}

static int need_root(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	return 0;
}

static void test_default_policy(void **state)
{
	(void)state;
	struct bkt_brokerd b;
	bt_start(&b, NULL);
	assert_int_equal(chmod(b.dir, 0711), 0); /* the harness's folder is 0700: let other users reach the path */
	struct stat st;
	assert_int_equal(stat(b.socket, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
	/* The file system keeps other users away from the 0660 socket... */
	assert_int_equal(run_as(b.socket, NOBODY, NOBODY, -EACCES), C_OK);
	/* ...and when it is opened up, brokerd's own check refuses them, with a reason. */
	assert_int_equal(chmod(b.socket, 0666), 0);
	assert_int_equal(run_as(b.socket, NOBODY, NOBODY, BK_EREFUSED), C_OK);
	assert_int_equal(bt_log_wait(&b, "uid 65534", 5 * BT_SEC), 0);
	/* Root (our uid) still gets in. */
	bk_client *c = bt_connect(b.socket);
	bk_disconnect(c);
	assert_int_equal(bk_test_broker_stop(&b), 0);
	bk_test_broker_cleanup(&b);
}

static void test_allow_uid(void **state)
{
	(void)state;
	struct bkt_brokerd b;
	const char *const extra[] = {"--allow-uid", "65534", NULL};
	bt_start(&b, extra);
	assert_int_equal(chmod(b.dir, 0711), 0);
	assert_int_equal(chmod(b.socket, 0666), 0); /* reaching the socket is the admin's business here */
	assert_int_equal(run_as(b.socket, NOBODY, NOBODY, 0), C_OK);
	/* Another uid is still refused. */
	assert_int_equal(run_as(b.socket, NOBODY - 1, NOBODY - 1, BK_EREFUSED), C_OK);
	assert_int_equal(bk_test_broker_stop(&b), 0);
	bk_test_broker_cleanup(&b);
}

static void test_allow_gid(void **state)
{
	(void)state;
	struct bkt_brokerd b;
	const char *const extra[] = {"--allow-gid", "65534", NULL};
	bt_start(&b, extra);
	assert_int_equal(chmod(b.dir, 0711), 0);
	/* The socket keeps mode 0660 and now belongs to the allowed group: its members reach it without chmod. */
	struct stat st;
	assert_int_equal(stat(b.socket, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
	assert_int_equal(st.st_gid, 65534);
	assert_int_equal(run_as(b.socket, NOBODY - 1, 65534, 0), C_OK);
	/* A user outside the group cannot reach it. */
	assert_int_equal(run_as(b.socket, NOBODY - 1, NOBODY - 1, -EACCES), C_OK);
	assert_int_equal(bk_test_broker_stop(&b), 0);
	bk_test_broker_cleanup(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_default_policy, need_root),
		cmocka_unit_test_setup(test_allow_uid, need_root),
		cmocka_unit_test_setup(test_allow_gid, need_root),
	};
	return cmocka_run_group_tests_name("brokerd access policy", tests, NULL, NULL);
}
