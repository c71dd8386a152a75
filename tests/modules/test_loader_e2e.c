// SPDX-License-Identifier: MIT
/*
 * test_loader_e2e.c - the module loader inside a real brokerd (started by
 * the test harness): brokerd is given the good test module and every bad
 * one with --module; the bad ones are refused with the expected message in
 * its log, it keeps running, and it serves the good module and the
 * built-in ones to a libbkclient client.  Every wait is bounded.
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

#include <cmocka.h>

#include "broker/client.h"
#include "harness.h"

#define SEC 1000000000ll

static struct bkt_brokerd B;
static char paths[7][512];
static const char *files[] = { "good.so",    "badabi.so",  "noentry.so",  "initfail.so",
			       "badname.so", "dupname.so", "smalldesc.so" };

static char *read_log(const struct bkt_brokerd *b)
{
	FILE *f = fopen(b->log, "r");
	char *buf = calloc(1, 1 << 20);
	size_t n;

	assert_non_null(f);
	assert_non_null(buf);
	n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* brokerd with --workers 1 and a --module for each test module (good and bad); --keep-going serves
 * the good ones (without it the bad ones stop the start: tests/service). */
static int setup(void **state)
{
	const char *extra[2 * 7 + 4];
	int n = 0, rc;

	(void)state;
	extra[n++] = "--workers";
	extra[n++] = "1";
	extra[n++] = "--keep-going";
	for (int i = 0; i < 7; i++) {
		snprintf(paths[i], sizeof(paths[i]), "%s/%s", BK_TEST_MODULE_DIR, files[i]);
		extra[n++] = "--module";
		extra[n++] = paths[i];
	}
	extra[n] = NULL;
	rc = bk_test_broker_start(&B, extra);
	if (rc != 0) {
		fprintf(stderr, "brokerd did not start: %s\n", strerror(-rc));
		bk_test_broker_cleanup(&B);
		return -1;
	}
	return 0;
}

/* Runs even when a test failed (cmocka longjmps out of it): no brokerd is left behind. */
static int teardown(void **state)
{
	(void)state;
	bk_test_broker_cleanup(&B);
	return 0;
}

/* Call name(arg) and check status and result; bounded by a 5 s wait. */
static void expect_call(bk_client *c, const char *name, const char *arg, int status, const char *result)
{
	bk_fn fn;
	bk_future *f = NULL;
	const void *data = NULL;
	size_t len = 0;
	int rc;

	rc = bk_lookup(c, name, &fn);
	if (rc != 0)
		fail_msg("lookup %s: %s", name, bk_strerror(rc));
	assert_int_equal(bk_submit(c, fn, arg, strlen(arg), &f), 0);
	assert_int_equal(bk_wait(f, 5 * SEC), 0);
	rc = bk_result(f, &data, &len);
	if (rc != status)
		fail_msg("%s(\"%s\"): status %d (%s), want %d", name, arg, rc, bk_strerror(rc), status);
	if (result) {
		assert_int_equal(len, strlen(result));
		assert_memory_equal(data, result, len);
	}
	bk_release(f);
}

static void test_bad_modules_refused_good_served(void **state)
{
	static const char *why[] = { NULL,
				     "built for module ABI 99, brokerd speaks 1",
				     "no bk_module_entry_v1 symbol",
				     "init of module initfail failed",
				     "bad function name",
				     "declared twice",
				     "descriptor is 8 bytes" };
	char *log = NULL, line[1024];
	bk_client *c = NULL;
	char err[512];
	bk_fn fn;
	int rc, missing = -1;
	int64_t deadline;

	(void)state;
	/*
	 * The socket may accept before the modules are loaded: wait (bounded)
	 * until every refusal is in the log, then check the good one is not.
	 */
	deadline = bk_now_ns() + 10 * SEC;
	do {
		free(log);
		log = read_log(&B);
		missing = -1;
		for (int i = 1; i < 7 && missing < 0; i++) {
			const char *at;

			snprintf(line, sizeof(line), "refusing module %s: ", paths[i]);
			at = strstr(log, line);
			if (!at || !strstr(at, why[i]))
				missing = i;
		}
		if (missing >= 0) {
			struct timespec ts = { 0, 10 * 1000 * 1000 };

			nanosleep(&ts, NULL);
		}
	} while (missing >= 0 && bk_now_ns() < deadline);
	if (missing >= 0) {
		bk_test_broker_dump_log(&B);
		free(log);
		fail_msg("no refusal of %s with \"%s\" in brokerd's log within 10 s", files[missing], why[missing]);
	}
	snprintf(line, sizeof(line), "refusing module %s", paths[0]);
	assert_null(strstr(log, line));
	free(log);

	rc = bk_connect_error(B.socket, NULL, &c, err, sizeof(err));
	if (rc != 0) {
		bk_test_broker_dump_log(&B);
		fail_msg("connect: %s", err);
	}
	expect_call(c, "good.ping", "", 0, "pong");
	expect_call(c, "good.version", "", 0, "1");
	expect_call(c, "good.fail", "", -EIO, NULL);
	expect_call(c, "echo.upper", "still serving", 0, "STILL SERVING");
	assert_int_equal(bk_lookup(c, "badabi.ping", &fn), -ENOENT);
	assert_int_equal(bk_lookup(c, "initfail.ping", &fn), -ENOENT);
	assert_int_equal(bk_lookup(c, "dupname.version", &fn), -ENOENT);
	assert_int_equal(bk_lookup(c, "smalldesc.ping", &fn), -ENOENT);
	bk_disconnect(c);

	rc = bk_test_broker_stop(&B);
	if (rc != 0)
		bk_test_broker_dump_log(&B);
	assert_int_equal(rc, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bad_modules_refused_good_served, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
