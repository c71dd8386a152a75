// SPDX-License-Identifier: MIT
/*
 * test_limits.c - one user cannot exhaust brokerd (docs/SECURITY.md,
 * "Limits"): nobody's connections past --max-conns-per-uid, slots past
 * --max-inflight-per-uid and region bytes past --max-region-bytes-per-uid
 * are refused with BK_EREFUSED and a reason naming the limit while root
 * still connects and is served; 2,000 connections against a brokerd with
 * RLIMIT_NOFILE 256 are refused cleanly past its descriptors while the
 * earlier ones stay served, and every descriptor comes back; 100
 * connections that never send HELLO delay nobody's connect by no more than
 * the handshake timeout and are dropped.  The tests need root.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "mu_util.h"

#define MS 1000000LL

static const struct mu_ids nobody = { .uid = MU_NOBODY, .gid = MU_NOBODY };

struct ctx {
	const char *socket;
	unsigned fit; /* connections that must be accepted before the refusal */
	const char *flag; /* the limit the refusal must name */
	uint32_t small_slots; /* > 0: a connection this small still fits after the refusal */
	int up, down; /* child -> parent "at the limit", parent -> child "done" */
};

/* Tell the parent, then wait (10 s at most) for its word. */
static int hand_over(const struct ctx *x)
{
	char byte = 1;
	if (write(x->up, &byte, 1) != 1)
		return -1;
	struct pollfd p = { .fd = x->down, .events = POLLIN };
	return poll(&p, 1, 10000) == 1 && read(x->down, &byte, 1) == 1 ? 0 : -1;
}

static int fill_to_limit(void *arg)
{
	const struct ctx *x = arg;
	bk_client *c[16] = { 0 };
	char why[512];
	for (unsigned i = 0; i < x->fit; i++)
		MU_CHECK(mu_connect(x->socket, &c[i], why, sizeof(why)) == 0, 1, "connection %u: %s", i, why);
	bk_client *over;
	int r = mu_connect(x->socket, &over, why, sizeof(why));
	MU_CHECK(r == BK_EREFUSED && strstr(why, x->flag), 2, "connection past the limit gave %d '%s'", r, why);
	if (x->small_slots) {
		bk_options o;
		bk_options_init(&o);
		o.max_inflight = x->small_slots;
		o.zero_copy_size = 65536;
		r = bk_connect_error(x->socket, &o, &over, why, sizeof(why));
		MU_CHECK(r == 0, 3, "a smaller connection within the limit gave %d '%s'", r, why);
		bk_disconnect(over);
	}
	MU_CHECK(hand_over(x) == 0, 4, "no word from the parent");
	/* The accounting gives back what a connection held once it is gone (its teardown is asynchronous: the
	 * worker drains it first), so one more fits after one goes. */
	bk_disconnect(c[0]);
	int64_t deadline = bk_now_ns() + 5 * BT_SEC;
	while ((r = mu_connect(x->socket, &c[0], why, sizeof(why))) != 0 && bk_now_ns() < deadline) {
		struct timespec ts = { 0, 5 * MS }; /* paces the retries of a deadline-bounded loop */
		nanosleep(&ts, NULL);
	}
	MU_CHECK(r == 0, 5, "reconnect after a disconnect: %s", why);
	for (unsigned i = 0; i < x->fit; i++)
		bk_disconnect(c[i]);
	return MU_OK;
}

/* nobody fills one limit; while it sits there root connects and is served. */
static void limit_case(const char *flag, const char *value, unsigned fit, uint32_t small_slots)
{
	struct bkt_brokerd b;
	const char *const extra[] = { "--allow-uid", "65534", flag, value, NULL };
	mu_start(&b, extra);
	int up[2], down[2];
	assert_int_equal(pipe2(up, O_CLOEXEC), 0);
	assert_int_equal(pipe2(down, O_CLOEXEC), 0);
	struct ctx x = { .socket = b.socket, .fit = fit, .flag = flag, .small_slots = small_slots, .up = up[1],
			 .down = down[0] };
	pid_t child = mu_spawn_as(&nobody, fill_to_limit, &x);
	struct pollfd p = { .fd = up[0], .events = POLLIN };
	char byte;
	if (poll(&p, 1, 20000) == 1 && read(up[0], &byte, 1) == 1) {
		bk_client *c = bt_connect(b.socket);
		char out[16];
		assert_int_equal(mu_call(c, "echo.upper", "root", out, sizeof(out)), 0);
		assert_string_equal(out, "ROOT");
		bk_disconnect(c);
		assert_int_equal(write(down[1], &byte, 1), 1);
	}
	assert_int_equal(mu_wait(child), MU_OK);
	/* The refusal is logged with the caller's uid and pid. */
	assert_true(bt_log_count(&b, "uid 65534): handshake refused: uid 65534") > 0);
	for (int i = 0; i < 2; i++) {
		close(up[i]);
		close(down[i]);
	}
	assert_int_equal(bk_test_broker_stop(&b), 0);
	bk_test_broker_cleanup(&b);
}

static void test_conns_per_uid(void **state)
{
	(void)state;
	limit_case("--max-conns-per-uid", "4", 4, 0);
}

static void test_inflight_per_uid(void **state)
{
	(void)state;
	/* Two default connections reserve 2 x 256 slots; a third of 256 is over, one of 64 fits. */
	limit_case("--max-inflight-per-uid", "600", 2, 64);
}

static void test_region_bytes_per_uid(void **state)
{
	(void)state;
	/* A default region is a little over 4 MiB (its 4 MiB zero-copy area and the rest). */
	limit_case("--max-region-bytes-per-uid", "10M", 2, 64);
}

/* ---- descriptors -------------------------------------------------------------------- */

#define ATTEMPTS 2000

static void test_fd_exhaustion(void **state)
{
	(void)state;
	/* brokerd inherits a low soft limit and raises it to the hard one at start. */
	struct rlimit mine, low, theirs;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &mine), 0);
	low = (struct rlimit){ .rlim_cur = 128, .rlim_max = mine.rlim_max };
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	struct bkt_brokerd b;
	bt_start(&b, NULL);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &mine), 0);
	assert_int_equal(prlimit(b.pid, RLIMIT_NOFILE, NULL, &theirs), 0);
	assert_true(theirs.rlim_cur == mine.rlim_max);
	/* Then it gets 256 (a lower hard limit needs no privilege to set; brokerd reads it at every accept). */
	const struct rlimit tight = { .rlim_cur = 256, .rlim_max = 256 };
	assert_int_equal(prlimit(b.pid, RLIMIT_NOFILE, &tight, NULL), 0);
	int base_fds = bk_test_broker_fd_count(&b);
	assert_true(base_fds > 0);

	static bk_client *served[ATTEMPTS];
	unsigned nserved = 0, nrefused = 0;
	for (int i = 0; i < ATTEMPTS; i++) {
		char why[512];
		bk_client *c;
		int r = mu_connect(b.socket, &c, why, sizeof(why));
		if (r == 0) {
			served[nserved++] = c;
			continue;
		}
		if (r != BK_EREFUSED || !strstr(why, "file descriptors"))
			fail_msg("connection %d: %d (%s) '%s'", i, r, bk_strerror(r), why);
		nrefused++;
	}
	assert_true(nserved >= 50);
	assert_int_equal(nserved + nrefused, ATTEMPTS);
	/* The first ones are still served, the last one too. */
	for (unsigned i = 0; i < nserved; i++) {
		char out[16];
		assert_int_equal(mu_call(served[i], "echo.upper", "fd", out, sizeof(out)), 0);
		assert_string_equal(out, "FD");
	}
	for (unsigned i = 0; i < nserved; i++)
		bk_disconnect(served[i]);
	/* Teardown is asynchronous: every descriptor is back within 10 s. */
	int64_t deadline = bk_now_ns() + 10 * BT_SEC;
	int fds;
	while ((fds = bk_test_broker_fd_count(&b)) > base_fds && bk_now_ns() < deadline) {
		struct timespec ts = { 0, 10 * MS };
		nanosleep(&ts, NULL);
	}
	/* At most the baseline: that count may have held the start-up check's connection going away. */
	assert_true(fds <= base_fds);
	print_message("%u served, %u refused with a reason, %d descriptors before and after\n", nserved, nrefused,
		      base_fds);
	assert_true(nrefused > 0);
	assert_int_equal(bk_test_broker_stop(&b), 0);
	bk_test_broker_cleanup(&b);
}

/* ---- handshake timeout ---------------------------------------------------------------- */

#define SILENT 100
#define HANDSHAKE_MS 2000

static int raw_connect(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* Connect SILENT times without a word; after the parent's go, each must be closed by brokerd in time. */
static int silent_child(void *arg)
{
	const struct ctx *x = arg;
	int fds[SILENT];
	for (int i = 0; i < SILENT; i++) {
		fds[i] = raw_connect(x->socket);
		MU_CHECK(fds[i] >= 0, 1, "connect %d: %s", i, strerror(-fds[i]));
	}
	int64_t opened = bk_now_ns();
	MU_CHECK(hand_over(x) == 0, 2, "no word from the parent");
	for (int i = 0; i < SILENT; i++) {
		int64_t left = opened + (HANDSHAKE_MS + 3000) * MS - bk_now_ns();
		struct pollfd p = { .fd = fds[i], .events = POLLIN };
		MU_CHECK(left > 0 && poll(&p, 1, (int)(left / MS)) == 1, 3, "socket %d still open after the timeout", i);
		char buf[64];
		ssize_t n = recv(fds[i], buf, sizeof(buf), MSG_DONTWAIT);
		MU_CHECK(n == 0 || (n < 0 && errno == ECONNRESET), 4, "socket %d: recv gave %zd", i, n);
		close(fds[i]);
	}
	return MU_OK;
}

/* Connect until it works: how long it took, in units of 20 ms (so up to 5 s fit an exit code), 255 after 10 s. */
static int connect_retry(void *arg)
{
	const struct ctx *x = arg;
	int64_t start = bk_now_ns();
	while (bk_now_ns() - start < 10 * BT_SEC) {
		bk_client *c;
		char why[256];
		if (mu_connect(x->socket, &c, why, sizeof(why)) == 0) {
			bk_disconnect(c);
			int64_t units = (bk_now_ns() - start) / (20 * MS);
			return units > 250 ? 250 : (int)units;
		}
		struct timespec ts = { 0, 5 * MS }; /* paces the retries of a deadline-bounded loop */
		nanosleep(&ts, NULL);
	}
	return 255;
}

static void test_silent_handshakes(void **state)
{
	(void)state;
	struct bkt_brokerd b;
	char ms[16];
	snprintf(ms, sizeof(ms), "%d", HANDSHAKE_MS);
	const char *const extra[] = { "--allow-uid", "65534", "--handshake-timeout-ms", ms, NULL };
	mu_start(&b, extra);
	int up[2], down[2];
	assert_int_equal(pipe2(up, O_CLOEXEC), 0);
	assert_int_equal(pipe2(down, O_CLOEXEC), 0);
	struct ctx x = { .socket = b.socket, .up = up[1], .down = down[0] };
	pid_t silent = mu_spawn_as(&nobody, silent_child, &x);
	struct pollfd p = { .fd = up[0], .events = POLLIN };
	char byte;
	assert_int_equal(poll(&p, 1, 20000), 1);
	assert_int_equal(read(up[0], &byte, 1), 1);
	/* Another user is not delayed at all by them (well within the timeout). */
	int64_t t0 = bk_now_ns();
	bk_client *c = bt_connect(b.socket);
	int64_t root_ms = (bk_now_ns() - t0) / MS;
	bk_disconnect(c);
	assert_true(root_ms < HANDSHAKE_MS);
	/* nobody itself is at --max-conns-per-uid (64 of the 100): it gets in once they time out. */
	assert_int_equal(write(down[1], &byte, 1), 1);
	int waited = mu_run_as(&nobody, connect_retry, &x) * 20;
	print_message("root connected in %lld ms; nobody, over its limit, in %d ms (handshake timeout %d ms)\n",
		      (long long)root_ms, waited, HANDSHAKE_MS);
	assert_true(waited <= HANDSHAKE_MS + 1000);
	assert_int_equal(mu_wait(silent), MU_OK);
	assert_true(bt_log_count(&b, "no HELLO within") >= 64);
	for (int i = 0; i < 2; i++) {
		close(up[i]);
		close(down[i]);
	}
	assert_int_equal(bk_test_broker_stop(&b), 0);
	bk_test_broker_cleanup(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_conns_per_uid, mu_need_root),
		cmocka_unit_test_setup(test_inflight_per_uid, mu_need_root),
		cmocka_unit_test_setup(test_region_bytes_per_uid, mu_need_root),
		cmocka_unit_test_setup(test_fd_exhaustion, mu_need_root),
		cmocka_unit_test_setup(test_silent_handshakes, mu_need_root),
	};
	return cmocka_run_group_tests_name("per-uid limits, descriptors and handshakes", tests, NULL, NULL);
}
