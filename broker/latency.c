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
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sdt.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "registry_impl.h" /* BKD_REG_MAX_FNS */
#include "task.h"
#include "worker.h"

_Static_assert(BKD_LAT_MAX_FNS == BKD_REG_MAX_FNS, "one set per function id");

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

/* ---- the hot path (worker thread) --------------------------------------------- */

#if BKD_LATENCY
static void *map_zeroed(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static inline void bump(_Atomic uint64_t *p, uint64_t by)
{
	/* Single writer: a plain load and store, relaxed (see the top of this file). */
	atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + by, memory_order_relaxed);
}

/* One sample whose bucket is idx; total's sum is queue's plus run's, so it keeps none (latency_read.c). */
static inline void hist_record(struct bkd_lat_hist *h, unsigned idx, uint64_t v, bool sum)
{
	bump(&h->b[idx], 1);
	if (sum)
		bump(&h->sum, v);
	if (v > atomic_load_explicit(&h->max, memory_order_relaxed))
		atomic_store_explicit(&h->max, v, memory_order_relaxed);
}

/* ---- the clock: the TSC where the kernel keeps time with it, else CLOCK_MONOTONIC ---- */

/*
 * clock_gettime is 40 ns here (100 ns on a loaded VM), rdtsc 15: two readings per task were most of
 * the accounting's cost.  The TSC is used only when it is the kernel's clocksource (then it is
 * invariant and in step across CPUs); each worker converts it with a rate it measures against
 * CLOCK_MONOTONIC over its first BKD_LAT_CALIBRATE_NS, reading CLOCK_MONOTONIC until then.
 */
#define BKD_LAT_CALIBRATE_NS 50000000LL

#if defined(__x86_64__)
static int tsc_usable(void)
{
	static _Atomic int usable = -1; /* a fact about the machine: read the file once per process */
	int u = atomic_load_explicit(&usable, memory_order_relaxed);
	if (u >= 0)
		return u;
	char buf[32] = "";
	FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "re");
	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = 0;
		fclose(f);
	}
	u = strncmp(buf, "tsc", 3) == 0 && (buf[3] == '\n' || buf[3] == 0);
	atomic_store_explicit(&usable, u, memory_order_relaxed);
	return u;
}

static inline int64_t lat_now(struct bkd_lat_worker *l)
{
	if (!l->tsc_mult)
		return bk_now_ns();
	uint64_t d = __rdtsc() - l->tsc0;
	return l->ns0 + (int64_t)(((unsigned __int128)d * l->tsc_mult) >> 32);
}

/* Called once per batch until the rate is known. */
static void calibrate(struct bkd_lat_worker *l, int64_t now)
{
	if (l->tsc0 == 0) {
		if (!tsc_usable()) {
			l->tsc0 = UINT64_MAX; /* never: stay on CLOCK_MONOTONIC */
			return;
		}
		l->tsc0 = __rdtsc();
		l->ns0 = bk_now_ns();
	} else if (l->tsc0 != UINT64_MAX && now - l->ns0 >= BKD_LAT_CALIBRATE_NS) {
		uint64_t ticks = __rdtsc() - l->tsc0;
		int64_t ns = bk_now_ns() - l->ns0;
		if (ticks > 0 && ns > 0)
			l->tsc_mult = (uint64_t)(((unsigned __int128)ns << 32) / ticks);
	}
}
#else
static inline int64_t lat_now(struct bkd_lat_worker *l)
{
	(void)l;
	return bk_now_ns();
}

static void calibrate(struct bkd_lat_worker *l, int64_t now)
{
	(void)l, (void)now;
}
#endif

/* ---- sets ---------------------------------------------------------------------- */

static inline struct bkd_lat_worker *worker_lat(struct bkd_worker *w)
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

/* The set at *where, made on first use (NULL if no memory: that task goes uncounted). */
static inline struct bkd_lat_set *set_at(_Atomic(struct bkd_lat_set *) *where)
{
	struct bkd_lat_set *s = atomic_load_explicit(where, memory_order_relaxed);
	if (s)
		return s;
	s = map_zeroed(sizeof(*s));
	if (s)
		atomic_store_explicit(where, s, memory_order_release); /* pairs with the reader's acquire */
	return s;
}
#endif

/* ---- hooks ---------------------------------------------------------------------- */

void bkd_lat_batch(struct bkd_worker *w)
{
#if BKD_LATENCY
	struct bkd_lat_worker *l = worker_lat(w);
	if (!l)
		return;
	int64_t now = lat_now(l);
	if (!l->tsc_mult)
		calibrate(l, now);
	l->batch_ns = l->last_ns = now;
#else
	(void)w;
#endif
}

/* Taken up into a lane: its queue wait starts at the fetch that brought it; its sets, found once. */
void bkd_lat_taken(struct bkd_worker *w, struct bk_task *t)
{
#if BKD_LATENCY
	struct bkd_lat_worker *l = atomic_load_explicit(&w->lat, memory_order_relaxed);
	t->lat_ns[0] = l ? l->batch_ns : 0;
	t->lat_set[0] = l && t->ref.fn < BKD_LAT_MAX_FNS ? set_at(&l->fn[t->ref.fn]) : NULL;
	t->lat_set[1] = set_at(&t->conn->lat);
#else
	(void)w, (void)t;
#endif
}

/*
 * No clock reading here: the handler starts right after the worker's latest reading (the last fetch
 * of this round, or the completion of the task started before it), so that reading is its start,
 * early by the bookkeeping in between (tens of ns, counted as run time, not queue wait).
 */
void bkd_lat_start(struct bkd_worker *w, struct bk_task *t)
{
#if BKD_LATENCY
	struct bkd_lat_worker *l = atomic_load_explicit(&w->lat, memory_order_relaxed);
	t->lat_ns[1] = l ? l->last_ns : 0;
	if (t->lat_ns[0] == 0 || t->lat_ns[0] > t->lat_ns[1])
		t->lat_ns[0] = t->lat_ns[1]; /* not taken by a fetch: no wait known */
#else
	(void)w;
#endif
	DTRACE_PROBE4(brokerd, task__start, t->ref.fn, t->conn->id, t->slot, t->lat_ns[1]);
}

/* Before the completion is visible: only the counts, so a client that saw its result sees it counted. */
void bkd_lat_done(struct bkd_worker *w, struct bk_task *t, int status)
{
#if BKD_LATENCY
	(void)w;
	for (int i = 0; i < 2; i++) {
		struct bkd_lat_set *s = t->lat_set[i];
		if (!s)
			continue;
		if (status < 0)
			bump(&s->errors, 1);
		bump(&s->calls, 1);
	}
#else
	(void)w, (void)t, (void)status;
#endif
}

#if BKD_LATENCY
/* Record one task's times into the function's and the connection's sets. */
static void record(struct bk_task *t, int64_t start, int64_t now)
{
	uint64_t q = start > t->lat_ns[0] ? (uint64_t)(start - t->lat_ns[0]) : 0;
	uint64_t r = now > start ? (uint64_t)(now - start) : 0;
	/* Both sets have the same buckets: each index is computed once. */
	unsigned iq = bkd_lat_index(q), ir = bkd_lat_index(r), it = bkd_lat_index(q + r);
	for (int i = 0; i < 2; i++) {
		struct bkd_lat_set *s = t->lat_set[i];
		if (!s)
			continue;
		hist_record(&s->h[BK_LAT_QUEUE], iq, q, true);
		hist_record(&s->h[BK_LAT_RUN], ir, r, true);
		hist_record(&s->h[BK_LAT_TOTAL], it, q + r, false);
	}
}
#endif

/* Right after the completion was published: the times, off the path a waiting client is on. */
void bkd_lat_published(struct bkd_worker *w, struct bk_task *t, int status)
{
	int64_t start = 0, now = 0;
#if BKD_LATENCY
	struct bkd_lat_worker *l = atomic_load_explicit(&w->lat, memory_order_relaxed);
	if (l && t->lat_ns[0]) {
		now = lat_now(l);
		l->last_ns = now;
		/* Ended in its lane (cancelled, past its deadline, draining): all of it was queue wait. */
		start = t->lat_ns[1] ? t->lat_ns[1] : now;
		record(t, start, now);
	}
#else
	(void)w;
#endif
	DTRACE_PROBE6(brokerd, task__done, t->ref.fn, t->conn->id, t->slot, status, start, now);
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
