// SPDX-License-Identifier: MIT
/*
 * latency.h - per-function and per-client latency accounting of tasks
 * (docs/ARCHITECTURE.md, "Observability"): counts, errors and log-linear
 * histograms of queue wait, run time and total, kept per worker (per
 * function) and per connection (written by its one serving worker), so the
 * hot path touches no cache line another thread writes; readers merge.
 * Also the USDT probes brokerctl trace attaches to (task__start, task__done).
 *
 * Counts are exact.  Times are sampled once a worker is busy: up to
 * --latency-budget tasks per millisecond are timed, above that one in
 * `period` of each function's tasks, and a timed task counts in the
 * histograms with the weight of the untimed ones before it, so a
 * histogram's count trails its calls by less than a period.  The hooks
 * are in latency_hooks.h, inline, for the untimed path.
 */
#ifndef BROKER_LATENCY_H
#define BROKER_LATENCY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "broker/wire.h"

#ifndef BKD_LATENCY
#define BKD_LATENCY 1 /* meson -Dlatency=false compiles the accounting out (the probes stay) */
#endif

/* Log-linear buckets: values below 32 ns exact, then 32 per power of two (3 % wide), up to 2^38 ns. */
#define BKD_LAT_SUB_BITS 5u
#define BKD_LAT_SUB (1u << BKD_LAT_SUB_BITS)
#define BKD_LAT_TOP_LOG2 37u /* values from 2^(TOP+1) on count in the last bucket; max stays exact */
/* Buckets of [2^k, 2^(k+1)) for k = SUB_BITS .. TOP, after the SUB exact ones. */
#define BKD_LAT_BUCKETS ((BKD_LAT_TOP_LOG2 - BKD_LAT_SUB_BITS + 2u) * BKD_LAT_SUB)

struct bk_task;
struct bkd_worker;
struct bkd_conn;
struct bkd_broker;

/*
 * Written by one thread at a time with relaxed load + store, read by anyone with relaxed loads.  The
 * three kinds' counters of a bucket sit side by side: a workload's queue waits, run times and totals
 * fall in neighbouring buckets, so a connection's set touches two or three pages, not five (its PSS
 * is brokerd's cost per app: docs/ARCHITECTURE.md, "Observability").
 */
struct bkd_lat_set {
	_Atomic uint64_t calls, errors;
	/* The writer's own: tasks taken (function sets: seq & mask == 0 is timed), untimed since the last. */
	uint32_t seq, untimed;
	_Atomic uint64_t timed; /* samples taken (tests, and what the weights stand for) */
	_Atomic uint64_t sum[BK_LAT_KINDS], max[BK_LAT_KINDS]; /* sum[BK_LAT_TOTAL] unused: queue's + run's */
	_Atomic uint64_t b[BKD_LAT_BUCKETS][BK_LAT_KINDS];
};

/* A worker's sets by function id, allocated by the worker on first use. */
#define BKD_LAT_MAX_FNS 4096u /* = the registry's function ids (latency.c checks) */
#define BKD_LAT_MAX_PERIOD 1024u
#define BKD_LAT_WINDOW_NS 1000000LL /* the period is chosen again every millisecond */
struct bkd_lat_worker {
	/* worker-private */
	uint32_t period; /* time 1 in period of each function's tasks (a power of two) */
	uint32_t mask; /* period - 1, or 0 while traced (brokerctl trace: every task reaches the probes) */
	bool traced;
	uint32_t budget; /* --latency-budget: tasks timed in full per ms, 0: all */
	int64_t win_ns; /* the current window's start (the worker's loop clock) */
	uint64_t win_started; /* the worker's started count then */
	uint64_t tsc0, tsc_mult; /* the TSC's rate in ns << 32, 0 while unknown (latency.c) */
	int64_t ns0;
	_Atomic(struct bkd_lat_set *) fn[BKD_LAT_MAX_FNS];
};

/* A merged copy, private to its reader. */
struct bkd_lat_snap {
	uint64_t calls, errors;
	struct {
		uint64_t sum, max;
		uint64_t b[BKD_LAT_BUCKETS];
	} h[BK_LAT_KINDS];
};

/* Bucket of v (inline: three per task), and a bucket's range [low, high] for the readers and the tests. */
static inline unsigned bkd_lat_index(uint64_t v)
{
	if (v < BKD_LAT_SUB)
		return (unsigned)v;
	if (v >> (BKD_LAT_TOP_LOG2 + 1u))
		v = (1ull << (BKD_LAT_TOP_LOG2 + 1u)) - 1u;
	unsigned shift = 63u - (unsigned)__builtin_clzll(v) - BKD_LAT_SUB_BITS;
	return shift * BKD_LAT_SUB + (unsigned)(v >> shift); /* v >> shift is in [SUB, 2 SUB) */
}
uint64_t bkd_lat_bucket_low(unsigned idx);
uint64_t bkd_lat_bucket_high(unsigned idx);

void bkd_lat_batch(struct bkd_worker *w);
/* The out-of-line parts of latency_hooks.h. */
void bkd_lat_taken_first(struct bkd_worker *w, struct bk_task *t);
void bkd_lat_taken_timed(struct bkd_lat_worker *l, struct bk_task *t);
void bkd_lat_start_timed(struct bkd_worker *w, struct bk_task *t);
void bkd_lat_published_timed(struct bkd_worker *w, struct bk_task *t, int status);
/* The probes alone (a build without accounting fires them for every task). */
void bkd_lat_probe_start(struct bk_task *t);
void bkd_lat_probe_done(struct bk_task *t, int status);

/* Free what the worker allocated (worker thread, at exit) and a connection's set (bkd_conn_free). */
void bkd_lat_worker_free(struct bkd_worker *w);
void bkd_lat_conn_free(struct bkd_conn *c);

/* ---- readers (control thread) ------------------------------------------------- */

/* Add set into snap. */
void bkd_lat_snap_add(struct bkd_lat_snap *snap, const struct bkd_lat_set *set);
/* Summaries of snap into out[BK_LAT_KINDS]. */
void bkd_lat_snap_summary(const struct bkd_lat_snap *snap, struct bk_wire_lat *out);
/* Function ids in [start, ...) that have been called, merged over workers, into out[max]; total: all of them. */
uint32_t bkd_lat_fn_list(struct bkd_broker *b, struct bk_wire_fn_stats *out, uint32_t start, uint32_t max,
			 uint32_t *total);
/* The accounted part of a client record (calls, errors, lat). */
void bkd_lat_conn_fill(struct bkd_conn *c, struct bk_wire_client_stats *out);

#endif /* BROKER_LATENCY_H */
