// SPDX-License-Identifier: MIT
/*
 * test_upgrade_e2e.c - upgrade and unload inside a real brokerd: a task of
 * version 1 is in flight (upgrade.hold) when version 2 is loaded through
 * the control socket (BK_MSG_LOAD); new tasks on the same id go to version
 * 2 at once, the old task still finishes on version 1 (nothing is lost),
 * version 1 is then finalised (it leaves the listing), and an unload makes
 * the names answer -ENOENT.  Same path: a module file rewritten in place
 * (same inode) and loaded again is an upgrade with its own code and state,
 * and loading unchanged bytes changes nothing.  Every wait is bounded.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/client.h"
#include "broker/wire.h"
#include "control.h"
#include "harness.h"

#define SEC 1000000000ll

static struct bkt_brokerd B;
static char v1[512], v2[512];

static int setup(void **state)
{
	const char *extra[] = { "--workers", "1", "--module", v1, NULL };
	int rc;

	(void)state;
	snprintf(v1, sizeof(v1), "%s/upgrade_v1.so", BK_TEST_MODULE_DIR);
	snprintf(v2, sizeof(v2), "%s/upgrade_v2.so", BK_TEST_MODULE_DIR);
	rc = bk_test_broker_start(&B, extra);
	if (rc != 0) {
		fprintf(stderr, "brokerd did not start: %s\n", strerror(-rc));
		bk_test_broker_cleanup(&B);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	bk_test_broker_cleanup(&B);
	return 0;
}

/* LOAD or UNLOAD through the control socket; returns the status, message in msg. */
static int control_path(struct bkc_ctl *k, uint16_t type, const char *arg, char *msg, size_t msglen)
{
	struct bk_msg_path req;
	struct bk_msg_result res;
	int rc;

	memset(&req, 0, sizeof(req));
	req.h.type = type;
	msg[0] = '\0';
	/* A cut path would name another file; refuse it rather than send it. */
	if (snprintf(req.path, sizeof(req.path), "%s", arg) >= (int)sizeof(req.path))
		return -ENAMETOOLONG;
	rc = bkc_ctl_call(k, &req, sizeof(req), BK_MSG_RESULT, &res, sizeof(res), msg, msglen);
	if (rc < 0)
		return rc;
	snprintf(msg, msglen, "%.*s", (int)sizeof(res.message), res.message);
	return res.status;
}

struct upgrade_listing {
	int active, draining;
	char active_version[32];
	uint64_t active_inflight, draining_inflight;
};

/* What the MODULES listing says about the "upgrade" module (every record fits one reply here). */
static void list_upgrade(struct bkc_ctl *k, struct upgrade_listing *u)
{
	struct bk_msg_list req;
	union {
		struct bk_msg_list_reply r;
		char raw[BK_WIRE_MAX_MSG];
	} *buf = malloc(sizeof(*buf));
	char err[256];
	const struct bk_wire_module *w;
	int rc;

	assert_non_null(buf);
	memset(&req, 0, sizeof(req));
	memset(u, 0, sizeof(*u));
	req.h.type = BK_MSG_MODULES;
	rc = bkc_ctl_call(k, &req, sizeof(req), BK_MSG_MODULES_REPLY, buf, sizeof(*buf), err, sizeof(err));
	if (rc < 0)
		fail_msg("modules: %s", err);
	assert_true((size_t)rc >= sizeof(buf->r) + buf->r.count * sizeof(*w));
	assert_int_equal(buf->r.count, buf->r.total);
	w = (const struct bk_wire_module *)(buf->raw + sizeof(buf->r));
	for (uint32_t i = 0; i < buf->r.count; i++) {
		if (strcmp(w[i].name, "upgrade") != 0)
			continue;
		if (w[i].state == BK_MODSTATE_ACTIVE) {
			u->active++;
			u->active_inflight += w[i].inflight;
			snprintf(u->active_version, sizeof(u->active_version), "%s", w[i].version);
		} else {
			u->draining++;
			u->draining_inflight += w[i].inflight;
			assert_string_equal(w[i].version, "1.0.0");
		}
	}
	free(buf);
}

static void pause_10ms(void)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

static bk_future *submit(bk_client *c, bk_fn fn, const char *arg)
{
	bk_future *f = NULL;
	int rc = bk_submit(c, fn, arg, strlen(arg), &f);

	if (rc != 0)
		fail_msg("submit: %s", bk_strerror(rc));
	return f;
}

/* Wait (bounded) for f and check its status and text result. */
static void expect(bk_future *f, int status, const char *text)
{
	const void *data = NULL;
	size_t len = 0;
	int rc;

	assert_int_equal(bk_wait(f, 5 * SEC), 0);
	rc = bk_result(f, &data, &len);
	if (rc != status)
		fail_msg("status %d (%s), want %d", rc, bk_strerror(rc), status);
	if (text) {
		assert_int_equal(len, strlen(text));
		assert_memory_equal(data, text, len);
	}
	bk_release(f);
}

static void test_upgrade_drains_unload_refuses(void **state)
{
	bk_client *c = NULL;
	struct bkc_ctl k;
	char err[512];
	bk_fn ver, hold, fn;
	bk_future *held;
	struct upgrade_listing u;
	int rc;
	int64_t deadline;

	(void)state;
	rc = bk_connect_error(B.socket, NULL, &c, err, sizeof(err));
	if (rc != 0)
		fail_msg("connect: %s", err);
	if (bkc_ctl_open(&k, B.socket, 5000, err, sizeof(err)) != 0)
		fail_msg("control connection: %s", err);
	assert_int_equal(bk_lookup(c, "upgrade.version", &ver), 0);
	assert_int_equal(bk_lookup(c, "upgrade.hold", &hold), 0);
	expect(submit(c, ver, ""), 0, "1");

	/* A version-1 task in flight across the upgrade. */
	held = submit(c, hold, "500");
	/* Bounded wait until a worker has taken it (v1 shows one task in flight). */
	deadline = bk_now_ns() + 5 * SEC;
	for (;;) {
		list_upgrade(&k, &u);
		assert_int_equal(u.active, 1);
		assert_string_equal(u.active_version, "1.0.0");
		if (u.active_inflight == 1)
			break;
		if (bk_now_ns() > deadline)
			fail_msg("the held task never started");
		pause_10ms();
	}
	rc = control_path(&k, BK_MSG_LOAD, v2, err, sizeof(err));
	if (rc != 0)
		fail_msg("load %s: %d %s", v2, rc, err);
	/* The same id now runs version 2, without a new lookup. */
	expect(submit(c, ver, ""), 0, "2");
	assert_int_equal(bk_lookup(c, "upgrade.version", &fn), 0);
	assert_int_equal(fn, ver);
	assert_int_equal(bk_lookup(c, "upgrade.old_only", &fn), -ENOENT);
	assert_int_equal(bk_lookup(c, "upgrade.new_only", &fn), 0);

	list_upgrade(&k, &u);
	assert_int_equal(u.active, 1);
	assert_string_equal(u.active_version, "2.0.0");
	assert_int_equal(u.draining, 1);
	assert_int_equal(u.draining_inflight, 1);
	assert_int_equal(bk_poll(held), 0); /* still sleeping */

	/* The old task is not lost: it finishes on version 1. */
	expect(held, 0, "1");
	/* Version 1 is finalised once drained (brokerd collects it on notify): bounded wait. */
	deadline = bk_now_ns() + 5 * SEC;
	for (;;) {
		list_upgrade(&k, &u);
		if (u.draining == 0 || bk_now_ns() > deadline)
			break;
		pause_10ms();
	}
	assert_int_equal(u.draining, 0);
	assert_int_equal(u.active, 1);

	/* Unload: a task in flight finishes, new ones are refused. */
	held = submit(c, hold, "300");
	deadline = bk_now_ns() + 5 * SEC;
	for (;;) {
		list_upgrade(&k, &u);
		if (u.active_inflight == 1)
			break;
		if (bk_now_ns() > deadline)
			fail_msg("the held task never started");
		pause_10ms();
	}
	rc = control_path(&k, BK_MSG_UNLOAD, "upgrade", err, sizeof(err));
	if (rc != 0)
		fail_msg("unload: %d %s", rc, err);
	expect(submit(c, ver, ""), -ENOENT, NULL);
	assert_int_equal(bk_lookup(c, "upgrade.version", &fn), -ENOENT);
	expect(held, 0, "2");
	rc = control_path(&k, BK_MSG_UNLOAD, "upgrade", err, sizeof(err));
	if (rc != -ENOENT || !strstr(err, "upgrade")) {
		bk_test_broker_dump_log(&B);
		fail_msg("second unload: %d \"%s\"", rc, err);
	}
	/* A refused load over the control socket names the file and both ABI versions. */
	{
		char bad[600];

		snprintf(bad, sizeof(bad), "%s/badabi.so", BK_TEST_MODULE_DIR);
		rc = control_path(&k, BK_MSG_LOAD, bad, err, sizeof(err));
		if (rc != -EPROTO || !strstr(err, bad) || !strstr(err, "built for module ABI 99, brokerd speaks 1"))
			fail_msg("load of badabi.so: %d \"%s\"", rc, err);
	}

	bkc_ctl_close(&k);
	bk_disconnect(c);
	rc = bk_test_broker_stop(&B);
	if (rc != 0)
		bk_test_broker_dump_log(&B);
	assert_int_equal(rc, 0);
}

/* brokerd without the upgrade module: the same-path test loads it itself. */
static int setup_bare(void **state)
{
	const char *extra[] = { "--workers", "1", NULL };

	(void)state;
	if (bk_test_broker_start(&B, extra) != 0) {
		bk_test_broker_cleanup(&B);
		return -1;
	}
	return 0;
}

/* Rewrite dst in place with src's bytes (same inode, as `cp` or an in-place rebuild does). */
static void overwrite(const char *src, const char *dst)
{
	char buf[65536];
	int in = open(src, O_RDONLY | O_CLOEXEC);
	int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t n;

	assert_true(in >= 0 && out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	assert_int_equal(n, 0);
	close(in);
	assert_int_equal(close(out), 0);
}

static void load_expect(struct bkc_ctl *k, const char *path, const char *word)
{
	char msg[512];
	int rc = control_path(k, BK_MSG_LOAD, path, msg, sizeof(msg));

	if (rc != 0 || !strstr(msg, word))
		fail_msg("load %s: %d \"%s\", want 0 with \"%s\"", path, rc, msg, word);
}

static void test_same_path_upgrade(void **state)
{
	char dir[] = "/tmp/bk-samepath.XXXXXX", path[600], s1[512], s2[512], err[512];
	bk_client *c = NULL;
	struct bkc_ctl k;
	struct upgrade_listing u;
	bk_fn ver, hold;

	(void)state;
	snprintf(s1, sizeof(s1), "%s/static_v1.so", BK_TEST_MODULE_DIR);
	snprintf(s2, sizeof(s2), "%s/static_v2.so", BK_TEST_MODULE_DIR);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/demo.so", dir);
	overwrite(s1, path);
	if (bkc_ctl_open(&k, B.socket, 5000, err, sizeof(err)) != 0)
		fail_msg("control connection: %s", err);
	load_expect(&k, path, "ok");
	if (bk_connect_error(B.socket, NULL, &c, err, sizeof(err)) != 0)
		fail_msg("connect: %s", err);
	assert_int_equal(bk_lookup(c, "upgrade.version", &ver), 0);
	assert_int_equal(bk_lookup(c, "upgrade.hold", &hold), 0);
	expect(submit(c, ver, ""), 0, "1:1");
	/* The same bytes again: nothing changes, the instance and its count stay. */
	load_expect(&k, path, "unchanged");
	expect(submit(c, ver, ""), 0, "1:2");

	bk_future *held = submit(c, hold, "500");
	int64_t deadline = bk_now_ns() + 5 * SEC;
	for (list_upgrade(&k, &u); u.active_inflight != 1; list_upgrade(&k, &u)) {
		if (bk_now_ns() > deadline)
			fail_msg("the held task never started");
		pause_10ms();
	}
	/* Rebuilt in place: same path, same inode, new bytes. */
	overwrite(s2, path);
	load_expect(&k, path, "ok");
	expect(submit(c, ver, ""), 0, "2:1"); /* new code, new state */
	list_upgrade(&k, &u);
	assert_string_equal(u.active_version, "2.0.0");
	assert_int_equal(u.draining, 1);
	expect(held, 0, "1"); /* version 1's task finishes on version 1 */
	deadline = bk_now_ns() + 5 * SEC;
	for (list_upgrade(&k, &u); u.draining != 0; list_upgrade(&k, &u)) {
		if (bk_now_ns() > deadline)
			fail_msg("version 1 was never finalised");
		pause_10ms();
	}
	/* Version 1's fini freed its own state only. */
	expect(submit(c, ver, ""), 0, "2:2");
	load_expect(&k, path, "unchanged");

	bkc_ctl_close(&k);
	bk_disconnect(c);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
	int rc = bk_test_broker_stop(&B);
	if (rc != 0)
		bk_test_broker_dump_log(&B);
	assert_int_equal(rc, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_upgrade_drains_unload_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_path_upgrade, setup_bare, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
