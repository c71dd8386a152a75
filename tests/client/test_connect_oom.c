// SPDX-License-Identifier: MIT
/*
 * test_connect_oom.c - bk_connect under resource exhaustion, against a real
 * brokerd (harness): for N = 0, 1, 2, ... the failalloc wrapper
 * (tests/common/failalloc.h) lets N allocations (or fd / mapping creations)
 * inside bk_connect succeed and fails the next.  Every failure point must
 * give a clean negative code and a reason, and leave nothing behind: no
 * allocation or mapping still tracked, the same fds open as before (and,
 * under ASan, LeakSanitizer finds nothing at exit).  The sweep ends when N
 * covers every call and bk_connect succeeds; that client then works and
 * disconnects clean.  The first tests check the wrapper itself; one more
 * fails the split of a zero-copy buffer.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/client.h"
#include "broker/wire.h"
#include "control.h"
#include "failalloc.h"
#include "harness.h"
#include "proc_info.h"

#define SEC 1000000000LL
#define MAX_POINTS 200 /* bk_connect makes far fewer calls: reaching this is a failure */

static struct bkt_brokerd B;
static uint32_t broker_fds0; /* brokerd's open fds while idle, before any sweep */

/* brokerd's STATUS over a fresh control connection (which counts in it). */
static void broker_status(struct bk_msg_status_reply *st)
{
	struct bkc_ctl k;
	char err[256] = "";
	int r = bkc_ctl_open(&k, B.socket, 5000, err, sizeof(err));
	if (r < 0)
		fail_msg("control connection: %s (%d)", err, r);
	struct bk_msg_hdr req = { .type = BK_MSG_STATUS };
	r = bkc_ctl_call(&k, &req, sizeof(req), BK_MSG_STATUS_REPLY, st, sizeof(*st), err, sizeof(err));
	bkc_ctl_close(&k);
	if (r != (int)sizeof(*st))
		fail_msg("STATUS: %s (%d)", err, r);
}

/*
 * brokerd's open fds once only our STATUS connection is left, as the STATUS
 * reply gives them: the control thread that answers it also frees
 * connections, so the figure never counts a half-freed one.  Bounded wait:
 * a dropped connection is freed once its worker has torn it down.
 */
static uint32_t broker_idle_fds(void)
{
	struct bk_msg_status_reply st;
	int64_t deadline = bk_now_ns() + 10 * SEC;
	for (;;) {
		broker_status(&st);
		if (st.connections == 1 && st.inflight == 0)
			return st.open_fds;
		if (bk_now_ns() >= deadline)
			break;
		struct timespec ts = { 0, 2000000 };
		nanosleep(&ts, NULL);
	}
	bk_test_broker_dump_log(&B);
	fail_msg("brokerd still has %u connections (%llu tasks in flight) after 10 s", st.connections,
		 (unsigned long long)st.inflight);
	return 0;
}

static int setup(void **state)
{
	(void)state;
	return bk_test_broker_start(&B, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	int r = bk_test_broker_stop(&B);
	bk_test_broker_cleanup(&B);
	if (r != 0)
		fprintf(stderr, "brokerd did not exit 0 on SIGTERM: %d\n", r);
	return r == 0 ? 0 : -1;
}

/* Runs first: brokerd's idle figure before any connection attempt. */
static void test_broker_idle(void **state)
{
	(void)state;
	broker_fds0 = broker_idle_fds();
	assert_true(broker_fds0 > 0);
}

static int self_fds(void)
{
	int n = bkt_proc_fd_count(getpid());
	assert_true(n > 0);
	return n;
}

static void *malloc_on_thread(void *arg)
{
	(void)arg;
	return malloc(32);
}

/* One malloc on a fresh thread: does the arming reach other threads? */
static int other_thread_malloc_fails(void)
{
	pthread_t t;
	void *p;
	assert_int_equal(pthread_create(&t, NULL, malloc_on_thread, NULL), 0);
	assert_int_equal(pthread_join(t, &p), 0);
	free(p);
	return p == NULL;
}

static void test_wrapper_memory(void **state)
{
	(void)state;
	struct failalloc_stats st;
	void *volatile p[4];
	failalloc_arm(FAILALLOC_MEM, 2);
	p[0] = malloc(16);
	p[1] = calloc(2, 16);
	p[2] = malloc(16);
	int e = errno;
	p[3] = strdup("x");
	long live = failalloc_live_allocs();
	failalloc_disarm(&st);
	assert_non_null(p[0]);
	assert_non_null(p[1]);
	assert_null(p[2]);
	assert_int_equal(e, ENOMEM);
	assert_null(p[3]);
	assert_int_equal(st.calls, 4);
	assert_int_equal(st.failed, 2);
	assert_int_equal(live, 2);
	/* Frees after disarming still count; realloc keeps a tracked block tracked. */
	p[0] = realloc(p[0], 4096);
	assert_non_null(p[0]);
	assert_int_equal(failalloc_live_allocs(), 2);
	free(p[0]);
	free(p[1]);
	assert_int_equal(failalloc_live_allocs(), 0);

	/* FAILALLOC_ONCE: only call number 1 fails. */
	failalloc_arm(FAILALLOC_MEM | FAILALLOC_ONCE, 1);
	p[0] = malloc(8);
	p[1] = malloc(8);
	p[2] = malloc(8);
	failalloc_disarm(&st);
	assert_non_null(p[0]);
	assert_null(p[1]);
	assert_non_null(p[2]);
	assert_int_equal(st.failed, 1);
	free(p[0]);
	free(p[2]);
	assert_int_equal(failalloc_live_allocs(), 0);

	/* Disarmed, everything passes through and nothing is tracked. */
	p[0] = malloc(1 << 20);
	assert_non_null(p[0]);
	assert_int_equal(failalloc_live_allocs(), 0);
	free(p[0]);
}

static void test_wrapper_threads_fds_maps(void **state)
{
	(void)state;
	struct failalloc_stats st;
	/* Only the arming thread is affected, unless asked otherwise. */
	failalloc_arm(FAILALLOC_MEM, 0);
	int other = other_thread_malloc_fails();
	failalloc_disarm(&st);
	assert_false(other);
	assert_int_equal(st.calls, 0);
	failalloc_arm(FAILALLOC_MEM | FAILALLOC_ALL_THREADS, 0);
	other = other_thread_malloc_fails();
	failalloc_disarm(&st);
	assert_true(other);
	assert_true(st.failed >= 1);

	/* fds: the first creation succeeds, the second fails with EMFILE. */
	failalloc_arm(FAILALLOC_FD, 1);
	int a = eventfd(0, EFD_CLOEXEC);
	int b = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	int e = errno;
	failalloc_disarm(&st);
	assert_true(a >= 0);
	assert_int_equal(b, -1);
	assert_int_equal(e, EMFILE);
	assert_int_equal(close(a), 0);

	/* Mappings are tracked until unmapped. */
	failalloc_arm(FAILALLOC_MAP, 1);
	void *m1 = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *m2 = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	e = errno;
	failalloc_disarm(&st);
	assert_true(m1 != MAP_FAILED);
	assert_true(m2 == MAP_FAILED);
	assert_int_equal(e, ENOMEM);
	assert_int_equal(failalloc_live_maps(), 1);
	assert_int_equal(munmap(m1, 4096), 0);
	assert_int_equal(failalloc_live_maps(), 0);
}

/* The connection works: a lookup and one echo round trip. */
static void check_client_works(bk_client *c)
{
	bk_fn echo;
	assert_int_equal(bk_lookup(c, "echo.echo", &echo), 0);
	bk_future *f;
	assert_int_equal(bk_submit(c, echo, "oom", 3, &f), 0);
	assert_int_equal(bk_wait(f, 10 * SEC), 0);
	const void *d;
	size_t len;
	assert_int_equal(bk_result(f, &d, &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(d, "oom", 3);
	bk_release(f);
}

/* The code a failure of these kinds must give (0: any negative code). */
static int expected_code(unsigned what)
{
	switch (what & FAILALLOC_EVERYTHING) {
	case FAILALLOC_MEM:
	case FAILALLOC_MAP:
		return -ENOMEM;
	case FAILALLOC_FD:
		return -EMFILE;
	default:
		return 0;
	}
}

/*
 * Sweep the failure points of bk_connect for the kinds in what.  Returns
 * the number of calls of those kinds one successful bk_connect makes.
 */
static unsigned long sweep(unsigned what, const bk_options *o)
{
	int fds0 = self_fds();
	for (unsigned long n = 0; n < MAX_POINTS; n++) {
		bk_client *c = NULL;
		char err[512] = "";
		struct failalloc_stats st;
		failalloc_arm(what, n);
		int r = bk_connect_error(B.socket, o, &c, err, sizeof(err));
		failalloc_disarm(&st);
		long live = failalloc_live_allocs(), maps = failalloc_live_maps();
		if (r == 0) {
			/* Success only once every call got through: no failure was swallowed. */
			assert_int_equal(st.failed, 0);
			assert_int_equal(st.calls, n);
			assert_non_null(c);
			check_client_works(c);
			bk_disconnect(c);
			assert_int_equal(failalloc_live_allocs(), 0);
			assert_int_equal(failalloc_live_maps(), 0);
			assert_int_equal(self_fds(), fds0);
			return n;
		}
		if (st.failed == 0 || (expected_code(what) && r != expected_code(what)))
			fprintf(stderr, "point %lu of kinds %#x: %d (%s), %lu failed\n", n, what, r, err, st.failed);
		assert_true(st.failed >= 1); /* brokerd is fine: only the injected failure may stop it */
		assert_true(r < 0);
		if (expected_code(what))
			assert_int_equal(r, expected_code(what));
		assert_null(c);
		assert_true(err[0] != 0);
		assert_int_equal(live, 0);
		assert_int_equal(maps, 0);
		assert_int_equal(self_fds(), fds0);
	}
	fail_msg("bk_connect still failed after %d injected failure points", MAX_POINTS);
	return 0;
}

/* Each kind alone, all together, failing for good and failing once. */
static void sweep_all(const bk_options *o, const char *label)
{
	static const unsigned kinds[] = { FAILALLOC_MEM, FAILALLOC_FD, FAILALLOC_MAP, FAILALLOC_EVERYTHING };
	unsigned long n[4];
	for (int once = 0; once < 2; once++)
		for (size_t k = 0; k < 4; k++) {
			n[k] = sweep(kinds[k] | (once ? FAILALLOC_ONCE : 0), o);
			assert_true(n[k] > 0); /* bk_connect needs each kind at least once */
		}
	/* The combined sweep met every point of the single ones. */
	assert_int_equal(n[3], n[0] + n[1] + n[2]);
	print_message("%s: %lu allocations, %lu fds, %lu mappings in bk_connect\n", label, n[0], n[1], n[2]);
}

static void test_connect_default(void **state)
{
	(void)state;
	sweep_all(NULL, "default options");
}

static void small_options(bk_options *o)
{
	bk_options_init(o);
	o->max_inflight = 32;
	o->sq_entries = 64;
	o->zero_copy_size = 1u << 20;
}

static void test_connect_small(void **state)
{
	(void)state;
	bk_options o;
	small_options(&o);
	sweep_all(&o, "32 slots, 1 MiB zero-copy");
}

/* A zero-copy buffer whose split fails: NULL, nothing held, and the map stays whole. */
static void test_buf_alloc(void **state)
{
	(void)state;
	bk_options o;
	small_options(&o);
	bk_client *c = NULL;
	assert_int_equal(bk_connect(B.socket, &o, &c), 0);
	struct failalloc_stats st;
	failalloc_arm(FAILALLOC_MEM, 0);
	void *p = bk_buf_alloc(c, 4096);
	failalloc_disarm(&st);
	assert_null(p);
	assert_int_equal(st.failed, 1);
	assert_int_equal(failalloc_live_allocs(), 0);
	p = bk_buf_alloc(c, 4096);
	assert_non_null(p);
	bk_buf_free(c, p);
	p = bk_buf_alloc(c, o.zero_copy_size); /* only if every block merged back */
	assert_non_null(p);
	bk_buf_free(c, p);
	bk_disconnect(c);
}

/*
 * brokerd shed every half-made connection: with its last client gone it
 * holds as many fds as it did idle before the sweeps.
 */
static void test_broker_recovered(void **state)
{
	(void)state;
	uint32_t fds = broker_idle_fds(); /* waits until the sweeps' connections are freed */
	bk_client *c = NULL;
	assert_int_equal(bk_connect(B.socket, NULL, &c), 0);
	check_client_works(c);
	/* The figure does see connections: brokerd holds at least this one's socket. */
	struct bk_msg_status_reply st;
	broker_status(&st);
	assert_int_equal(st.connections, 2);
	assert_true(st.open_fds > broker_fds0);
	bk_disconnect(c);
	assert_int_equal(fds, broker_fds0);
	assert_int_equal(broker_idle_fds(), broker_fds0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_broker_idle),
		cmocka_unit_test(test_wrapper_memory),
		cmocka_unit_test(test_wrapper_threads_fds_maps),
		cmocka_unit_test(test_connect_default),
		cmocka_unit_test(test_connect_small),
		cmocka_unit_test(test_buf_alloc),
		cmocka_unit_test(test_broker_recovered),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
