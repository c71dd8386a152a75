// SPDX-License-Identifier: MIT
/*
 * bt_util.c - helpers for brokerd's integration tests (see bt_util.h).
 */
#include "bt_util.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "control.h"

void bt_start(struct bkt_brokerd *b, const char *const *extra)
{
	int r = bk_test_broker_start(b, extra);
	if (r < 0)
		fail_msg("brokerd did not start: %s", strerror(-r));
}

void bt_status(const char *socket, struct bk_msg_status_reply *out)
{
	struct bkc_ctl k;
	char err[256] = "";
	int r = bkc_ctl_open(&k, socket, 5000, err, sizeof(err));
	if (r < 0)
		fail_msg("control connection: %s (%d)", err, r);
	struct bk_msg_hdr req = { .type = BK_MSG_STATUS };
	r = bkc_ctl_call(&k, &req, sizeof(req), BK_MSG_STATUS_REPLY, out, sizeof(*out), err, sizeof(err));
	bkc_ctl_close(&k);
	if (r != (int)sizeof(*out))
		fail_msg("STATUS: %s (%d)", err, r);
}

bk_client *bt_connect(const char *socket)
{
	return bt_connect_slots(socket, 0);
}

bk_client *bt_connect_slots(const char *socket, uint32_t slots)
{
	bk_client *c = NULL;
	char err[256] = "";
	bk_options o;
	bk_options_init(&o);
	o.max_inflight = slots;
	o.sq_entries = slots; /* a burst of that many submissions fits before the broker takes any */
	int r = bk_connect_error(socket, &o, &c, err, sizeof(err));
	if (r < 0)
		fail_msg("bk_connect: %s (%s)", bk_strerror(r), err);
	return c;
}

bk_fn bt_lookup(bk_client *c, const char *name)
{
	bk_fn fn = 0;
	int r = bk_lookup(c, name, &fn);
	if (r < 0)
		fail_msg("lookup %s: %s", name, bk_strerror(r));
	return fn;
}

int bt_call(bk_client *c, bk_fn fn, const void *arg, size_t len, void *out, size_t cap, size_t *out_len)
{
	bk_future *f = NULL;
	int r = bk_submit(c, fn, arg, len, &f);
	if (r < 0)
		fail_msg("bk_submit: %s", bk_strerror(r));
	r = bk_wait(f, 10 * BT_SEC);
	if (r < 0)
		fail_msg("bk_wait: %s", bk_strerror(r));
	const void *data = NULL;
	size_t n = 0;
	int st = bk_result(f, &data, &n);
	if (out_len)
		*out_len = n;
	if (out && data)
		memcpy(out, data, n < cap ? n : cap);
	bk_release(f);
	return st;
}

int bt_log_count(const struct bkt_brokerd *b, const char *needle)
{
	FILE *f = fopen(b->log, "re");
	if (!f)
		return 0;
	char line[2048];
	int n = 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

int bt_log_wait(const struct bkt_brokerd *b, const char *needle, int64_t timeout_ns)
{
	int64_t deadline = bk_now_ns() + timeout_ns;
	while (bk_now_ns() < deadline) {
		if (bt_log_count(b, needle) > 0)
			return 0;
		struct timespec ts = { 0, 5000000 };
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

void bt_copy_file(const char *from, const char *to, mode_t mode)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	assert_true(in >= 0);
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(out >= 0);
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	assert_int_equal(n, 0);
	assert_int_equal(fchmod(out, mode), 0);
	close(in);
	close(out);
}
