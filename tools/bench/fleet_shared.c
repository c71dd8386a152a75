// SPDX-License-Identifier: MIT
/*
 * fleet_shared.c - the fleet app through brokerd (broker-fleet-shared): one
 * connection with default options; a tick is one bk_submit_batch of the 8
 * tasks (timer.sleep "1", hash.sha256 of 4 KiB, file.read "0 4096 FILE"),
 * then one bk_wait_all over them.  The 4 KiB arguments and results do not fit the
 * inline buffers, so they live in zero-copy buffers allocated once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <broker/client.h>

#include "fleet_app.h"

#define DIGEST_LEN 32

struct bk_fleet_backend {
	bk_client *c;
	bk_fn sleep, sha256, read;
	void *hash_arg; /* BK_FLEET_BLOCK bytes, read-only for the broker: both hashes share it */
	void *read_res[BK_FLEET_READS];
	char read_arg[600];
	size_t read_arg_len;
	const unsigned char *block;
	unsigned char digest[DIGEST_LEN]; /* the first digest the broker returned: every later one must equal it */
	int have_digest;
};

void bk_fleet_backend_close(struct bk_fleet_backend *b)
{
	if (!b)
		return;
	bk_disconnect(b->c); /* frees the zero-copy buffers with the region */
	free(b);
}

static int lookup(struct bk_fleet_backend *b, char *err, size_t errlen)
{
	static const char *const names[] = { "timer.sleep", "hash.sha256", "file.read" };
	bk_fn *fns[] = { &b->sleep, &b->sha256, &b->read };
	for (int i = 0; i < 3; i++) {
		int e = bk_lookup(b->c, names[i], fns[i]);
		if (e < 0) {
			snprintf(err, errlen, "looking up %s: %s", names[i], bk_strerror(e));
			return e;
		}
	}
	return 0;
}

int bk_fleet_backend_open(const char *file, const unsigned char *block, const char *socket,
			  struct bk_fleet_backend **out, char *err, size_t errlen)
{
	if (!socket) {
		snprintf(err, errlen, "the shared app needs brokerd's socket");
		return -EINVAL;
	}
	struct bk_fleet_backend *b = calloc(1, sizeof(*b));
	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	b->block = block;
	int n = snprintf(b->read_arg, sizeof(b->read_arg), "0 %d %s", BK_FLEET_BLOCK, file);
	if (n < 0 || (size_t)n >= sizeof(b->read_arg)) {
		snprintf(err, errlen, "file name too long");
		free(b);
		return -ENAMETOOLONG;
	}
	b->read_arg_len = (size_t)n;
	char why[256] = "";
	int e = bk_connect_error(socket, NULL, &b->c, why, sizeof(why)); /* NULL: default options */
	if (e < 0) {
		snprintf(err, errlen, "connecting to %s: %s%s%s", socket, bk_strerror(e), why[0] ? ": " : "", why);
		free(b);
		return e;
	}
	if ((e = lookup(b, err, errlen)) < 0) {
		bk_fleet_backend_close(b);
		return e;
	}
	b->hash_arg = bk_buf_alloc(b->c, BK_FLEET_BLOCK);
	for (int i = 0; i < BK_FLEET_READS; i++)
		b->read_res[i] = bk_buf_alloc(b->c, BK_FLEET_BLOCK);
	if (!b->hash_arg || !b->read_res[0] || !b->read_res[BK_FLEET_READS - 1]) {
		snprintf(err, errlen, "bk_buf_alloc of %d bytes failed", BK_FLEET_BLOCK);
		bk_fleet_backend_close(b);
		return -ENOMEM;
	}
	memcpy(b->hash_arg, block, BK_FLEET_BLOCK);
	*out = b;
	return 0;
}

/* Status and bytes of the i-th task of a tick (the order of bk_fleet_backend_tick's calls). */
static int check(struct bk_fleet_backend *b, unsigned i, bk_future *f, char *err, size_t errlen)
{
	static const char *const names[] = { "timer.sleep", "hash.sha256", "file.read" };
	unsigned kind = i < BK_FLEET_SLEEPS ? 0 : i < BK_FLEET_SLEEPS + BK_FLEET_HASHES ? 1 : 2;
	const void *data;
	size_t len;
	int e = bk_result(f, &data, &len);
	if (e < 0) {
		snprintf(err, errlen, "%s failed: %s", names[kind], bk_strerror(e));
		return e;
	}
	static const size_t want_len[] = { 0, DIGEST_LEN, BK_FLEET_BLOCK };
	int ok = len == want_len[kind];
	if (ok && kind == 1 && !b->have_digest) {
		memcpy(b->digest, data, DIGEST_LEN);
		b->have_digest = 1;
	}
	if (ok && kind == 1)
		ok = !memcmp(data, b->digest, DIGEST_LEN);
	if (ok && kind == 2)
		ok = !memcmp(data, b->block, BK_FLEET_BLOCK);
	if (!ok) {
		snprintf(err, errlen, "%s returned wrong bytes (%zu)", names[kind], len);
		return -EIO;
	}
	return 0;
}

int bk_fleet_backend_tick(struct bk_fleet_backend *b, char *err, size_t errlen)
{
	bk_call calls[BK_FLEET_TASKS];
	bk_future *f[BK_FLEET_TASKS];
	memset(calls, 0, sizeof(calls));
	for (unsigned i = 0; i < BK_FLEET_TASKS; i++) {
		bk_call *k = &calls[i];
		if (i < BK_FLEET_SLEEPS) {
			*k = (bk_call){ .fn = b->sleep, .arg = "1", .len = 1 }; /* BK_FLEET_SLEEP_MS */
		} else if (i < BK_FLEET_SLEEPS + BK_FLEET_HASHES) {
			*k = (bk_call){ .fn = b->sha256, .arg = b->hash_arg, .len = BK_FLEET_BLOCK };
		} else {
			void *res = b->read_res[i - BK_FLEET_SLEEPS - BK_FLEET_HASHES];
			*k = (bk_call){ .fn = b->read, .arg = b->read_arg, .len = b->read_arg_len, .result = res,
					.result_cap = BK_FLEET_BLOCK };
		}
	}
	unsigned posted = 0;
	int e = 0;
	while (posted < BK_FLEET_TASKS && e >= 0) {
		e = bk_submit_batch(b->c, calls + posted, BK_FLEET_TASKS - posted, f + posted);
		if (e > 0)
			posted += (unsigned)e;
	}
	if (e < 0)
		snprintf(err, errlen, "bk_submit_batch: %s", bk_strerror(e));
	/* One wait for the whole tick: one spin and one sleep per wake-up, not one per future. */
	int w = e < 0 || posted == 0 ? 0 : bk_wait_all(f, posted, BK_FLEET_TASK_TIMEOUT_NS);
	if (w < 0) {
		snprintf(err, errlen, "bk_wait_all: %s", bk_strerror(w));
		e = w;
	}
	for (unsigned i = 0; i < posted; i++) {
		if (e >= 0)
			e = check(b, i, f[i], err, errlen);
		bk_release(f[i]);
	}
	return e < 0 ? e : 0;
}
