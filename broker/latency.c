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

/*
 * The probes' semaphores: the kernel raises them while a tracer (libbpf's USDT support, bpftrace) is
 * attached, and a worker that sees one raised times every task, so that every task reaches a probe
 * (latency_hooks.h).  Written by the kernel, read relaxed by the workers once per fetch.
 */
#define _SDT_HAS_SEMAPHORES 1
extern unsigned short brokerd_task__start_semaphore, brokerd_task__done_semaphore;
__attribute__((section(".probes"), used)) unsigned short brokerd_task__start_semaphore;
__attribute__((section(".probes"), used)) unsigned short brokerd_task__done_semaphore;
#include <sys/sdt.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "registry_impl.h" /* BKD_REG_MAX_FNS */
#include "latency_hooks.h"

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

/* ---- the clock, the sets, the sampling (worker thread) ---------------------------- */

#if BKD_LATENCY
static void *map_zeroed(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* One sample of kind k and weight wt whose bucket is idx; total's sum is queue's plus run's: none kept. */
static inline void hist_record(struct bkd_lat_set *s, unsigned k, unsigned idx, uint64_t v, uint64_t wt)
{
	bkd_lat_bump(&s->b[idx][k], wt);
	if (k != BK_LAT_TOTAL)
		bkd_lat_bump(&s->sum[k], v * wt);
	if (v > atomic_load_explicit(&s->max[k], memory_order_relaxed))
		atomic_store_explicit(&s->max[k], v, memory_order_relaxed);
}

/*
 * The clock: the TSC where the kernel keeps time with it, else CLOCK_MONOTONIC.  clock_gettime is
 * 40 ns here (100 ns on a loaded VM), rdtsc 15.  The TSC is used only when it is the kernel's
 * clocksource (then it is invariant and in step across CPUs); each worker converts it with a rate it
 * measures against CLOCK_MONOTONIC over its first BKD_LAT_CALIBRATE_NS, reading CLOCK_MONOTONIC until
 * then.
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

/* Called once per fetch until the rate is known. */
static void calibrate(struct bkd_lat_worker *l)
{
	if (l->tsc0 == 0) {
		if (!tsc_usable()) {
			l->tsc0 = UINT64_MAX; /* never: stay on CLOCK_MONOTONIC */
			return;
		}
		l->tsc0 = __rdtsc();
		l->ns0 = bk_now_ns();
	} else if (l->tsc0 != UINT64_MAX) {
		int64_t ns = bk_now_ns() - l->ns0;
		uint64_t ticks = __rdtsc() - l->tsc0;
		if (ns >= BKD_LAT_CALIBRATE_NS && ticks > 0)
			l->tsc_mult = (uint64_t)(((unsigned __int128)ns << 32) / ticks);
	}
}
#else
static inline int64_t lat_now(struct bkd_lat_worker *l)
{
	(void)l;
	return bk_now_ns();
}

static void calibrate(struct bkd_lat_worker *l)
{
	(void)l;
}
#endif

static struct bkd_lat_worker *worker_make(struct bkd_worker *w)
{
	struct bkd_lat_worker *l = map_zeroed(sizeof(*l));
	if (!l)
		return NULL;
	l->period = 1;
	l->budget = w->b->opt.latency_budget;
	l->win_ns = w->now;
	/* Release: the control thread's acquire load then sees the zeroed table (mmap does, but say so). */
	atomic_store_explicit(&w->lat, l, memory_order_release);
	return l;
}

/* The set at *where, made on first use (NULL if no memory: that task goes uncounted). */
static struct bkd_lat_set *set_at(_Atomic(struct bkd_lat_set *) *where)
{
	struct bkd_lat_set *s = atomic_load_explicit(where, memory_order_relaxed);
	if (s)
		return s;
	s = map_zeroed(sizeof(*s));
	if (s)
		atomic_store_explicit(where, s, memory_order_release); /* pairs with the reader's acquire */
	return s;
}

/* The smallest power of two >= n, at most BKD_LAT_MAX_PERIOD. */
static uint32_t period_for(uint64_t n)
{
	uint32_t p = 1;
	while (p < n && p < BKD_LAT_MAX_PERIOD)
		p <<= 1;
	return p;
}
#endif /* BKD_LATENCY */

/*
 * Once per fetch, on the worker loop's clock (no reading of its own): the probes' semaphores are
 * looked at, and at each window's end the period becomes what keeps the timed tasks of the next
 * window near the budget at the rate just seen.
 */
void bkd_lat_batch(struct bkd_worker *w)
{
#if BKD_LATENCY
	struct bkd_lat_worker *l = atomic_load_explicit(&w->lat, memory_order_relaxed);
	if (!l)
		return;
	if (__builtin_expect(!l->tsc_mult, 0))
		calibrate(l);
	bool traced = __atomic_load_n(&brokerd_task__done_semaphore, __ATOMIC_RELAXED) != 0 ||
		      __atomic_load_n(&brokerd_task__start_semaphore, __ATOMIC_RELAXED) != 0;
	if (traced != l->traced) {
		l->traced = traced;
		l->mask = traced ? 0 : l->period - 1;
	}
	int64_t span = w->now - l->win_ns;
	if (span < BKD_LAT_WINDOW_NS)
		return;
	uint64_t started = atomic_load_explicit(&w->tc.started, memory_order_relaxed);
	uint64_t n = started - l->win_started; /* tasks taken over span */
	uint64_t allowed = l->budget ? (uint64_t)l->budget * (uint64_t)(span / 1000) / 1000u : 0;
	l->period = l->budget == 0 || n <= allowed ? 1 : period_for((n + allowed - 1) / (allowed ? allowed : 1));
	l->mask = l->traced ? 0 : l->period - 1;
	l->win_ns = w->now;
	l->win_started = started;
#else
	(void)w;
#endif
}

#if BKD_LATENCY
/* A task whose worker table or sets are not made yet (once each), or whose function id is out of range. */
void bkd_lat_taken_first(struct bkd_worker *w, struct bk_task *t)
{
	struct bkd_lat_worker *l = atomic_load_explicit(&w->lat, memory_order_relaxed);
	if (!l)
		l = worker_make(w);
	struct bkd_lat_set *f = l && t->ref.fn < BKD_LAT_MAX_FNS ? set_at(&l->fn[t->ref.fn]) : NULL;
	struct bkd_lat_set *c = f ? set_at(&t->conn->lat) : NULL;
	t->lat_set[0] = c ? f : NULL;
	t->lat_set[1] = c;
	if (!c)
		return; /* no memory: uncounted */
	bkd_lat_taken_timed(l, t); /* the first task of a set is timed */
}

/* Chosen to be timed: its queue wait starts now (a few entries after the fetch that brought it). */
void bkd_lat_taken_timed(struct bkd_lat_worker *l, struct bk_task *t)
{
	t->lat_timed = true;
	t->lat_ns[0] = lat_now(l);
}

void bkd_lat_start_timed(struct bkd_worker *w, struct bk_task *t)
{
	struct bkd_lat_worker *l = atomic_load_explicit(&w->lat, memory_order_relaxed);
	t->lat_ns[1] = lat_now(l);
	DTRACE_PROBE4(brokerd, task__start, t->ref.fn, t->conn->id, t->slot, t->lat_ns[1]);
}

/* Record one task's times into the function's and the connection's sets, each with its own weight. */
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
		uint64_t wt = (uint64_t)s->untimed + 1u; /* it stands for the untimed tasks since the last sample */
		s->untimed = 0;
		bkd_lat_bump(&s->timed, 1);
		hist_record(s, BK_LAT_QUEUE, iq, q, wt);
		hist_record(s, BK_LAT_RUN, ir, r, wt);
		hist_record(s, BK_LAT_TOTAL, it, q + r, wt);
	}
}

/* Right after the completion was published: the times, off the path a waiting client is on. */
void bkd_lat_published_timed(struct bkd_worker *w, struct bk_task *t, int status)
{
	struct bkd_lat_worker *l = atomic_load_explicit(&w->lat, memory_order_relaxed);
	int64_t now = lat_now(l);
	/* Ended in its lane (cancelled, past its deadline, draining): all of it was queue wait. */
	int64_t start = t->lat_ns[1] ? t->lat_ns[1] : now;
	record(t, start, now);
	DTRACE_PROBE6(brokerd, task__done, t->ref.fn, t->conn->id, t->slot, status, start, now);
}
#endif

void bkd_lat_probe_start(struct bk_task *t)
{
	DTRACE_PROBE4(brokerd, task__start, t->ref.fn, t->conn->id, t->slot, 0);
}

void bkd_lat_probe_done(struct bk_task *t, int status)
{
	DTRACE_PROBE6(brokerd, task__done, t->ref.fn, t->conn->id, t->slot, status, 0, 0);
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
