// SPDX-License-Identifier: MIT
/*
 * test_concurrent.c - the registry's lock-free hot path under load: worker
 * threads acquire, run and release tasks while the control thread upgrades
 * the module back and forth and finally unloads it.  No acquire may fail
 * during upgrades (an upgrade never leaves a name unserved), every module
 * version is finalised exactly once, and only after its last task.  Runs
 * under ThreadSanitizer too (suite 'tsan').  Bounded: fixed iteration
 * counts, and every wait on the workers has a deadline that fails the test.
 * Each scenario runs twice: with bkd_registry_acquire/release per task, and
 * through a worker's per-turn reference cache (registry_refs.h), whose
 * turns hold some references over into the next turn.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "broker/loader.h"
#include "broker/registry_refs.h"
#include "broker/sys.h"
#include "test_host.h"
#include "testmod.h"

#define NTHREADS 3
#define TURN_MAX 8 /* tasks a batched worker takes per turn */
#define MAX_UPGRADES 400
/* A bound that fails the test only when workers are stuck: TSan on a loaded 2-core machine is slow. */
#define DEADLINE_NS (90ll * 1000000000ll)

/* Calls per thread: 20000, fewer under sanitizers (BK_CONCURRENT_ITERATIONS, tests/modules/meson.build). */
static int iterations = 20000;

struct shared {
	struct bkd_registry *r;
	uint32_t fn;
	atomic_int stop;
	atomic_int notified;
	atomic_long ok, enoent, bad_result;
	atomic_long done_threads;
	bool batched; /* workers go through bkd_refs */
};

static void on_notify(void *arg)
{
	struct shared *s = arg;

	atomic_fetch_add_explicit(&s->notified, 1, memory_order_relaxed);
}

/* Run one acquired task and count its result; returns its status. */
static int run_task(struct shared *s, const struct bkd_fn_ref *ref)
{
	struct bk_task t;
	char out[4];

	th_task_init(&t, "", 0, out, sizeof(out));
	int rc = ref->handler(&t, &th_host, ref->state);
	if (rc != BK_TASK_DONE || t.completions != 1 || t.status != 0 || t.len != 1 ||
	    (out[0] != '1' && out[0] != '2') || out[0] != '0' + ((struct tm_state *)ref->state)->version)
		atomic_fetch_add_explicit(&s->bad_result, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&s->ok, 1, memory_order_relaxed);
	return t.status;
}

static void worker_plain(struct shared *s)
{
	for (int i = 0; i < iterations && !atomic_load_explicit(&s->stop, memory_order_relaxed); i++) {
		struct bkd_fn_ref ref;
		if (bkd_registry_acquire(s->r, s->fn, &ref) == -ENOENT) {
			atomic_fetch_add_explicit(&s->enoent, 1, memory_order_relaxed);
			continue;
		}
		bkd_registry_release(s->r, &ref, run_task(s, &ref));
	}
}

/*
 * A held task's module code, run again a turn later, as a pending task's
 * callback would: its version must still be loaded (not finalised, its
 * state not freed, which ASan would see; its code not unmapped).
 */
static void run_held(struct shared *s, const struct bkd_fn_ref *ref)
{
	struct bk_task t;
	char out[4];

	th_task_init(&t, "", 0, out, sizeof(out));
	int rc = ref->handler(&t, &th_host, ref->state);
	if (rc != BK_TASK_DONE || t.status != 0 || out[0] != '0' + ((struct tm_state *)ref->state)->version)
		atomic_fetch_add_explicit(&s->bad_result, 1, memory_order_relaxed);
}

/*
 * Turns of 1 to TURN_MAX tasks, as a brokerd worker takes them: the last
 * task of a turn stays "pending" over the flush and is run again and
 * released in the next turn, after that turn's own acquires, so a flush
 * also applies net decrements.
 */
static void worker_batched(struct shared *s)
{
	struct bkd_refs rc;
	struct bkd_fn_ref held;
	int held_status = 0;
	bool holding = false;

	bkd_refs_init(&rc, s->r);
	for (int i = 0, turn = 0; i < iterations && !atomic_load_explicit(&s->stop, memory_order_relaxed); turn++) {
		int n = 1 + turn % TURN_MAX;
		struct bkd_fn_ref last;
		int last_status = 0;
		bool have_last = false;
		for (int k = 0; k < n && i < iterations; k++, i++) {
			struct bkd_fn_ref ref;
			if (bkd_refs_acquire(&rc, s->fn, &ref) == -ENOENT) {
				atomic_fetch_add_explicit(&s->enoent, 1, memory_order_relaxed);
				continue;
			}
			int st = run_task(s, &ref);
			if (have_last)
				bkd_refs_release(&rc, &last, last_status);
			last = ref;
			last_status = st;
			have_last = true;
		}
		if (holding) {
			run_held(s, &held);
			bkd_refs_release(&rc, &held, held_status);
		}
		holding = have_last;
		held = last;
		held_status = last_status;
		bkd_refs_flush(&rc);
	}
	if (holding)
		bkd_refs_release(&rc, &held, held_status);
	bkd_refs_flush(&rc);
}

static void *worker(void *arg)
{
	struct shared *s = arg;

	if (s->batched)
		worker_batched(s);
	else
		worker_plain(s);
	atomic_fetch_add_explicit(&s->done_threads, 1, memory_order_release);
	return NULL;
}

/* Load path and point its state's fini counter at *fini (the control thread owns fini). */
static void load_counted(struct shared *s, const char *path, int *fini)
{
	char err[512];
	struct bkd_fn_ref ref;

	if (bkd_loader_load(s->r, path, err, sizeof(err)) != 0)
		fail_msg("load %s: %s", path, err);
	/* The new version serves the id now; a task of ours reaches its state. */
	assert_int_equal(bkd_registry_acquire(s->r, s->fn, &ref), 0);
	((struct tm_state *)ref.state)->fini_counter = fini;
	bkd_registry_release(s->r, &ref, 0);
}

static void upgrade_under_load(bool batched)
{
	static struct shared s;
	static int fini[MAX_UPGRADES + 2];
	pthread_t th[NTHREADS];
	char v1[512], v2[512];
	int loads = 0, collected = 0, upgrades;
	int64_t deadline;
	struct bk_wire_module w[4];
	uint32_t total = 0;

	memset(&s, 0, sizeof(s));
	s.batched = batched;
	memset(fini, 0, sizeof(fini));
	snprintf(v1, sizeof(v1), "%s/upgrade_v1.so", BK_TEST_MODULE_DIR);
	snprintf(v2, sizeof(v2), "%s/upgrade_v2.so", BK_TEST_MODULE_DIR);
	assert_int_equal(bkd_registry_create(&th_host, on_notify, &s, &s.r), 0);
	{
		char err[512];

		if (bkd_loader_load(s.r, v1, err, sizeof(err)) != 0)
			fail_msg("%s", err);
	}
	assert_int_equal(bkd_registry_lookup(s.r, "upgrade.version", &s.fn), 0);
	load_counted(&s, v2, &fini[loads++]); /* from here on every version has a counter */

	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, worker, &s), 0);

	deadline = bk_now_ns() + DEADLINE_NS;
	for (upgrades = 0; upgrades < MAX_UPGRADES; upgrades++) {
		if (atomic_load_explicit(&s.done_threads, memory_order_acquire) == NTHREADS)
			break;
		if (bk_now_ns() > deadline) {
			atomic_store(&s.stop, 1);
			break;
		}
		load_counted(&s, (upgrades % 2) ? v2 : v1, &fini[loads++]);
		collected += bkd_registry_collect(s.r);
	}
	/* Bounded wait for the workers to finish their fixed iteration counts. */
	while (atomic_load_explicit(&s.done_threads, memory_order_acquire) < NTHREADS) {
		if (bk_now_ns() > deadline) {
			atomic_store(&s.stop, 1);
			fail_msg("workers did not finish within %lld s", DEADLINE_NS / 1000000000ll);
		}
		collected += bkd_registry_collect(s.r);
		sched_yield();
	}
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	collected += bkd_registry_collect(s.r);

	fprintf(stderr, "# %d upgrades under load, %ld tasks, %d notifications\n", upgrades,
		atomic_load(&s.ok), atomic_load(&s.notified));
	assert_int_equal(atomic_load(&s.stop), 0);
	assert_int_equal(atomic_load(&s.enoent), 0);
	assert_int_equal(atomic_load(&s.bad_result), 0);
	assert_int_equal(atomic_load(&s.ok), (long)NTHREADS * iterations);
	assert_true(upgrades > 0);
	/* Every version but the newest is finalised once (plus the first, uncounted v1). */
	assert_int_equal(collected, loads);
	for (int i = 0; i < loads - 1; i++)
		assert_int_equal(fini[i], 1);
	assert_int_equal(fini[loads - 1], 0);
	assert_int_equal(bkd_registry_list(s.r, w, 0, 4, &total), 1);
	assert_int_equal(w[0].state, BK_MODSTATE_ACTIVE);
	assert_int_equal(w[0].inflight, 0);

	bkd_registry_destroy(s.r);
	assert_int_equal(fini[loads - 1], 1);
}

static void unload_under_load(bool batched)
{
	static struct shared s;
	pthread_t th[NTHREADS];
	char path[512], err[512];
	int fini = 0, collected = 0;
	int64_t deadline;
	long ok_at_unload;
	uint32_t total = 0;
	struct bk_wire_module w[2];

	memset(&s, 0, sizeof(s));
	s.batched = batched;
	snprintf(path, sizeof(path), "%s/upgrade_v1.so", BK_TEST_MODULE_DIR);
	assert_int_equal(bkd_registry_create(&th_host, on_notify, &s, &s.r), 0);
	if (bkd_loader_load(s.r, path, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(bkd_registry_lookup(s.r, "upgrade.version", &s.fn), 0);
	{
		struct bkd_fn_ref ref;

		assert_int_equal(bkd_registry_acquire(s.r, s.fn, &ref), 0);
		((struct tm_state *)ref.state)->fini_counter = &fini;
		bkd_registry_release(s.r, &ref, 0);
	}
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, worker, &s), 0);

	/* Unload once the workers are busy (bounded wait for that). */
	deadline = bk_now_ns() + DEADLINE_NS;
	while (atomic_load(&s.ok) < 1000 && atomic_load(&s.done_threads) == 0) {
		if (bk_now_ns() > deadline) {
			atomic_store(&s.stop, 1);
			fail_msg("workers made no progress");
		}
		sched_yield();
	}
	assert_int_equal(bkd_registry_unload(s.r, "upgrade", err, sizeof(err)), 0);
	ok_at_unload = atomic_load(&s.ok);
	while (atomic_load_explicit(&s.done_threads, memory_order_acquire) < NTHREADS) {
		if (bk_now_ns() > deadline) {
			atomic_store(&s.stop, 1);
			fail_msg("workers did not finish");
		}
		collected += bkd_registry_collect(s.r);
		assert_true(fini <= 1);
		sched_yield();
	}
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	collected += bkd_registry_collect(s.r);

	/* At most the tasks already acquired at unload time ran after it: one per thread, or the rest of a
	 * turn for a batched worker (its next turn's first acquire checks again). */
	assert_true(atomic_load(&s.ok) <= ok_at_unload + NTHREADS * (batched ? TURN_MAX : 1));
	assert_int_equal(atomic_load(&s.ok) + atomic_load(&s.enoent), (long)NTHREADS * iterations);
	assert_int_equal(atomic_load(&s.bad_result), 0);
	assert_true(atomic_load(&s.notified) >= 1);
	assert_int_equal(collected, 1);
	assert_int_equal(fini, 1);
	assert_int_equal(bkd_registry_list(s.r, w, 0, 2, &total), 0);
	bkd_registry_destroy(s.r);
	assert_int_equal(fini, 1);
}

/* The prestate of each case (cmocka_unit_test_prestate): whether its workers go through bkd_refs. */
static bool plain = false, batched = true;

static void test_upgrade_under_load(void **state)
{
	fprintf(stderr, "# workers: %s\n", *(const bool *)*state ? "per-turn references (bkd_refs)" : "per task");
	upgrade_under_load(*(const bool *)*state);
}

static void test_unload_under_load(void **state)
{
	fprintf(stderr, "# workers: %s\n", *(const bool *)*state ? "per-turn references (bkd_refs)" : "per task");
	unload_under_load(*(const bool *)*state);
}

int main(void)
{
	const char *it = getenv("BK_CONCURRENT_ITERATIONS");
	if (it && atoi(it) > 0)
		iterations = atoi(it);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate(test_upgrade_under_load, &plain),
		cmocka_unit_test_prestate(test_upgrade_under_load, &batched),
		cmocka_unit_test_prestate(test_unload_under_load, &plain),
		cmocka_unit_test_prestate(test_unload_under_load, &batched),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
