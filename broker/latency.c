// SPDX-License-Identifier: MIT
/*
 * latency.c - latency accounting of tasks (latency.h; docs/ARCHITECTURE.md,
 * "Observability") and the USDT probes brokerctl trace attaches to.
 *
 * Every set is written by exactly one thread at a time: a function's set per
 * worker by that worker, a connection's set by the worker serving it (a move
 * to another worker goes through an inbox, whose lock orders the two
 * writers).  Writers use relaxed load + store, never a locked
 * read-modify-write; the control thread reads with relaxed loads, so a
 * reader may see a sample's bucket before its sum: figures taken while
 * tasks run are each exact but not a consistent cut, which is all a
 * monitor needs.  Sets live in anonymous mappings, so the buckets a
 * workload never hits cost no memory.
 */
#include "latency.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sdt.h>

#include "registry_impl.h" /* BKD_REG_MAX_FNS */
#include "task.h"
#include "worker.h"

_Static_assert(BKD_LAT_MAX_FNS == BKD_REG_MAX_FNS, "one set per function id");

unsigned bkd_lat_index(uint64_t v)
{
	if (v < BKD_LAT_SUB)
		return (unsigned)v;
	if (v >> (BKD_LAT_TOP_LOG2 + 1u))
		v = (1ull << (BKD_LAT_TOP_LOG2 + 1u)) - 1u;
	unsigned shift = 63u - (unsigned)__builtin_clzll(v) - BKD_LAT_SUB_BITS;
	return shift * BKD_LAT_SUB + (unsigned)(v >> shift); /* v >> shift is in [SUB, 2 SUB) */
}

uint64_t bkd_lat_bucket_low(unsigned idx)
{
	if (idx < BKD_LAT_SUB)
		return idx;
	unsigned shift = idx / BKD_LAT_SUB - 1u;
	return (uint64_t)(BKD_LAT_SUB + idx % BKD_LAT_SUB) << shift;
}

uint64_t bkd_lat_bucket_high(unsigned idx)
{
	if (idx < BKD_LAT_SUB)
		return idx;
	return bkd_lat_bucket_low(idx) + ((1ull << (idx / BKD_LAT_SUB - 1u)) - 1u);
}

static void *map_zeroed(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* ---- the hot path (worker thread) --------------------------------------------- */

#if BKD_LATENCY
static inline void bump(_Atomic uint64_t *p, uint64_t by)
{
	/* Single writer: a plain load and store, relaxed (see the top of this file). */
	atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + by, memory_order_relaxed);
}

static inline void hist_record(struct bkd_lat_hist *h, uint64_t v)
{
	bump(&h->b[bkd_lat_index(v)], 1);
	bump(&h->sum, v);
	if (v > atomic_load_explicit(&h->max, memory_order_relaxed))
		atomic_store_explicit(&h->max, v, memory_order_relaxed);
}

static void set_record(struct bkd_lat_set *s, const uint64_t *v, int status)
{
	for (unsigned k = 0; k < BK_LAT_KINDS; k++)
		hist_record(&s->h[k], v[k]);
	if (status < 0)
		bump(&s->errors, 1);
	bump(&s->calls, 1);
}

static struct bkd_lat_worker *worker_lat(struct bkd_worker *w)
{
	struct bkd_lat_worker *l = atomic_load_explicit(&w->lat, memory_order_relaxed);
	if (l)
		return l;
	l = map_zeroed(sizeof(*l));
	/* Release: the control thread's acquire load then sees the zeroed table (mmap does, but say so). */
	if (l)
		atomic_store_explicit(&w->lat, l, memory_order_release);
	return l;
}

static struct bkd_lat_set *fn_set(struct bkd_lat_worker *l, uint32_t fn)
{
	if (fn >= BKD_LAT_MAX_FNS)
		return NULL;
	struct bkd_lat_set *s = atomic_load_explicit(&l->fn[fn], memory_order_relaxed);
	if (s)
		return s;
	s = map_zeroed(sizeof(*s));
	if (s)
		atomic_store_explicit(&l->fn[fn], s, memory_order_release); /* pairs with the reader's acquire */
	return s;
}

static struct bkd_lat_set *conn_set(struct bkd_conn *c)
{
	struct bkd_lat_set *s = atomic_load_explicit(&c->lat, memory_order_relaxed);
	if (s)
		return s;
	s = map_zeroed(sizeof(*s));
	if (s)
		atomic_store_explicit(&c->lat, s, memory_order_release); /* pairs with the reader's acquire */
	return s;
}
#endif

void bkd_lat_batch(struct bkd_worker *w)
{
#if BKD_LATENCY
	struct bkd_lat_worker *l = worker_lat(w);
	if (l)
		l->batch_ns = bk_now_ns();
#else
	(void)w;
#endif
}

void bkd_lat_start(struct bkd_worker *w, struct bk_task *t)
{
#if BKD_LATENCY
	struct bkd_lat_worker *l = atomic_load_explicit(&w->lat, memory_order_relaxed);
	int64_t now = bk_now_ns();
	/* No batch time (a path that did not fetch): the wait is unknown, counted as 0. */
	t->lat_ns[0] = l && l->batch_ns && l->batch_ns <= now ? l->batch_ns : now;
	t->lat_ns[1] = now;
#else
	(void)w;
#endif
	DTRACE_PROBE4(brokerd, task__start, t->ref.fn, t->conn->id, t->slot, t->lat_ns[1]);
}

void bkd_lat_done(struct bkd_worker *w, struct bk_task *t, int status)
{
#if BKD_LATENCY
	int64_t now = bk_now_ns();
	uint64_t v[BK_LAT_KINDS];
	v[BK_LAT_QUEUE] = (uint64_t)(t->lat_ns[1] - t->lat_ns[0]);
	v[BK_LAT_RUN] = now > t->lat_ns[1] ? (uint64_t)(now - t->lat_ns[1]) : 0;
	v[BK_LAT_TOTAL] = v[BK_LAT_QUEUE] + v[BK_LAT_RUN];
	struct bkd_lat_worker *l = worker_lat(w);
	struct bkd_lat_set *s = l ? fn_set(l, t->ref.fn) : NULL;
	if (s)
		set_record(s, v, status);
	s = conn_set(t->conn);
	if (s)
		set_record(s, v, status);
#else
	(void)w;
	int64_t now = 0;
#endif
	DTRACE_PROBE6(brokerd, task__done, t->ref.fn, t->conn->id, t->slot, status, t->lat_ns[1], now);
}

void bkd_lat_worker_free(struct bkd_worker *w)
{
	struct bkd_lat_worker *l = atomic_exchange_explicit(&w->lat, NULL, memory_order_acquire);
	if (!l)
		return;
	for (uint32_t i = 0; i < BKD_LAT_MAX_FNS; i++) {
		struct bkd_lat_set *s = atomic_load_explicit(&l->fn[i], memory_order_relaxed);
		if (s)
			munmap(s, sizeof(*s));
	}
	munmap(l, sizeof(*l));
}

void bkd_lat_conn_free(struct bkd_conn *c)
{
	struct bkd_lat_set *s = atomic_exchange_explicit(&c->lat, NULL, memory_order_acquire);
	if (s)
		munmap(s, sizeof(*s));
}
