// SPDX-License-Identifier: MIT
/*
 * test_client_e2e.c - libbkclient against a real brokerd started by the
 * harness: every built-in function byte for byte, several processes and
 * threads at once, a 16 MiB zero-copy payload through hash.sha256 (checked
 * against OpenSSL), bk_fd with epoll, bad input, and brokerd SIGKILLed
 * while 8 threads block in bk_wait (all BK_EGONE within 1 s, then reconnect
 * after a restart).  Arguments are passed to brokerd (the suite runs once
 * with futex wake-ups and once with --no-futex, the eventfd path).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "broker/client.h"
#include "child_wait.h"
#include "client_internal.h" /* to see that the waiters really sleep */
#include "harness.h"

#define SEC 1000000000LL

static struct bkt_brokerd B;
/* Extra brokerd flags from our command line, e.g. --no-futex (wake the broker by eventfd). */
static const char *const *extra_args;

static int setup(void **state)
{
	(void)state;
	int r = bk_test_broker_start(&B, extra_args);
	if (r < 0)
		fprintf(stderr, "brokerd did not start: %s\n", strerror(-r));
	return r < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	bk_test_broker_cleanup(&B);
	return 0;
}

static bk_client *conn(const bk_options *o)
{
	bk_client *c = NULL;
	char err[512];
	int r = bk_connect_error(B.socket, o, &c, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "bk_connect: %s (%s)\n", err, bk_strerror(r));
		bk_test_broker_dump_log(&B);
	}
	assert_int_equal(r, 0);
	return c;
}

static bk_fn fn(bk_client *c, const char *name)
{
	bk_fn f = 0;
	int r = bk_lookup(c, name, &f);
	if (r < 0)
		fprintf(stderr, "lookup %s: %s\n", name, bk_strerror(r));
	assert_int_equal(r, 0);
	return f;
}

/* Run one call; returns the status and copies the result into out (cap bytes). */
static int call(bk_client *c, bk_fn f, const void *arg, size_t len, void *out, size_t cap, size_t *outlen)
{
	bk_future *fu;
	int r = bk_submit_wait(c, f, arg, len, 10 * SEC, &fu);
	if (r < 0)
		return r;
	r = bk_wait(fu, 10 * SEC);
	if (r == 0) {
		const void *d;
		size_t n = 0;
		r = bk_result(fu, &d, &n);
		if (r == 0) {
			if (n > cap)
				r = -E2BIG;
			else if (n)
				memcpy(out, d, n);
			*outlen = n;
		}
	}
	bk_release(fu);
	return r;
}

static void test_builtins(void **state)
{
	(void)state;
	bk_client *c = conn(NULL);
	char out[512];
	size_t n = 99;
	/* echo.noop: empty result whatever the argument. */
	assert_int_equal(call(c, fn(c, "echo.noop"), "ignored", 7, out, sizeof(out), &n), 0);
	assert_int_equal(n, 0);
	/* echo.echo: byte for byte, NULs and high bytes included. */
	unsigned char bin[256];
	for (int i = 0; i < 256; i++)
		bin[i] = (unsigned char)(255 - i);
	assert_int_equal(call(c, fn(c, "echo.echo"), bin, sizeof(bin), out, sizeof(out), &n), 0);
	assert_int_equal(n, sizeof(bin));
	assert_memory_equal(out, bin, sizeof(bin));
	assert_int_equal(call(c, fn(c, "echo.echo"), "", 0, out, sizeof(out), &n), 0);
	assert_int_equal(n, 0);
	/* echo.upper */
	const char *mixed = "Hello, World! abc-XYZ 123";
	assert_int_equal(call(c, fn(c, "echo.upper"), mixed, strlen(mixed), out, sizeof(out), &n), 0);
	assert_int_equal(n, strlen(mixed));
	assert_memory_equal(out, "HELLO, WORLD! ABC-XYZ 123", n);
	/* timer.sleep 100: empty result after at least 100 ms. */
	int64_t t0 = bk_now_ns();
	assert_int_equal(call(c, fn(c, "timer.sleep"), "100", 3, out, sizeof(out), &n), 0);
	int64_t dt = bk_now_ns() - t0;
	assert_int_equal(n, 0);
	assert_true(dt >= 100000000LL);
	assert_true(dt < 5 * SEC);
	/* file.read "OFFSET LENGTH PATH" on a file we wrote. */
	char path[400], arg[500];
	snprintf(path, sizeof(path), "%s/data.bin", B.dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	unsigned char content[1000];
	for (int i = 0; i < 1000; i++)
		content[i] = (unsigned char)(i * 7 + 3);
	assert_int_equal(write(fd, content, sizeof(content)), (ssize_t)sizeof(content));
	close(fd);
	int an = snprintf(arg, sizeof(arg), "100 200 %s", path);
	assert_int_equal(call(c, fn(c, "file.read"), arg, (size_t)an, out, sizeof(out), &n), 0);
	assert_int_equal(n, 200);
	assert_memory_equal(out, content + 100, 200);
	an = snprintf(arg, sizeof(arg), "900 200 %s", path); /* short read at the end */
	assert_int_equal(call(c, fn(c, "file.read"), arg, (size_t)an, out, sizeof(out), &n), 0);
	assert_int_equal(n, 100);
	assert_memory_equal(out, content + 900, 100);
	an = snprintf(arg, sizeof(arg), "0 10 %s/does-not-exist", B.dir);
	assert_int_equal(call(c, fn(c, "file.read"), arg, (size_t)an, out, sizeof(out), &n), -ENOENT);
	unlink(path);
	/* hash.sha256 against OpenSSL. */
	unsigned char want[32];
	SHA256((const unsigned char *)"abc", 3, want);
	assert_int_equal(call(c, fn(c, "hash.sha256"), "abc", 3, out, sizeof(out), &n), 0);
	assert_int_equal(n, 32);
	assert_memory_equal(out, want, 32);
	bk_disconnect(c);
}

/* Mixed work from one thread, every result checked; returns the number of wrong results. */
static int mixed_work(bk_client *c, unsigned seed, int rounds)
{
	bk_fn echo = fn(c, "echo.echo"), upper = fn(c, "echo.upper"), sha = fn(c, "hash.sha256");
	int bad = 0;
	for (int i = 0; i < rounds; i++) {
		unsigned char arg[200], out[256], want[32];
		size_t len = (size_t)(rand_r(&seed) % 200), n = 0;
		for (size_t k = 0; k < len; k++)
			arg[k] = (unsigned char)rand_r(&seed);
		switch (i % 3) {
		case 0:
			bad += call(c, echo, arg, len, out, sizeof(out), &n) != 0 || n != len || memcmp(out, arg, len);
			break;
		case 1:
			for (size_t k = 0; k < len; k++)
				arg[k] = (unsigned char)('a' + arg[k] % 26);
			bad += call(c, upper, arg, len, out, sizeof(out), &n) != 0 || n != len;
			for (size_t k = 0; k < n && k < len; k++)
				bad += out[k] != arg[k] - 'a' + 'A';
			break;
		default:
			SHA256(arg, len, want);
			bad += call(c, sha, arg, len, out, sizeof(out), &n) != 0 || n != 32 || memcmp(out, want, 32);
		}
	}
	return bad;
}

struct thr {
	bk_client *c;
	unsigned seed;
	int bad;
};

static void *mixed_thread(void *p)
{
	struct thr *t = p;
	t->bad = mixed_work(t->c, t->seed, 300);
	return NULL;
}

static int threads_in_process(unsigned seed)
{
	bk_options o;
	bk_options_init(&o);
	o.max_inflight = 16; /* fewer slots than work: exercises bk_submit_wait */
	bk_client *c = NULL;
	if (bk_connect(B.socket, &o, &c) < 0)
		return 100;
	pthread_t t[4];
	struct thr a[4];
	int bad = 0;
	for (int i = 0; i < 4; i++) {
		a[i] = (struct thr){.c = c, .seed = seed * 10 + (unsigned)i};
		pthread_create(&t[i], NULL, mixed_thread, &a[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		bad += a[i].bad;
	}
	bk_disconnect(c);
	return bad;
}

static void test_processes_and_threads(void **state)
{
	(void)state;
	pid_t kids[3];
	for (int i = 0; i < 3; i++) {
		kids[i] = fork();
		assert_true(kids[i] >= 0);
		if (kids[i] == 0)
			_exit(threads_in_process((unsigned)i + 1) ? 1 : 0);
	}
	int bad = threads_in_process(99);
	int64_t deadline = bk_now_ns() + 60 * SEC;
	for (int i = 0; i < 3; i++) {
		int st = -1;
		if (bkt_child_wait(kids[i], deadline, &st, true) < 0)
			fail_msg("child %d did not finish within 60 s (killed)", i);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	assert_int_equal(bad, 0);
}

static void test_zero_copy_16mib(void **state)
{
	(void)state;
	bk_options o;
	bk_options_init(&o);
	o.zero_copy_size = 32u << 20;
	bk_client *c = conn(&o);
	size_t n = 16u << 20;
	unsigned char *buf = bk_buf_alloc(c, n);
	assert_non_null(buf);
	unsigned seed = 12345;
	for (size_t i = 0; i < n; i++)
		buf[i] = (unsigned char)rand_r(&seed);
	unsigned char want[32];
	SHA256(buf, n, want);
	bk_future *f;
	assert_int_equal(bk_submit(c, fn(c, "hash.sha256"), buf, n, &f), 0);
	assert_int_equal(bk_wait(f, 30 * SEC), 0);
	const void *d;
	size_t len;
	assert_int_equal(bk_result(f, &d, &len), 0);
	assert_int_equal(len, 32);
	assert_memory_equal(d, want, 32);
	bk_release(f);
	/* A zero-copy result buffer too: echo 1 MiB from one buffer into another. */
	size_t m = 1u << 20;
	unsigned char *res = bk_buf_alloc(c, m);
	assert_non_null(res);
	bk_call k = {.fn = fn(c, "echo.echo"), .arg = buf, .len = m, .result = res, .result_cap = m};
	assert_int_equal(bk_submit_batch(c, &k, 1, &f), 1);
	assert_int_equal(bk_wait(f, 30 * SEC), 0);
	assert_int_equal(bk_result(f, &d, &len), 0);
	assert_ptr_equal(d, res);
	assert_int_equal(len, m);
	assert_memory_equal(res, buf, m);
	bk_release(f);
	bk_buf_free(c, res);
	bk_buf_free(c, buf);
	bk_disconnect(c);
}

struct ep {
	bk_client *c;
	bk_fn echo;
	int total, submitted, done, bad, inflight;
};

static void ep_cb(bk_future *f, void *ud)
{
	struct ep *e = ud;
	const void *d;
	size_t len;
	int k = -1;
	if (bk_result(f, &d, &len) == 0 && len == sizeof(int))
		memcpy(&k, d, sizeof(int));
	e->bad += k < 0 || k >= e->total;
	e->done++;
	e->inflight--;
	bk_release(f);
}

static void test_epoll(void **state)
{
	(void)state;
	bk_client *c = conn(NULL);
	struct ep e = {.c = c, .echo = fn(c, "echo.echo"), .total = 20000};
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN};
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, bk_fd(c), &ev), 0);
	int64_t deadline = bk_now_ns() + 60 * SEC;
	while (e.done < e.total && bk_now_ns() < deadline) {
		while (e.submitted < e.total && e.inflight < 1000) {
			bk_future *f;
			int k = e.submitted;
			int r = bk_submit(c, e.echo, &k, sizeof(k), &f);
			if (r == -EAGAIN)
				break;
			assert_int_equal(r, 0);
			assert_int_equal(bk_on_complete(f, ep_cb, &e), 0);
			e.submitted++;
			e.inflight++;
		}
		struct epoll_event out;
		int n = epoll_wait(ep, &out, 1, 5000);
		assert_true(n == 1);
		assert_true(bk_dispatch(c) >= 0);
	}
	assert_int_equal(e.done, e.total);
	assert_int_equal(e.bad, 0);
	close(ep);
	bk_disconnect(c);
}

static void test_bad_input(void **state)
{
	(void)state;
	bk_client *c = conn(NULL);
	bk_fn f = 12345;
	assert_int_equal(bk_lookup(c, "no.such_function", &f), -ENOENT);
	assert_int_equal(bk_lookup(c, "nodot", &f), -ENOENT);
	assert_int_equal(f, 12345);
	char big[4096];
	memset(big, 'a', sizeof(big));
	bk_future *fu;
	assert_int_equal(bk_submit(c, fn(c, "echo.echo"), big, sizeof(big), &fu), -EMSGSIZE);
	/* An id the broker never gave out completes with an error, not a crash. */
	assert_int_equal(bk_submit(c, 0xfffffff0u, "x", 1, &fu), 0);
	assert_int_equal(bk_wait(fu, 10 * SEC), 0);
	assert_true(bk_result(fu, NULL, NULL) < 0);
	bk_release(fu);
	/* Use after release. */
	assert_int_equal(bk_submit(c, fn(c, "echo.noop"), NULL, 0, &fu), 0);
	assert_int_equal(bk_wait(fu, 10 * SEC), 0);
	bk_release(fu);
	assert_int_equal(bk_poll(fu), BK_ESTALE);
	assert_int_equal(bk_wait(fu, 0), BK_ESTALE);
	assert_int_equal(bk_result(fu, NULL, NULL), BK_ESTALE);
	assert_int_equal(bk_on_complete(fu, ep_cb, NULL), BK_ESTALE);
	/* Releasing a pending sleep cancels it; cancel completes it with -ECANCELED promptly. */
	bk_fn sleep_fn = fn(c, "timer.sleep");
	assert_int_equal(bk_submit(c, sleep_fn, "10000", 5, &fu), 0);
	bk_release(fu);
	assert_int_equal(bk_submit(c, sleep_fn, "10000", 5, &fu), 0);
	int64_t t0 = bk_now_ns();
	assert_int_equal(bk_cancel(fu), 0);
	assert_int_equal(bk_wait(fu, 5 * SEC), 0);
	assert_int_equal(bk_result(fu, NULL, NULL), -ECANCELED);
	assert_true(bk_now_ns() - t0 < 2 * SEC);
	bk_release(fu);
	bk_disconnect(c);
	/* Wrong socket path. */
	char path[400];
	snprintf(path, sizeof(path), "%s/wrong.sock", B.dir);
	assert_int_equal(bk_connect(path, NULL, &c), -ENOENT);
}

struct waiter {
	bk_future *f;
	_Atomic int r;
	int64_t end;
};

static void *wait_thread(void *p)
{
	struct waiter *w = p;
	w->r = bk_wait(w->f, 30 * SEC);
	w->end = bk_now_ns();
	return NULL;
}

static void test_broker_killed(void **state)
{
	(void)state;
	bk_client *c = conn(NULL);
	bk_fn sleep_fn = fn(c, "timer.sleep");
	struct waiter w[8];
	pthread_t t[8];
	for (int i = 0; i < 8; i++) {
		w[i].f = NULL;
		atomic_init(&w[i].r, 1);
		w[i].end = 0;
		assert_int_equal(bk_submit(c, sleep_fn, "20000", 5, &w[i].f), 0);
		assert_int_equal(pthread_create(&t[i], NULL, wait_thread, &w[i]), 0);
	}
	/* Bounded wait until all 8 are asleep in the futex (each counts itself in the CQ's need_wakeup). */
	int64_t dl = bk_now_ns() + 10 * SEC;
	while (atomic_load(&c->v.cq_ctl->need_wakeup) < 8 && bk_now_ns() < dl)
		sched_yield();
	assert_int_equal(atomic_load(&c->v.cq_ctl->need_wakeup), 8);
	for (int i = 0; i < 8; i++)
		assert_int_equal(atomic_load(&w[i].r), 1);
	int64_t kill_at = bk_now_ns();
	bk_test_broker_kill(&B);
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(atomic_load(&w[i].r), BK_EGONE);
		if (w[i].end - kill_at >= SEC)
			fail_msg("waiter %d took %lld ms to see the broker gone", i, (long long)((w[i].end - kill_at) / 1000000));
	}
	/* Every later call fails fast. */
	bk_future *f;
	int64_t t0 = bk_now_ns();
	assert_int_equal(bk_submit(c, sleep_fn, "1", 1, &f), BK_EGONE);
	assert_int_equal(bk_lookup(c, "echo.echo", &sleep_fn), BK_EGONE);
	assert_int_equal(bk_wait(w[0].f, 10 * SEC), BK_EGONE);
	assert_true(bk_now_ns() - t0 < SEC / 10);
	for (int i = 0; i < 8; i++)
		bk_release(w[i].f);
	bk_disconnect(c);
	/* A new brokerd on the same socket: connect works again. */
	assert_int_equal(bk_test_broker_restart(&B, extra_args), 0);
	c = conn(NULL);
	char out[16];
	size_t n;
	assert_int_equal(call(c, fn(c, "echo.echo"), "again", 5, out, sizeof(out), &n), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(out, "again", 5);
	bk_disconnect(c);
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc > 1)
		extra_args = (const char *const *)argv + 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builtins),        cmocka_unit_test(test_processes_and_threads),
		cmocka_unit_test(test_zero_copy_16mib), cmocka_unit_test(test_epoll),
		cmocka_unit_test(test_bad_input),       cmocka_unit_test(test_broker_killed),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
