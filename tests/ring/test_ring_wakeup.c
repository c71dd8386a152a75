// SPDX-License-Identifier: MIT
/*
 * test_ring_wakeup.c - the lost-wakeup test.  Both sides go to sleep as
 * often as they possibly can (no spinning at all): the forked broker sleeps
 * on the SQ wake_seq whenever fetch finds nothing, the client sleeps on the
 * CQ wake_seq right after each submission.  One entry per round trip,
 * 1 million round trips.  The futex waits have NO timeout, so a single lost
 * wakeup hangs the test and the watchdog fails it (and kills the child)
 * instead of a timeout quietly papering over it.
 *
 * BK_RING_WAKEUP_TRIPS overrides the 1 million round trips; tests/ring/
 * meson.build sets it only for sanitizer builds.
 */
#include <inttypes.h>
#include <limits.h>
#include <sys/mman.h>

#include "ring_fixture.h"
#include "ring_util.h"
#include "region_map.h"

#define DEADLINE_S 540.0 /* generous: a loaded 2-core VM has shown 70 us per sleeping round trip */

struct wctl {
	_Atomic uint32_t stop;
	_Atomic uint64_t done; /* progress for the watchdog report */
	uint64_t sleeps, bad;
	char msg[200];
};

static struct wctl *g_ctl;
static _Atomic uint64_t g_client_trips;

static void report(void)
{
	fprintf(stderr, "client finished %" PRIu64 " round trips, broker completed %" PRIu64 "\n",
		(uint64_t)atomic_load(&g_client_trips), g_ctl ? (uint64_t)atomic_load(&g_ctl->done) : 0);
}

static int broker_main(struct bkd_region *r, uint32_t start)
{
	struct bkd_conn_rings cr;
	if (bkd_conn_rings_init(&cr, &r->v, start) < 0)
		return 1;
	uint64_t done = 0, sleeps = 0, bad = 0;
	struct bk_sqe out[4];
	for (;;) {
		int n = bkd_conn_rings_fetch(&cr, out, 4);
		if (n < 0) {
			snprintf(g_ctl->msg, sizeof(g_ctl->msg), "fetch %d: %s", n, cr.last_violation);
			return 1;
		}
		for (int i = 0; i < n; i++) {
			uint64_t v;
			memcpy(&v, bkd_conn_rings_arena(&cr, out[i].arg_off), sizeof(v));
			if (bkd_conn_rings_complete(&cr, out[i].slot, (int32_t)(rt_mix(v) & 0x7fffffff), 0) < 0)
				bad++;
		}
		if (n > 0) {
			int f = bkd_conn_rings_flush(&cr);
			if (f < 0) {
				snprintf(g_ctl->msg, sizeof(g_ctl->msg), "flush %d: %s", f, cr.last_violation);
				return 1;
			}
			if (f & BKD_FLUSH_WAKE_FUTEX)
				bk_futex_wake(&r->v.cq_ctl->wake_seq, INT_MAX);
			done += (uint64_t)n;
			atomic_store_explicit(&g_ctl->done, done, memory_order_relaxed);
			continue;
		}
		if (atomic_load_explicit(&g_ctl->stop, memory_order_acquire))
			break;
		/* No spinning: straight to sleep. */
		uint32_t seq = bkd_conn_rings_sleep_prepare(&cr);
		if (!bkd_conn_rings_sq_pending(&cr) && !atomic_load_explicit(&g_ctl->stop, memory_order_acquire)) {
			bk_futex_wait(&r->v.sq_ctl->wake_seq, seq, NULL);
			sleeps++;
		}
		bkd_conn_rings_sleep_finish(&cr);
	}
	g_ctl->sleeps = sleeps;
	g_ctl->bad = bad + cr.violations;
	bkd_conn_rings_fini(&cr);
	return 0;
}

static void test_no_lost_wakeup(void **state)
{
	(void)state;
	const uint64_t trips = rt_env_count("BK_RING_WAKEUP_TRIPS", 1000000);
	const uint32_t start = UINT32_MAX - 1000;
	struct bk_geometry g = { .sq_entries = 8, .nslots = 8, .slot_inline = 64, .large_size = 4096 };
	struct bkd_region_params p = { .max_large = 1 << 20, .ring_start = start, .conn_id = 1, .epoch = 1 };
	struct bkd_region r;
	char err[256];
	if (bkd_region_create(&g, &p, &r, err, sizeof(err)) < 0)
		fail_msg("bkd_region_create: %s", err);
	g_ctl = mmap(NULL, sizeof(*g_ctl), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(g_ctl != MAP_FAILED);
	memset(g_ctl, 0, sizeof(*g_ctl));

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		rt_child_setup();
		_exit(broker_main(&r, start));
	}

	struct bk_region_view v;
	if (bkc_region_map(r.fd, &v, err, sizeof(err)) < 0) {
		kill(pid, SIGKILL);
		fail_msg("bkc_region_map: %s", err);
	}
	struct bk_sq_producer sqp;
	struct bk_cq_consumer cqc;
	bk_sq_producer_init(&sqp, v.sq_ctl, v.sq, v.geo.sq_entries);
	bk_cq_consumer_init(&cqc, v.cq_ctl, v.cq, v.geo.cq_entries);

	struct rt_watchdog wd;
	rt_watchdog_start(&wd, DEADLINE_S, "lost-wakeup test", pid, report);
	uint64_t client_sleeps = 0, wakes = 0;
	char fail[200] = "";
	int64_t t0 = bk_now_ns();
	for (uint64_t i = 0; i < trips && !fail[0]; i++) {
		uint32_t slot = (uint32_t)(i % 8), gen = (uint32_t)(i / 8 + 1);
		memcpy(v.arena + slot * 64, &i, sizeof(i));
		struct bk_sqe e = { .op = BK_OP_CALL, .slot = slot, .gen = gen, .arg_off = slot * 64, .arg_len = 8,
				    .res_off = slot * 64 + 8, .res_cap = 8 };
		if (bk_sq_producer_space(&sqp) < 1) {
			snprintf(fail, sizeof(fail), "SQ full with nothing in flight at trip %" PRIu64, i);
			break;
		}
		bk_sq_producer_write(&sqp, 0, &e);
		bk_sq_producer_publish(&sqp, 1);
		if (bk_ring_wake_needed(v.sq_ctl)) {
			bk_ring_wake_bump(v.sq_ctl);
			bk_futex_wake(&v.sq_ctl->wake_seq, 1);
			wakes++;
		}
		for (;;) {
			struct bk_cqe q;
			if (bk_cq_consumer_reap(&cqc, &q, 1) == 1) {
				if (q.slot != slot || q.gen != gen || q.status != (int32_t)(rt_mix(i) & 0x7fffffff))
					snprintf(fail, sizeof(fail),
						 "trip %" PRIu64 ": cqe slot %u gen %u status %d, want %u %u %d", i, q.slot,
						 q.gen, q.status, slot, gen, (int32_t)(rt_mix(i) & 0x7fffffff));
				break;
			}
			uint32_t seq = bk_ring_sleep_prepare(v.cq_ctl, true);
			if (!bk_cq_consumer_pending(&cqc)) {
				bk_futex_wait(&v.cq_ctl->wake_seq, seq, NULL); /* no timeout, on purpose */
				client_sleeps++;
			}
			bk_ring_sleep_finish(v.cq_ctl, true);
		}
		atomic_store_explicit(&g_client_trips, i + 1, memory_order_relaxed);
	}
	int64_t t1 = bk_now_ns();
	atomic_store_explicit(&g_ctl->stop, 1, memory_order_release);
	bk_ring_wake_bump(v.sq_ctl);
	bk_futex_wake(&v.sq_ctl->wake_seq, 1);
	int st = rt_wait_child(pid, 30);
	rt_watchdog_stop(&wd);
	if (fail[0])
		fail_msg("%s", fail);
	if (st != 0)
		fail_msg("broker process ended with %d: %s", st, g_ctl->msg);
	print_message("%" PRIu64 " round trips in %.2f s (%.1f us each); client slept %" PRIu64
		      " times, broker slept %" PRIu64 " times, client woke the broker %" PRIu64 " times\n",
		      trips, (double)(t1 - t0) / 1e9, (double)(t1 - t0) / 1e3 / (double)trips, client_sleeps,
		      g_ctl->sleeps, wakes);
	assert_int_equal(atomic_load(&g_ctl->done), trips);
	assert_int_equal(g_ctl->bad, 0);
	/* The test is only meaningful if both sides really slept, and often. */
	assert_true(client_sleeps > 0);
	assert_true(g_ctl->sleeps > 0);
	assert_true(wakes > 0);

	bkc_region_unmap(&v);
	bkd_region_destroy(&r);
	munmap(g_ctl, sizeof(*g_ctl));
	g_ctl = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_lost_wakeup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
