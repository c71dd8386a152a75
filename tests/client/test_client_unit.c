// SPDX-License-Identifier: MIT
/*
 * test_client_unit.c - libbkclient against the in-process fake broker:
 * handshake and its failures, submit/wait/result, full-pool -EAGAIN,
 * cancel and release, stale handles, zero-copy buffers, bk_fd + dispatch
 * with epoll, many threads at once, and broker hang-up while 8 threads wait.
 * Runs without brokerd; the end-to-end suite covers the real daemon.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/client.h"
#include "broker/sys.h"
#include "client_internal.h"
#include "fake_broker.h"

#define SEC 1000000000LL

static bk_client *connect_fake(struct fake_broker *fb, uint32_t slots)
{
	assert_int_equal(fake_broker_start(fb, FAKE_SERVE), 0);
	bk_options o;
	bk_options_init(&o);
	o.max_inflight = slots;
	o.sq_entries = slots;
	o.zero_copy_size = 1u << 20;
	bk_client *c = NULL;
	char err[256];
	int r = bk_connect_error(fb->path, &o, &c, err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "connect: %s\n", err);
	assert_int_equal(r, 0);
	return c;
}

static void test_strerror(void **state)
{
	(void)state;
	int codes[] = {BK_EGONE, BK_EVERSION, BK_ELAYOUT, BK_EBADREGION, BK_ENOTBROKER, BK_EPROTOCOL, BK_ESTALE,
		       BK_EREFUSED};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		const char *s = bk_strerror(codes[i]);
		assert_non_null(s);
		assert_string_not_equal(s, "unknown error code");
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(s, bk_strerror(codes[j]));
	}
	assert_string_equal(bk_strerror(0), "success");
	assert_string_equal(bk_strerror(-99999), "unknown error code");
	assert_non_null(strstr(bk_strerror(-EMSGSIZE), "zero-copy"));
	assert_non_null(bk_strerror(-EINVAL));
}

static void test_no_socket(void **state)
{
	(void)state;
	bk_client *c = (bk_client *)1;
	char err[256];
	assert_int_equal(bk_connect_error("/nonexistent/dir/broker.sock", NULL, &c, err, sizeof(err)), -ENOENT);
	assert_null(c);
	assert_non_null(strstr(err, "/nonexistent/dir/broker.sock"));
	/* Default path from the environment. */
	setenv("BROKER_SOCKET", "/nonexistent/env.sock", 1);
	assert_int_equal(bk_connect(NULL, NULL, &c), -ENOENT);
	unsetenv("BROKER_SOCKET");
	bk_options o;
	bk_options_init(&o);
	o.max_inflight = BK_SLOTS_MAX + 1;
	assert_int_equal(bk_connect("/nonexistent/x.sock", &o, &c), -EINVAL);
}

static void test_stream_socket(void **state)
{
	(void)state;
	char dir[] = "/tmp/bk-unit-XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 4), 0);
	bk_client *c = NULL;
	assert_int_equal(bk_connect(path, NULL, &c), BK_ENOTBROKER);
	close(l);
	unlink(path);
	rmdir(dir);
}

static void check_bad_peer(enum fake_mode mode, int want, const char *needle, int64_t max_ns)
{
	struct fake_broker fb;
	assert_int_equal(fake_broker_start(&fb, mode), 0);
	bk_client *c = NULL;
	char err[512];
	int64_t t0 = bk_now_ns();
	int r = bk_connect_error(fb.path, NULL, &c, err, sizeof(err));
	int64_t dt = bk_now_ns() - t0;
	fake_broker_stop(&fb);
	assert_int_equal(r, want);
	assert_null(c);
	assert_true(dt < max_ns);
	if (needle && !strstr(err, needle)) {
		fprintf(stderr, "error text '%s' lacks '%s'\n", err, needle);
		fail();
	}
}

static void test_silent_peer(void **state)
{
	(void)state;
	check_bad_peer(FAKE_SILENT, BK_ENOTBROKER, "does not answer", 7 * SEC);
}

static void test_garbage_peer(void **state)
{
	(void)state;
	check_bad_peer(FAKE_GARBAGE, BK_ENOTBROKER, "not a brokerd", 2 * SEC);
}

static void test_refused(void **state)
{
	(void)state;
	check_bad_peer(FAKE_REFUSE, BK_EREFUSED, "uid 1234 is not allowed", 2 * SEC);
	check_bad_peer(FAKE_BAD_ABI, BK_EVERSION, "ABI 2.0", 2 * SEC);
}

static void test_echo_roundtrip(void **state)
{
	(void)state;
	struct fake_broker fb;
	bk_client *c = connect_fake(&fb, 64);
	bk_fn echo, hold;
	assert_int_equal(bk_lookup(c, "echo.echo", &echo), 0);
	assert_int_equal(bk_lookup(c, "test.hold", &hold), 0);
	bk_fn nofn = 99;
	assert_int_equal(bk_lookup(c, "no.such", &nofn), -ENOENT);
	assert_int_equal(nofn, 99);
	assert_int_equal(bk_lookup(c, "", &nofn), -EINVAL);

	for (int i = 0; i < 200; i++) {
		char arg[64];
		int n = snprintf(arg, sizeof(arg), "hello %d", i);
		bk_future *f;
		assert_int_equal(bk_submit(c, echo, arg, (size_t)n, &f), 0);
		assert_ptr_equal(bk_future_client(f), c);
		assert_int_equal(bk_wait(f, 5 * SEC), 0);
		assert_int_equal(bk_poll(f), 1);
		const void *d;
		size_t len;
		assert_int_equal(bk_result(f, &d, &len), 0);
		assert_int_equal(len, (size_t)n);
		assert_memory_equal(d, arg, len);
		bk_release(f);
		/* Use after release: a clear code, never a crash. */
		assert_int_equal(bk_poll(f), BK_ESTALE);
		assert_int_equal(bk_wait(f, 0), BK_ESTALE);
		assert_int_equal(bk_result(f, &d, &len), BK_ESTALE);
		assert_int_equal(bk_cancel(f), BK_ESTALE);
		bk_release(f); /* double release is ignored */
	}
	/* Oversized argument. */
	char big[300];
	memset(big, 'x', sizeof(big));
	bk_future *f;
	assert_int_equal(bk_submit(c, echo, big, sizeof(big), &f), -EMSGSIZE);
	/* Pending: result is -EBUSY, wait times out. */
	assert_int_equal(bk_submit(c, hold, "", 0, &f), 0);
	assert_int_equal(bk_result(f, NULL, NULL), -EBUSY);
	assert_int_equal(bk_poll(f), 0);
	int64_t t0 = bk_now_ns();
	assert_int_equal(bk_wait(f, 50000000LL), -ETIMEDOUT);
	assert_true(bk_now_ns() - t0 >= 50000000LL);
	assert_int_equal(bk_cancel(f), 0);
	assert_int_equal(bk_wait(f, 5 * SEC), 0);
	assert_int_equal(bk_result(f, NULL, NULL), -ECANCELED);
	bk_release(f);
	bk_disconnect(c);
	fake_broker_stop(&fb);
}

/*
 * A thread about to sleep re-checks the slots too (complete.c, BKC_REAP_SLEEPER): here "another
 * thread" claimed the future's completion entry and has not marked it yet, which the CQ alone cannot
 * show; without the slot check that wait slept a whole 100 ms slice.
 */
static void test_sleeper_sees_claimed_entry(void **state)
{
	(void)state;
	struct fake_broker fb;
	bk_client *c = connect_fake(&fb, 64);
	bk_fn echo;
	assert_int_equal(bk_lookup(c, "echo.echo", &echo), 0);
	bk_future *f;
	assert_int_equal(bk_submit(c, echo, "x", 1, &f), 0);
	int64_t deadline = bk_now_ns() + 5 * SEC;
	while (!bk_cq_consumer_pending(&c->cq) && bk_now_ns() < deadline)
		sched_yield(); /* bounded: the fake answers within microseconds */
	assert_true(bk_cq_consumer_pending(&c->cq));
	struct bk_cqe e;
	assert_int_equal(bk_cq_consumer_reap(&c->cq, &e, 1), 1); /* claimed, not marked */
	assert_int_equal(e.slot, f->slot);
	assert_int_equal(bkc_check_future(f, BKC_REAP), 0); /* the CQ is empty */
	assert_int_equal(bkc_check_future(f, BKC_REAP | BKC_REAP_SLEEPER), 1); /* the slot says done */
	assert_int_equal(bk_result(f, NULL, NULL), 0);
	bk_release(f);
	bk_disconnect(c);
	fake_broker_stop(&fb);
}

/* The client's spin policy (spin.c) on a client of its own, fed a fake /proc/loadavg line. */
static void set_load(bk_client *c, unsigned runnable)
{
	char path[] = "/tmp/bk-loadavg-XXXXXX", line[64];
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	int n = snprintf(line, sizeof(line), "0.50 0.50 0.50 %u/300 4242\n", runnable);
	assert_int_equal(write(fd, line, (size_t)n), n);
	if (c->load.fd >= 0)
		close(c->load.fd);
	c->load.fd = fd;
	atomic_store(&c->load.checked_ns, 0); /* read it at the next wait, not a millisecond later */
}

static void test_spin_policy(void **state)
{
	(void)state;
	bk_client *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->spin_ns = -1;
	bkc_spin_init(c);
	bool yield = true;
	atomic_store(&c->wait_ewma_ns, 1000); /* recent waits were short: spinning catches them */
	set_load(c, c->load.ncpus); /* every CPU busy, nobody waiting */
	int64_t now = bk_now_ns();
	assert_true(bkc_spin_budget(c, now, &yield) >= BKC_SPIN_MIN_NS);
	assert_false(yield);
	set_load(c, c->load.ncpus + 1); /* a thread waits for a CPU: spin, but give the CPU away at each look */
	assert_true(bkc_spin_budget(c, now, &yield) >= BKC_SPIN_MIN_NS);
	assert_true(yield);
	atomic_store(&c->wait_ewma_ns, BKC_SPIN_MAX_NS / 4); /* a plain spin would last 25 us: a polite one 10 */
	assert_int_equal(bkc_spin_budget(c, now, &yield), BK_POLITE_SPIN_MAX_NS);
	assert_true(yield);
	set_load(c, c->load.ncpus);
	assert_int_equal(bkc_spin_budget(c, now, &yield), BKC_SPIN_MAX_NS / 2);
	assert_false(yield);
	set_load(c, c->load.ncpus + 1);
	atomic_store(&c->wait_ewma_ns, BKC_SPIN_MAX_NS); /* waits longer than any spin: sleep at once */
	int spun = 0;
	for (int i = 0; i < 8; i++)
		spun += bkc_spin_budget(c, now, &yield) > 0;
	assert_int_equal(spun, 1); /* but for one probe in 8 */
	c->spin_ns = 5000; /* what the app asked for, whatever the load (still a waiting thread) */
	assert_int_equal(bkc_spin_budget(c, now, &yield), 5000);
	assert_false(yield);
	bkc_spin_fini(c);
	free(c);
}

static void test_full_pool(void **state)
{
	(void)state;
	struct fake_broker fb;
	bk_client *c = connect_fake(&fb, 8);
	bk_fn hold = FAKE_FN_HOLD, echo = FAKE_FN_ECHO;
	bk_future *fs[8];
	for (int i = 0; i < 8; i++)
		assert_int_equal(bk_submit(c, hold, NULL, 0, &fs[i]), 0);
	bk_future *x;
	int64_t t0 = bk_now_ns();
	assert_int_equal(bk_submit(c, echo, "a", 1, &x), -EAGAIN);
	assert_true(bk_now_ns() - t0 < SEC / 10); /* at once */
	assert_int_equal(bk_submit_wait(c, echo, "a", 1, 30000000LL, &x), -ETIMEDOUT);
	/* Releasing a pending future cancels it; its slot comes back after the completion. */
	bk_release(fs[0]);
	assert_int_equal(bk_submit_wait(c, echo, "ab", 2, 5 * SEC, &x), 0);
	assert_int_equal(bk_wait(x, 5 * SEC), 0);
	const void *d;
	size_t len;
	assert_int_equal(bk_result(x, &d, &len), 0);
	assert_int_equal(len, 2);
	bk_release(x);
	for (int i = 1; i < 8; i++)
		bk_release(fs[i]);
	/* Every slot comes back: 8 fresh submissions succeed in bounded time. */
	for (int i = 0; i < 8; i++)
		assert_int_equal(bk_submit_wait(c, echo, "z", 1, 5 * SEC, &fs[i]), 0);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(bk_wait(fs[i], 5 * SEC), 0);
		bk_release(fs[i]);
	}
	bk_disconnect(c);
	fake_broker_stop(&fb);
}

static void test_batch_and_buffers(void **state)
{
	(void)state;
	struct fake_broker fb;
	bk_client *c = connect_fake(&fb, 64);
	/* Allocator: exhaustion, reuse, merging. */
	void *a = bk_buf_alloc(c, 1000), *b = bk_buf_alloc(c, 5000), *d = bk_buf_alloc(c, 64);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(d);
	assert_null(bk_buf_alloc(c, 2u << 20));
	assert_null(bk_buf_alloc(c, 0));
	bk_buf_free(c, a);
	bk_buf_free(c, b);
	void *e = bk_buf_alloc(c, 6000); /* fits only if a and b merged */
	assert_ptr_equal(e, a);
	bk_buf_free(c, e);
	bk_buf_free(c, d);
	void *all = bk_buf_alloc(c, 1u << 20); /* everything merged back */
	assert_non_null(all);
	bk_buf_free(c, all);

	/* Zero-copy argument and result through the echo. */
	size_t n = 200000;
	uint8_t *arg = bk_buf_alloc(c, n), *res = bk_buf_alloc(c, n);
	assert_non_null(arg);
	assert_non_null(res);
	for (size_t i = 0; i < n; i++)
		arg[i] = (uint8_t)(i * 31 + 7);
	bk_call calls[3] = {
		{.fn = FAKE_FN_ECHO, .arg = arg, .len = n, .result = res, .result_cap = n},
		{.fn = FAKE_FN_ECHO, .arg = "inline", .len = 6},
		{.fn = FAKE_FN_FAIL},
	};
	bk_future *fs[3];
	assert_int_equal(bk_submit_batch(c, calls, 3, fs), 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(bk_wait(fs[i], 5 * SEC), 0);
	const void *dp;
	size_t len;
	assert_int_equal(bk_result(fs[0], &dp, &len), 0);
	assert_ptr_equal(dp, res);
	assert_int_equal(len, n);
	assert_memory_equal(res, arg, n);
	assert_int_equal(bk_result(fs[1], &dp, &len), 0);
	assert_memory_equal(dp, "inline", 6);
	assert_int_equal(bk_result(fs[2], &dp, &len), -EIO);
	/* Too small a result buffer: -ENOBUFS with the size needed. */
	bk_call small = {.fn = FAKE_FN_ECHO, .arg = arg, .len = 5000, .result = res, .result_cap = 100};
	bk_future *g;
	assert_int_equal(bk_submit_batch(c, &small, 1, &g), 1);
	assert_int_equal(bk_wait(g, 5 * SEC), 0);
	assert_int_equal(bk_result(g, &dp, &len), -ENOBUFS);
	assert_int_equal(len, 5000);
	bk_release(g);
	/* A bad call fails the whole batch before anything is posted. */
	char heap[16];
	bk_call bad[2] = {{.fn = FAKE_FN_ECHO, .arg = "x", .len = 1},
			  {.fn = FAKE_FN_ECHO, .arg = "x", .len = 1, .result = heap, .result_cap = 16}};
	assert_int_equal(bk_submit_batch(c, bad, 2, fs), -EINVAL);
	for (int i = 0; i < 3; i++)
		bk_release(fs[i]);
	bk_buf_free(c, arg);
	bk_buf_free(c, res);
	bk_disconnect(c);
	fake_broker_stop(&fb);
}

struct loop_state {
	bk_client *c;
	int done, errors, submitted, total;
};

static void on_done(bk_future *f, void *ud)
{
	struct loop_state *s = ud;
	const void *d;
	size_t len;
	int idx = -1;
	if (bk_result(f, &d, &len) != 0 || len != sizeof(int))
		s->errors++;
	else
		memcpy(&idx, d, sizeof(int));
	if (idx < 0 || idx >= s->total)
		s->errors++;
	s->done++;
	bk_release(f);
	if (s->submitted < s->total) {
		bk_future *g;
		int k = s->submitted;
		if (bk_submit(s->c, FAKE_FN_ECHO, &k, sizeof(k), &g) == 0 && bk_on_complete(g, on_done, s) == 0)
			s->submitted++;
		else
			s->errors++;
	}
}

static void test_fd_dispatch(void **state)
{
	(void)state;
	struct fake_broker fb;
	bk_client *c = connect_fake(&fb, 128);
	struct loop_state s = {.c = c, .total = 5000};
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN};
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, bk_fd(c), &ev), 0);
	for (int i = 0; i < 100; i++) {
		bk_future *g;
		int k = s.submitted;
		assert_int_equal(bk_submit(c, FAKE_FN_ECHO, &k, sizeof(k), &g), 0);
		assert_int_equal(bk_on_complete(g, on_done, &s), 0);
		s.submitted++;
	}
	int64_t deadline = bk_now_ns() + 20 * SEC;
	while (s.done < s.total && bk_now_ns() < deadline) {
		struct epoll_event out;
		int n = epoll_wait(ep, &out, 1, 1000);
		assert_true(n >= 0);
		if (n == 1)
			assert_true(bk_dispatch(c) >= 0);
	}
	assert_int_equal(s.done, s.total);
	assert_int_equal(s.errors, 0);
	/* A callback on an already completed future runs from the next dispatch. */
	bk_future *g;
	assert_int_equal(bk_submit(c, FAKE_FN_ECHO, "q", 1, &g), 0);
	assert_int_equal(bk_wait(g, 5 * SEC), 0);
	s.total = s.submitted; /* no resubmission */
	int before = s.done;
	assert_int_equal(bk_on_complete(g, on_done, &s), 0);
	struct epoll_event out;
	assert_int_equal(epoll_wait(ep, &out, 1, 5000), 1);
	assert_int_equal(bk_dispatch(c), 1);
	assert_int_equal(s.done, before + 1);
	close(ep);
	bk_disconnect(c);
	fake_broker_stop(&fb);
}

struct thr_arg {
	bk_client *c;
	int id, errors;
	int64_t gone_latency;
	bk_future *f;
	_Atomic int *ready;
	_Atomic int64_t *kill_time;
};

static void *echo_thread(void *p)
{
	struct thr_arg *a = p;
	for (int i = 0; i < 1000; i++) {
		char buf[48];
		int n = snprintf(buf, sizeof(buf), "t%d-%d", a->id, i);
		bk_future *f;
		if (bk_submit_wait(a->c, FAKE_FN_ECHO, buf, (size_t)n, 5 * SEC, &f) != 0) {
			a->errors++;
			continue;
		}
		const void *d;
		size_t len;
		if (bk_wait(f, 5 * SEC) != 0 || bk_result(f, &d, &len) != 0 || len != (size_t)n || memcmp(d, buf, len))
			a->errors++;
		bk_release(f);
	}
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	struct fake_broker fb;
	bk_client *c = connect_fake(&fb, 16); /* fewer slots than threads*2: exercises slot waits */
	pthread_t t[6];
	struct thr_arg a[6];
	for (int i = 0; i < 6; i++) {
		a[i] = (struct thr_arg){.c = c, .id = i};
		assert_int_equal(pthread_create(&t[i], NULL, echo_thread, &a[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].errors, 0);
	}
	assert_true(atomic_load(&fb.served) >= 6000);
	bk_disconnect(c);
	fake_broker_stop(&fb);
}

static void *waiter_thread(void *p)
{
	struct thr_arg *a = p;
	atomic_fetch_add(a->ready, 1);
	int r = bk_wait(a->f, 10 * SEC);
	a->gone_latency = bk_now_ns() - atomic_load(a->kill_time);
	a->errors = r;
	return NULL;
}

static void test_broker_gone(void **state)
{
	(void)state;
	struct fake_broker fb;
	bk_client *c = connect_fake(&fb, 16);
	pthread_t t[8];
	struct thr_arg a[8];
	_Atomic int ready = 0;
	_Atomic int64_t kill_time = INT64_MAX;
	for (int i = 0; i < 8; i++) {
		a[i] = (struct thr_arg){.c = c, .id = i, .ready = &ready, .kill_time = &kill_time};
		assert_int_equal(bk_submit(c, FAKE_FN_HOLD, NULL, 0, &a[i].f), 0);
		assert_int_equal(pthread_create(&t[i], NULL, waiter_thread, &a[i]), 0);
	}
	int64_t dl = bk_now_ns() + 5 * SEC;
	while (atomic_load(&ready) < 8 && bk_now_ns() < dl)
		sched_yield();
	assert_int_equal(atomic_load(&ready), 8);
	/* Let them reach the futex sleep, bounded: waiters announce themselves in need_wakeup. */
	while (atomic_load(&c->v.cq_ctl->need_wakeup) < 8 && bk_now_ns() < dl)
		sched_yield();
	assert_int_equal(atomic_load(&c->v.cq_ctl->need_wakeup), 8);
	atomic_store(&kill_time, bk_now_ns());
	atomic_store(&fb.hangup, 1);
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].errors, BK_EGONE);
		assert_true(a[i].gone_latency < SEC);
	}
	/* Later calls fail fast. */
	bk_future *f;
	assert_int_equal(bk_submit(c, FAKE_FN_ECHO, "x", 1, &f), BK_EGONE);
	bk_fn fn;
	assert_int_equal(bk_lookup(c, "echo.echo", &fn), BK_EGONE);
	assert_int_equal(bk_dispatch(c), BK_EGONE);
	/* The futures the broker never completed are lost: every call says BK_EGONE (client.h). */
	assert_int_equal(bk_poll(a[0].f), BK_EGONE);
	assert_int_equal(bk_wait(a[0].f, 0), BK_EGONE);
	assert_int_equal(bk_result(a[0].f, NULL, NULL), BK_EGONE);
	for (int i = 0; i < 8; i++)
		bk_release(a[i].f);
	bk_disconnect(c);
	/* Reconnect to the same (restarted) server works. */
	dl = bk_now_ns() + 5 * SEC;
	while (atomic_load(&fb.connected) && bk_now_ns() < dl)
		sched_yield();
	bk_options o;
	bk_options_init(&o);
	o.zero_copy_size = 1u << 20;
	assert_int_equal(bk_connect(fb.path, &o, &c), 0);
	assert_int_equal(bk_submit(c, FAKE_FN_ECHO, "y", 1, &f), 0);
	assert_int_equal(bk_wait(f, 5 * SEC), 0);
	bk_release(f);
	bk_disconnect(c);
	fake_broker_stop(&fb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strerror),      cmocka_unit_test(test_no_socket),
		cmocka_unit_test(test_stream_socket), cmocka_unit_test(test_silent_peer),
		cmocka_unit_test(test_garbage_peer),  cmocka_unit_test(test_refused),
		cmocka_unit_test(test_echo_roundtrip),
		cmocka_unit_test(test_sleeper_sees_claimed_entry), cmocka_unit_test(test_spin_policy),
		cmocka_unit_test(test_full_pool),
		cmocka_unit_test(test_batch_and_buffers), cmocka_unit_test(test_fd_dispatch),
		cmocka_unit_test(test_threads),       cmocka_unit_test(test_broker_gone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
