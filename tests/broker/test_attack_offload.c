// SPDX-License-Identifier: MIT
/*
 * test_attack_offload.c - one client floods the offload pool with long
 * hashes (4,096 hash.sha256 over one 256 MiB zero-copy range; fewer and
 * smaller under sanitizers): another client's 128 KiB hash is still
 * answered within a bound, the pool empties soon after the attacker
 * disconnects, brokerd's RSS comes back, and SIGTERM during such an attack
 * ends brokerd within its grace period plus 1 s.  Also: a zero-copy
 * argument overlapping its own result buffer is refused with -EINVAL, not
 * copied (brokerd's RSS stays put).  docs/ARCHITECTURE.md, "Offload: one
 * queue per connection" and "Bounded copies".
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "attack_util.h"

#define MIB (1024u * 1024u)
#define RANGE ((size_t)AT_SCALE(256u, 8u) * MIB)
#define NATTACK AT_SCALE(4096u, 4u)
#define NBYSTANDER AT_SCALE(40u, 4u)
#define BYSTANDER_LEN (128u * 1024u)
/* With fair shares the bystander's hash waits for no one's 256 MiB.  The machine is shared (2 cores, other
 * builds and fuzzers): the median is held tight, the tail loosely.  Without the fixes calls are lost. */
#define P50_BOUND_NS (AT_SANITIZED ? 200 * 1000000LL : 20 * 1000000LL)
#define P99_BOUND_NS (AT_SANITIZED ? 2000 * 1000000LL : 500 * 1000000LL)
#define DRAIN_BOUND_NS (AT_SANITIZED ? 10 * BT_SEC : 2 * BT_SEC)
#define GRACE_MS 500
#define BKD_QUOTA_SEEN 64u /* in flight at once: broker/offload.h BKD_OFFLOAD_PER_KEY */

static bk_client *attacker(const char *socket, void **buf)
{
	bk_options o;
	bk_options_init(&o);
	o.max_inflight = NATTACK;
	o.sq_entries = NATTACK;
	o.inline_size = 64;
	o.zero_copy_size = RANGE + MIB;
	bk_client *c = NULL;
	int r = bk_connect(socket, &o, &c);
	if (r < 0)
		fail_msg("attacker's bk_connect: %s", bk_strerror(r));
	*buf = bk_buf_alloc(c, RANGE);
	assert_non_null(*buf);
	return c;
}

/* Post NATTACK hashes of the whole range; the futures are never reaped (the attacker walks away). */
static void attack(bk_client *c, void *buf, bk_future **fs)
{
	bk_fn fn = bt_lookup(c, "hash.sha256");
	bk_call calls[64];
	for (size_t i = 0; i < 64; i++)
		calls[i] = (bk_call){ .fn = fn, .arg = buf, .len = RANGE };
	for (size_t posted = 0; posted < NATTACK;) {
		size_t n = NATTACK - posted < 64 ? NATTACK - posted : 64;
		int k = bk_submit_batch(c, calls, n, fs + posted);
		if (k < 0)
			fail_msg("attacker's bk_submit_batch after %zu: %s", posted, bk_strerror(k));
		posted += (size_t)k;
	}
}

static uint64_t inflight(const char *socket)
{
	struct bk_msg_status_reply st;
	bt_status(socket, &st);
	return st.inflight;
}

/* Wait (bounded by bound_ns) until nothing is in flight: the time it took, or -1 past the bound. */
static int64_t wait_idle(const char *socket, int64_t bound_ns)
{
	int64_t t0 = bk_now_ns();
	while (inflight(socket) != 0) {
		if (bk_now_ns() - t0 > bound_ns)
			return -1;
		struct timespec ts = { 0, 2000000 };
		nanosleep(&ts, NULL);
	}
	return bk_now_ns() - t0;
}

static void test_offload_flood(void **state)
{
	(void)state;
	struct bkt_brokerd b;
	bt_start(&b, NULL);
	bk_client *by = bt_connect(b.socket);
	bk_fn h = bt_lookup(by, "hash.sha256");
	void *bbuf = bk_buf_alloc(by, BYSTANDER_LEN);
	assert_non_null(bbuf);
	memset(bbuf, 'x', BYSTANDER_LEN);
	long rss0 = bk_test_broker_rss_kib(&b);

	void *abuf;
	bk_client *a = attacker(b.socket, &abuf);
	bk_future **fs = calloc(NATTACK, sizeof(*fs));
	assert_non_null(fs);
	attack(a, abuf, fs);

	struct at_lat lat;
	at_lat_init(&lat, NBYSTANDER);
	unsigned lost = 0;
	for (unsigned i = 0; i < NBYSTANDER; i++) {
		int st = -1;
		int64_t ns = at_timed_call(by, h, bbuf, BYSTANDER_LEN, 3 * BT_SEC, &st);
		if (ns < 0) {
			lost++;
			continue;
		}
		assert_int_equal(st, 0);
		at_lat_add(&lat, ns);
	}
	/* How the attacker fared: most of its hashes are refused at its quota. */
	unsigned busy = 0, other = 0;
	for (size_t i = 0; i < NATTACK; i++) {
		if (bk_poll(fs[i]) != 1)
			continue;
		int st = bk_result(fs[i], NULL, NULL);
		if (st == -EAGAIN)
			busy++;
		else if (getenv("AT_DEBUG"))
			printf("attacker %zu: %d\n", i, st), other++;
	}
	long rss_attack = bk_test_broker_rss_kib(&b);
	bk_disconnect(a); /* its futures go with it */
	free(fs);
	int64_t drain = wait_idle(b.socket, DRAIN_BOUND_NS);
	long rss1 = bk_test_broker_rss_kib(&b);
	char extra[256];
	snprintf(extra, sizeof(extra),
		 "RSS during attack %.1f MiB, %u of %u attacker hashes refused (-EAGAIN), drained in %.0f ms "
		 "(-1: not within the bound), %u bystander calls lost",
		 (double)rss_attack / 1024.0, busy, (unsigned)NATTACK, drain < 0 ? -1.0 : (double)drain / 1e6, lost);
	at_figures("offload-flood", &lat, rss0, rss1, extra);

	assert_int_equal(lost, 0);
	if (drain < 0)
		fail_msg("tasks still in flight %.1f s after the attacker left", (double)DRAIN_BOUND_NS / 1e9);
	assert_true(at_lat_pct_us(&lat, 50) * 1000.0 < (double)P50_BOUND_NS);
	assert_true(at_lat_pct_us(&lat, 99) * 1000.0 < (double)P99_BOUND_NS);
	/* The attacker's region pages that brokerd read are gone with its mapping. */
#ifndef __SANITIZE_ADDRESS__ /* ASan's quarantine keeps freed memory resident on purpose */
	assert_true(rss1 < rss0 + 16 * 1024);
#endif
	at_lat_free(&lat);
	bk_disconnect(by);
	assert_int_equal(bk_test_broker_stop(&b), 0);
	bk_test_broker_cleanup(&b);
}

/* SIGTERM while the pool is flooded: brokerd is gone within grace + 1 s. */
static void test_offload_sigterm(void **state)
{
	(void)state;
	struct bkt_brokerd b;
	char grace[16];
	snprintf(grace, sizeof(grace), "%d", GRACE_MS);
	const char *const extra[] = { "--grace-ms", grace, NULL };
	bt_start(&b, extra);
	void *abuf;
	bk_client *a = attacker(b.socket, &abuf);
	bk_future **fs = calloc(NATTACK, sizeof(*fs));
	assert_non_null(fs);
	attack(a, abuf, fs);
	/* SIGTERM once the hashes are in brokerd's hands (not still in the SQ, where a drain just refuses them). */
	int64_t deadline = bk_now_ns() + 10 * BT_SEC;
	while (inflight(b.socket) < BKD_QUOTA_SEEN) {
		if (bk_now_ns() > deadline)
			fail_msg("the attack's hashes did not start within 10 s");
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	int64_t t0 = bk_now_ns();
	int rc = bkt_brokerd_stop(&b, GRACE_MS + 1000 + (AT_SANITIZED ? 4000 : 0));
	int64_t took = bk_now_ns() - t0;
	printf("FIGURES offload-sigterm%s: brokerd exited %.0f ms after SIGTERM (grace %d ms), status %d\n",
	       AT_SANITIZED ? " (sanitized)" : "", (double)took / 1e6, GRACE_MS, rc);
	assert_int_equal(rc, 0);
	bk_disconnect(a);
	free(fs);
	bk_test_broker_cleanup(&b);
}

/* A zero-copy argument that overlaps its own result buffer: -EINVAL, and brokerd copies nothing. */
static void test_overlap_refused(void **state)
{
	(void)state;
	struct bkt_brokerd b;
	bt_start(&b, NULL);
	const size_t len = (size_t)AT_SCALE(512u, 8u) * MIB;
	bk_options o;
	bk_options_init(&o);
	o.zero_copy_size = len + MIB;
	bk_client *c = NULL;
	assert_int_equal(bk_connect(b.socket, &o, &c), 0);
	uint8_t *buf = bk_buf_alloc(c, len);
	assert_non_null(buf);
	long rss0 = bk_test_broker_rss_kib(&b);
	struct at_lat lat;
	at_lat_init(&lat, 4);
	int st[4];
	for (int i = 0; i < 4; i++) {
		bk_call call = { .fn = bt_lookup(c, i % 2 ? "echo.upper" : "hash.sha256"), .arg = buf, .len = len,
				 .result = buf + (i % 2 ? 0 : len / 2), .result_cap = i % 2 ? len : 32 };
		bk_future *f = NULL;
		int64_t t0 = bk_now_ns();
		assert_int_equal(bk_submit_batch(c, &call, 1, &f), 1);
		assert_int_equal(bk_wait(f, 60 * BT_SEC), 0);
		at_lat_add(&lat, bk_now_ns() - t0);
		st[i] = bk_result(f, NULL, NULL);
		bk_release(f);
	}
	long rss1 = bk_test_broker_rss_kib(&b);
	char extra[64];
	snprintf(extra, sizeof(extra), "statuses %d %d %d %d", st[0], st[1], st[2], st[3]);
	at_figures("overlap-copy", &lat, rss0, rss1, extra);
	for (int i = 0; i < 4; i++)
		assert_int_equal(st[i], -EINVAL);
	/* A copy would have cost len of RSS (and reading the argument as much again). */
	assert_true(rss1 < rss0 + (long)(len / 1024 / 8));
	/* Arguments that do not overlap their result are still served. */
	char out[64];
	size_t n = 0;
	assert_int_equal(bt_call(c, bt_lookup(c, "echo.upper"), "ok", 2, out, sizeof(out), &n), 0);
	assert_memory_equal(out, "OK", 2);
	at_lat_free(&lat);
	bk_disconnect(c);
	assert_int_equal(bk_test_broker_stop(&b), 0);
	bk_test_broker_cleanup(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_offload_flood),
		cmocka_unit_test(test_offload_sigterm),
		cmocka_unit_test(test_overlap_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
