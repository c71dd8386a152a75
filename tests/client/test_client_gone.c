// SPDX-License-Identifier: MIT
/*
 * test_client_gone.c - what futures say after their brokerd is SIGKILLed,
 * checked against the "How a future ends" contract in client.h: futures the
 * broker completed before the death (waited for, or only written to the
 * region and never looked at) keep their status and result bytes; pending
 * ones are lost, and bk_wait, bk_poll and bk_result all say BK_EGONE for
 * them; a callback runs exactly once for either ending and reads the same
 * answers; a future released while pending runs no callback.  Each case lets
 * the library notice the death through a different call (bk_wait, a loop of
 * short bk_waits, bk_dispatch, a bk_poll loop, bk_lookup), because each of
 * those paths ends the pending futures.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "broker/client.h"
#include "client_internal.h" /* to see a completion in the slot before the library does */
#include "harness.h"

#define SEC 1000000000LL
#define NPENDING 4

enum notice { BY_WAIT, BY_SHORT_WAITS, BY_DISPATCH, BY_POLL, BY_LOOKUP };

/* What a completion callback saw. */
struct cbrec {
	int calls;
	bk_future *f;
	int status, poll;
	size_t len;
	char bytes[32];
};

struct scene {
	bk_client *c;
	bk_fn echo_fn;
	bk_future *echo, *unseen, *bad, *cancelled, *cb_done; /* completed before the kill */
	bk_future *pending[NPENDING], *cb_pending;            /* timer.sleep 10000: pending at the kill */
	struct cbrec on_done, on_pending, on_orphan, on_late;
};

static struct bkt_brokerd B;

static int setup(void **state)
{
	(void)state;
	int r = bk_test_broker_start(&B, NULL);
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

static void on_end(bk_future *f, void *ud)
{
	struct cbrec *r = ud;
	const void *d = NULL;
	size_t n = 99;
	r->calls++;
	r->f = f;
	r->status = bk_result(f, &d, &n);
	r->len = n;
	if (r->status == 0 && n <= sizeof(r->bytes))
		memcpy(r->bytes, d, n);
	r->poll = bk_poll(f);
}

static bk_fn lookup(bk_client *c, const char *name)
{
	bk_fn f = 0;
	int r = bk_lookup(c, name, &f);
	if (r < 0)
		fail_msg("bk_lookup %s: %s", name, bk_strerror(r));
	return f;
}

static bk_future *submit(bk_client *c, bk_fn fn, const char *arg)
{
	bk_future *f = NULL;
	int r = bk_submit(c, fn, arg, strlen(arg), &f);
	if (r < 0)
		fail_msg("bk_submit(%s): %s", arg, bk_strerror(r));
	return f;
}

/* Bounded: until the broker has written f's completion into its slot (the library is not asked). */
static void wait_slot_done(bk_future *f)
{
	struct bk_slot *s = &f->c->v.slots[f->slot];
	int64_t dl = bk_now_ns() + 10 * SEC;
	while (atomic_load_explicit(&s->done_gen, memory_order_acquire) != f->gen && bk_now_ns() < dl)
		sched_yield();
	assert_int_equal(atomic_load_explicit(&s->done_gen, memory_order_acquire), f->gen);
}

/* Completed futures of every kind, pending ones, callbacks on both, and one released while pending. */
static void build(struct scene *s)
{
	memset(s, 0, sizeof(*s));
	int r = bk_connect(B.socket, NULL, &s->c);
	if (r < 0)
		fail_msg("bk_connect: %s", bk_strerror(r));
	bk_fn echo = s->echo_fn = lookup(s->c, "echo.echo"), upper = lookup(s->c, "echo.upper");
	bk_fn sleep_fn = lookup(s->c, "timer.sleep");
	assert_true(bk_fd(s->c) >= 0); /* so bk_dispatch has a loop to serve */

	s->echo = submit(s->c, echo, "hello");
	s->bad = submit(s->c, sleep_fn, "soon"); /* not digits: -EINVAL */
	s->cancelled = submit(s->c, sleep_fn, "10000");
	assert_int_equal(bk_cancel(s->cancelled), 0);
	s->cb_done = submit(s->c, echo, "cb-done");
	assert_int_equal(bk_on_complete(s->cb_done, on_end, &s->on_done), 0);
	for (int i = 0; i < NPENDING; i++)
		s->pending[i] = submit(s->c, sleep_fn, "10000");
	s->cb_pending = submit(s->c, sleep_fn, "10000");
	assert_int_equal(bk_on_complete(s->cb_pending, on_end, &s->on_pending), 0);
	bk_future *orphan = submit(s->c, sleep_fn, "10000");
	assert_int_equal(bk_on_complete(orphan, on_end, &s->on_orphan), 0);
	bk_release(orphan);

	assert_int_equal(bk_wait(s->echo, 10 * SEC), 0);
	assert_int_equal(bk_wait(s->bad, 10 * SEC), 0);
	assert_int_equal(bk_wait(s->cancelled, 10 * SEC), 0);
	assert_int_equal(bk_wait(s->cb_done, 10 * SEC), 0); /* its callback stays queued: nobody dispatched */
	assert_int_equal(s->on_done.calls, 0);
	/* Last, and not waited for: the broker completes it, the library has not looked when the broker dies. */
	s->unseen = submit(s->c, upper, "upper me");
	wait_slot_done(s->unseen);
	for (int i = 0; i < NPENDING; i++)
		assert_int_equal(bk_poll(s->pending[i]), 0);
}

/* Bounded: dispatch until rec's callback ran; bk_dispatch must say BK_EGONE every time. */
static void dispatch_until(bk_client *c, const struct cbrec *rec)
{
	int64_t dl = bk_now_ns() + 10 * SEC;
	while (rec->calls == 0 && bk_now_ns() < dl) {
		assert_int_equal(bk_dispatch(c), BK_EGONE);
		struct pollfd p = { .fd = bk_fd(c), .events = POLLIN };
		assert_true(poll(&p, 1, 100) >= 0);
	}
	assert_int_equal(rec->calls, 1);
}

/* Let the library learn of the death the given way, bounded. */
static void notice(struct scene *s, enum notice how)
{
	int64_t t0 = bk_now_ns(), dl = t0 + 10 * SEC;
	int r = 0;
	bk_fn fn;
	switch (how) {
	case BY_WAIT:
		assert_int_equal(bk_wait(s->pending[0], 10 * SEC), BK_EGONE);
		/* client.h: a sleeping bk_wait notices within a second. */
		if (bk_now_ns() - t0 >= SEC)
			fail_msg("bk_wait took %lld ms to see the broker gone",
				 (long long)((bk_now_ns() - t0) / 1000000));
		break;
	case BY_SHORT_WAITS:
		/* Waits shorter than a slice: the socket is still polled, once a slice (wait_many.c). */
		while ((r = bk_wait(s->pending[0], 5000000LL)) == -ETIMEDOUT && bk_now_ns() < dl)
			;
		assert_int_equal(r, BK_EGONE);
		if (bk_now_ns() - t0 >= SEC)
			fail_msg("5 ms waits took %lld ms to see the broker gone",
				 (long long)((bk_now_ns() - t0) / 1000000));
		break;
	case BY_DISPATCH:
		while ((r = bk_dispatch(s->c)) >= 0 && bk_now_ns() < dl) {
			struct pollfd p = { .fd = bk_fd(s->c), .events = POLLIN };
			assert_true(poll(&p, 1, 100) >= 0);
		}
		assert_int_equal(r, BK_EGONE);
		break;
	case BY_POLL:
		while ((r = bk_poll(s->pending[0])) == 0 && bk_now_ns() < dl)
			sched_yield();
		assert_int_equal(r, BK_EGONE);
		break;
	case BY_LOOKUP:
		assert_int_equal(bk_lookup(s->c, "echo.echo", &fn), BK_EGONE);
		break;
	}
}

static void check_lost(bk_future *f)
{
	const void *d;
	size_t n = 99;
	/* bk_result first: after BY_LOOKUP nobody has touched f since the death. */
	assert_int_equal(bk_result(f, &d, &n), BK_EGONE);
	assert_int_equal(n, 0);
	assert_int_equal(bk_poll(f), BK_EGONE);
	assert_int_equal(bk_wait(f, 0), BK_EGONE);
	assert_int_equal(bk_wait(f, 10 * SEC), BK_EGONE); /* at once; a hang would end in -ETIMEDOUT */
}

static void check_completed(bk_future *f, int status, const char *bytes)
{
	const void *d = NULL;
	size_t n = 99;
	assert_int_equal(bk_wait(f, 0), 0);
	assert_int_equal(bk_poll(f), 1);
	assert_int_equal(bk_result(f, &d, &n), status);
	assert_int_equal(n, strlen(bytes));
	if (n)
		assert_memory_equal(d, bytes, n);
	assert_int_equal(bk_cancel(f), 0); /* client.h: 0 for a future already done, broker or no broker */
}

static void run_case(enum notice how)
{
	struct scene s;
	build(&s);
	bk_test_broker_kill(&B);
	notice(&s, how);

	for (int i = 0; i < NPENDING; i++)
		check_lost(s.pending[i]);
	check_completed(s.echo, 0, "hello");
	check_completed(s.unseen, 0, "UPPER ME");
	check_completed(s.bad, -EINVAL, "");
	check_completed(s.cancelled, -ECANCELED, "");

	/* Callbacks: once each, the completed one with its result, the lost one with BK_EGONE. */
	dispatch_until(s.c, &s.on_done);
	dispatch_until(s.c, &s.on_pending);
	assert_ptr_equal(s.on_done.f, s.cb_done);
	assert_int_equal(s.on_done.status, 0);
	assert_int_equal(s.on_done.poll, 1);
	assert_int_equal(s.on_done.len, 7);
	assert_memory_equal(s.on_done.bytes, "cb-done", 7);
	assert_ptr_equal(s.on_pending.f, s.cb_pending);
	assert_int_equal(s.on_pending.status, BK_EGONE);
	assert_int_equal(s.on_pending.poll, BK_EGONE);
	assert_int_equal(s.on_pending.len, 0);
	check_lost(s.cb_pending);
	/* A callback set on a lost future runs too, with the same answer. */
	assert_int_equal(bk_on_complete(s.pending[1], on_end, &s.on_late), 0);
	dispatch_until(s.c, &s.on_late);
	assert_int_equal(s.on_late.status, BK_EGONE);
	assert_int_equal(s.on_late.poll, BK_EGONE);
	/* Exactly once, and never for the future released while pending. */
	assert_int_equal(bk_dispatch(s.c), BK_EGONE);
	assert_int_equal(s.on_done.calls, 1);
	assert_int_equal(s.on_pending.calls, 1);
	assert_int_equal(s.on_late.calls, 1);
	assert_int_equal(s.on_orphan.calls, 0);

	bk_future *f;
	assert_int_equal(bk_submit(s.c, s.echo_fn, "x", 1, &f), BK_EGONE);
	bk_future *all[] = { s.echo, s.unseen, s.bad, s.cancelled, s.cb_done, s.cb_pending };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		bk_release(all[i]);
	for (int i = 0; i < NPENDING; i++)
		bk_release(s.pending[i]);
	bk_disconnect(s.c);
}

static void test_noticed_by_wait(void **state)
{
	(void)state;
	run_case(BY_WAIT);
}

static void test_noticed_by_short_waits(void **state)
{
	(void)state;
	run_case(BY_SHORT_WAITS);
}

static void test_noticed_by_dispatch(void **state)
{
	(void)state;
	run_case(BY_DISPATCH);
}

static void test_noticed_by_poll(void **state)
{
	(void)state;
	run_case(BY_POLL);
}

static void test_noticed_by_lookup(void **state)
{
	(void)state;
	run_case(BY_LOOKUP);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_noticed_by_wait, setup, teardown),
		cmocka_unit_test_setup_teardown(test_noticed_by_short_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_noticed_by_dispatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_noticed_by_poll, setup, teardown),
		cmocka_unit_test_setup_teardown(test_noticed_by_lookup, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
