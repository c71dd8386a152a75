// SPDX-License-Identifier: MIT
/*
 * test_attack_pool.c - the offload pool alone (broker/offload.h, no
 * brokerd): a connection whose items block every thread it may use does
 * not keep another connection's item from running, its quota refuses the
 * 65th item, cancelled items are dropped without running, and stopping the
 * pool drops what is queued.  docs/ARCHITECTURE.md, "Offload: one queue
 * per connection".  Every wait is bounded.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "broker/sys.h"
#include "offload.h"

#define NTHREADS 2u
#define WAIT_NS (10LL * 1000000000LL)

struct item {
	struct bkd_work w;
	_Atomic int cancelled;
	atomic_bool ran, done, dropped;
};

static atomic_bool release; /* blocking items return once set */
static atomic_uint running;

static void blocking_work(struct bkd_work *w)
{
	struct item *it = (struct item *)w;
	atomic_fetch_add(&running, 1);
	int64_t deadline = bk_now_ns() + WAIT_NS;
	while (!atomic_load(&release) && bk_now_ns() < deadline) {
		struct timespec ts = { 0, 100000 };
		nanosleep(&ts, NULL);
	}
	atomic_store(&it->ran, true);
	atomic_fetch_sub(&running, 1);
}

static void quick_work(struct bkd_work *w)
{
	atomic_store(&((struct item *)w)->ran, true);
}

static void done(struct bkd_work *w)
{
	struct item *it = (struct item *)w;
	atomic_store(&it->dropped, w->dropped);
	atomic_store(&it->done, true);
}

static void prep(struct item *it, const void *key, void (*work)(struct bkd_work *))
{
	*it = (struct item){ .w = { .work = work, .done = done, .key = key } };
	it->w.cancelled = &it->cancelled;
}

/* Wait (bounded) until pred holds. */
#define WAIT_FOR(pred)                                                                                \
	do {                                                                                          \
		int64_t dl_ = bk_now_ns() + WAIT_NS;                                                  \
		while (!(pred)) {                                                                     \
			if (bk_now_ns() > dl_)                                                        \
				fail_msg("not within 10 s: %s", #pred);                               \
			struct timespec ts_ = { 0, 100000 };                                          \
			nanosleep(&ts_, NULL);                                                        \
		}                                                                                     \
	} while (0)

static struct item a_items[BKD_OFFLOAD_PER_KEY + 1], b_item;
static char key_a, key_b;

static void test_fair_share_quota_cancel(void **state)
{
	(void)state;
	atomic_store(&release, false);
	struct bkd_offload *p = NULL;
	assert_int_equal(bkd_offload_create(NTHREADS, 4096, &p), 0);
	for (unsigned i = 0; i < BKD_OFFLOAD_PER_KEY; i++) {
		prep(&a_items[i], &key_a, blocking_work);
		assert_int_equal(bkd_offload_submit(p, &a_items[i].w), 0);
	}
	/* The quota: the 65th of one connection is refused. */
	prep(&a_items[BKD_OFFLOAD_PER_KEY], &key_a, blocking_work);
	assert_int_equal(bkd_offload_submit(p, &a_items[BKD_OFFLOAD_PER_KEY].w), -EAGAIN);
	/* A holds one thread at most (all but one): B's item runs while A's first still blocks. */
	WAIT_FOR(atomic_load(&running) == 1);
	prep(&b_item, &key_b, quick_work);
	assert_int_equal(bkd_offload_submit(p, &b_item.w), 0);
	WAIT_FOR(atomic_load(&b_item.done));
	assert_true(atomic_load(&b_item.ran));
	assert_int_equal(atomic_load(&running), 1);
	/* Cancel A's queued items: once its running one returns, they are dropped without running. */
	for (unsigned i = 1; i < BKD_OFFLOAD_PER_KEY; i++)
		atomic_store(&a_items[i].cancelled, 1);
	atomic_store(&release, true);
	for (unsigned i = 0; i < BKD_OFFLOAD_PER_KEY; i++)
		WAIT_FOR(atomic_load(&a_items[i].done));
	assert_true(atomic_load(&a_items[0].ran));
	assert_false(atomic_load(&a_items[0].dropped));
	for (unsigned i = 1; i < BKD_OFFLOAD_PER_KEY; i++) {
		assert_false(atomic_load(&a_items[i].ran));
		assert_true(atomic_load(&a_items[i].dropped));
	}
	/* A's queue is gone with its items: it may submit a full quota again. */
	prep(&a_items[0], &key_a, quick_work);
	assert_int_equal(bkd_offload_submit(p, &a_items[0].w), 0);
	WAIT_FOR(atomic_load(&a_items[0].done));
	bkd_offload_destroy(p);
}

static struct item probes[4096];

static void *destroyer(void *arg)
{
	bkd_offload_destroy(arg);
	return NULL;
}

/* Stopping drops what is queued: done() for every item, work() only for the one already running. */
static void test_stop_drops_queued(void **state)
{
	(void)state;
	atomic_store(&release, false);
	struct bkd_offload *p = NULL;
	assert_int_equal(bkd_offload_create(NTHREADS, 8192, &p), 0);
	for (unsigned i = 0; i < 16; i++) {
		prep(&a_items[i], &key_a, blocking_work);
		assert_int_equal(bkd_offload_submit(p, &a_items[i].w), 0);
	}
	WAIT_FOR(atomic_load(&running) == 1);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, destroyer, p), 0);
	/* The pool refuses new items once it is stopping: only then may A's running item return. */
	unsigned n = 0;
	int r;
	while (n < sizeof(probes) / sizeof(probes[0])) {
		prep(&probes[n], &key_b, quick_work);
		if ((r = bkd_offload_submit(p, &probes[n].w)) != 0)
			break;
		n++;
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL); /* pacing only: the loop ends on -ESHUTDOWN, or fails below */
	}
	assert_int_equal(r, -ESHUTDOWN);
	atomic_store(&release, true);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(atomic_load(&a_items[0].ran));
	for (unsigned i = 1; i < 16; i++) {
		assert_true(atomic_load(&a_items[i].done));
		assert_false(atomic_load(&a_items[i].ran));
		assert_true(atomic_load(&a_items[i].dropped));
	}
	for (unsigned i = 0; i < n; i++)
		assert_true(atomic_load(&probes[i].done));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fair_share_quota_cancel),
		cmocka_unit_test(test_stop_drops_queued),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
