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
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "mu_util.h"

#define NOBODY MU_NOBODY

/* Child exit codes besides mu_util.h's. */
enum { C_WRONG_CODE = 11, C_CALL = 12 };

/* What a child checks: connect to socket and get want (0: then a call must work too). */
struct conn_check {
	const char *socket;
	int want;
};

static int child_connect(void *arg)
{
	const struct conn_check *k = arg;
	bk_client *c = NULL;
	char why[256] = "";
	int r = bk_connect_error(k->socket, NULL, &c, why, sizeof(why));
	MU_CHECK(r == k->want, C_WRONG_CODE, "bk_connect gave %d (%s: %s), want %d", r, bk_strerror(r), why, k->want);
	if (r < 0)
		return MU_OK;
	bk_fn fn;
	char out[16];
	size_t len = 0;
	int ok = bk_lookup(c, "echo.upper", &fn) == 0 && bt_call(c, fn, "ok", 2, out, sizeof(out), &len) == 0 &&
		 len == 2 && memcmp(out, "OK", 2) == 0;
	bk_disconnect(c);
	MU_CHECK(ok, C_CALL, "echo.upper failed");
	return MU_OK;
}

/* A client as uid/gid (no supplementary groups): its exit code, MU_OK when it got want. */
static int run_as(const char *socket, uid_t uid, gid_t gid, int want)
{
	struct mu_ids ids = { .uid = uid, .gid = gid };
	struct conn_check k = { socket, want };
	return mu_run_as(&ids, child_connect, &k);
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
	assert_int_equal(run_as(b.socket, NOBODY, NOBODY, -EACCES), MU_OK);
	/* ...and when it is opened up, brokerd's own check refuses them, with a reason. */
	assert_int_equal(chmod(b.socket, 0666), 0);
	assert_int_equal(run_as(b.socket, NOBODY, NOBODY, BK_EREFUSED), MU_OK);
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
	assert_int_equal(run_as(b.socket, NOBODY, NOBODY, 0), MU_OK);
	/* Another uid is still refused. */
	assert_int_equal(run_as(b.socket, NOBODY - 1, NOBODY - 1, BK_EREFUSED), MU_OK);
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
	assert_int_equal(run_as(b.socket, NOBODY - 1, 65534, 0), MU_OK);
	/* A user outside the group cannot reach it. */
	assert_int_equal(run_as(b.socket, NOBODY - 1, NOBODY - 1, -EACCES), MU_OK);
	assert_int_equal(bk_test_broker_stop(&b), 0);
	bk_test_broker_cleanup(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_default_policy, mu_need_root),
		cmocka_unit_test_setup(test_allow_uid, mu_need_root),
		cmocka_unit_test_setup(test_allow_gid, mu_need_root),
	};
	return cmocka_run_group_tests_name("brokerd access policy", tests, NULL, NULL);
}
