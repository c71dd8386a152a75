// SPDX-License-Identifier: MIT
/*
 * latency_hooks.h - the per-task hooks of latency accounting (latency.h),
 * inline because most tasks take only their fast path: exact counts and
 * the bookkeeping of the sample weights, no clock reading.  A timed task
 * (latency.c picks one in `period` of each function's tasks, every task
 * while brokerctl trace is attached) takes the out-of-line path, which
 * reads the clock and fires the USDT probes.
 *
 * Worker thread only: bkd_lat_taken when a task is queued in its lane
 * (lanes.h; a task that skipped it is not accounted), bkd_lat_start right
 * before its handler, bkd_lat_done when its final status is known (before
 * the completion is visible to the client, so a client that saw its result
 * also sees it counted), bkd_lat_published right after the completion was
 * published (the times, off the path of a client waiting for the result).
 */
#ifndef BROKER_LATENCY_HOOKS_H
#define BROKER_LATENCY_HOOKS_H

#include "latency.h"
#include "task.h"
#include "worker.h"

#if BKD_LATENCY
/* Single writer: a plain load and store, relaxed (latency.c says why that is enough). */
static inline void bkd_lat_bump(_Atomic uint64_t *p, uint64_t by)
{
	atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + by, memory_order_relaxed);
}
#endif

/* Its sets, both or neither (so that the other hooks test one pointer), and whether it is timed. */
static inline void bkd_lat_taken(struct bkd_worker *w, struct bk_task *t)
{
#if BKD_LATENCY
	struct bkd_lat_worker *l = atomic_load_explicit(&w->lat, memory_order_relaxed);
	uint32_t fn = t->ref.fn;
	struct bkd_lat_set *f = l && fn < BKD_LAT_MAX_FNS ? atomic_load_explicit(&l->fn[fn], memory_order_relaxed) : NULL;
	struct bkd_lat_set *c = atomic_load_explicit(&t->conn->lat, memory_order_relaxed);
	if (__builtin_expect(!f || !c, 0)) {
		bkd_lat_taken_first(w, t);
		return;
	}
	t->lat_set[0] = f;
	t->lat_set[1] = c;
	/* One in period of the function's tasks is timed (all while traced: mask 0); the rest leave their
	 * weight to the next timed one.  A smaller period takes effect within its own count. */
	if (__builtin_expect((f->seq++ & l->mask) == 0, 0)) {
		bkd_lat_taken_timed(l, t);
		return;
	}
	f->untimed++;
	c->untimed++;
#else
	(void)w, (void)t;
#endif
}

static inline void bkd_lat_start(struct bkd_worker *w, struct bk_task *t)
{
#if BKD_LATENCY
	if (__builtin_expect(t->lat_timed, 0))
		bkd_lat_start_timed(w, t);
#else
	(void)w;
	bkd_lat_probe_start(t);
#endif
}

/* Before the completion is visible: the counts, so a client that saw its result sees it counted. */
static inline void bkd_lat_done(struct bkd_worker *w, struct bk_task *t, int status)
{
	(void)w;
#if BKD_LATENCY
	struct bkd_lat_set *f = t->lat_set[0], *c = t->lat_set[1];
	if (!f)
		return; /* not taken into a lane (a child), or no memory for its sets */
	bkd_lat_bump(&f->calls, 1);
	bkd_lat_bump(&c->calls, 1);
	if (__builtin_expect(status < 0, 0)) {
		bkd_lat_bump(&f->errors, 1);
		bkd_lat_bump(&c->errors, 1);
	}
#else
	(void)t, (void)status;
#endif
}

static inline void bkd_lat_published(struct bkd_worker *w, struct bk_task *t, int status)
{
#if BKD_LATENCY
	if (__builtin_expect(t->lat_timed, 0))
		bkd_lat_published_timed(w, t, status);
#else
	(void)w;
	bkd_lat_probe_done(t, status);
#endif
}

#endif /* BROKER_LATENCY_HOOKS_H */
