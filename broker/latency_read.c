// SPDX-License-Identifier: MIT
/*
 * latency_read.c - the readers' side of latency accounting (latency.h):
 * merge the per-worker and per-connection sets into private snapshots and
 * summarise them for the FN_STATS and CLIENT_STATS replies (wire.h).
 * Control thread only.
 */
#include "latency.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"

void bkd_lat_snap_add(struct bkd_lat_snap *snap, const struct bkd_lat_set *set)
{
	/* Relaxed: each figure is exact on its own; the whole is not a consistent cut (latency.c). */
	snap->calls += atomic_load_explicit(&set->calls, memory_order_relaxed);
	snap->errors += atomic_load_explicit(&set->errors, memory_order_relaxed);
	for (unsigned k = 0; k < BK_LAT_KINDS; k++) {
		/* total keeps no sum of its own: it is queue's plus run's (latency.c). */
		snap->h[k].sum += k == BK_LAT_TOTAL ? atomic_load_explicit(&set->sum[BK_LAT_QUEUE], memory_order_relaxed) +
							      atomic_load_explicit(&set->sum[BK_LAT_RUN], memory_order_relaxed)
						    : atomic_load_explicit(&set->sum[k], memory_order_relaxed);
		uint64_t m = atomic_load_explicit(&set->max[k], memory_order_relaxed);
		if (m > snap->h[k].max)
			snap->h[k].max = m;
	}
	for (unsigned i = 0; i < BKD_LAT_BUCKETS; i++)
		for (unsigned k = 0; k < BK_LAT_KINDS; k++)
			snap->h[k].b[i] += atomic_load_explicit(&set->b[i][k], memory_order_relaxed);
}

/* The quantiles of one histogram: each the middle of the bucket holding it, never above max. */
static void summarise(const uint64_t *b, uint64_t sum, uint64_t max, struct bk_wire_lat *o)
{
	static const double q[4] = {0.50, 0.90, 0.99, 0.999};
	uint64_t *out[4] = {&o->p50_ns, &o->p90_ns, &o->p99_ns, &o->p999_ns};
	uint64_t n = 0;
	for (unsigned i = 0; i < BKD_LAT_BUCKETS; i++)
		n += b[i];
	memset(o, 0, sizeof(*o));
	o->count = n;
	o->sum_ns = sum;
	o->max_ns = max;
	if (n == 0)
		return;
	uint64_t seen = 0;
	unsigned j = 0;
	for (unsigned i = 0; i < BKD_LAT_BUCKETS && j < 4; i++) {
		seen += b[i];
		while (j < 4 && seen > 0 && (double)seen >= q[j] * (double)n) {
			uint64_t lo = bkd_lat_bucket_low(i), hi = bkd_lat_bucket_high(i);
			uint64_t mid = lo + (hi - lo) / 2;
			*out[j++] = mid > max ? max : mid;
		}
	}
}

void bkd_lat_snap_summary(const struct bkd_lat_snap *snap, struct bk_wire_lat *out)
{
	for (unsigned k = 0; k < BK_LAT_KINDS; k++)
		summarise(snap->h[k].b, snap->h[k].sum, snap->h[k].max, &out[k]);
}

/* below[k]: samples under 2^(k + BK_WIRE_BELOW_LOG2) ns; the bucket edges are powers of two there. */
static void cumulate(const uint64_t *b, uint64_t *below)
{
	uint64_t seen = 0;
	unsigned i = 0;
	for (unsigned k = 0; k < BK_WIRE_BELOW_N; k++) {
		unsigned log2 = k + BK_WIRE_BELOW_LOG2;
		unsigned end = (log2 - BKD_LAT_SUB_BITS + 1u) * BKD_LAT_SUB; /* first bucket at or above 2^log2 */
		if (end > BKD_LAT_BUCKETS)
			end = BKD_LAT_BUCKETS;
		for (; i < end; i++)
			seen += b[i];
		below[k] = seen;
	}
}

_Static_assert(BK_WIRE_BELOW_LOG2 >= BKD_LAT_SUB_BITS, "the log2 edges must be bucket edges");

/* Worker i's set of function fn, NULL when that worker never ran it. */
static struct bkd_lat_set *worker_fn_set(struct bkd_broker *b, unsigned i, uint32_t fn)
{
	/* Acquire: pairs with the worker's release store of a fresh table or set. */
	struct bkd_lat_worker *l = atomic_load_explicit(&b->workers[i].lat, memory_order_acquire);
	return l ? atomic_load_explicit(&l->fn[fn], memory_order_acquire) : NULL;
}

static bool fn_called(struct bkd_broker *b, uint32_t fn)
{
	for (unsigned i = 0; i < b->nworkers; i++)
		if (worker_fn_set(b, i, fn))
			return true;
	return false;
}

/* Merge function fn over every worker into snap. */
static void fn_snap(struct bkd_broker *b, uint32_t fn, struct bkd_lat_snap *snap)
{
	memset(snap, 0, sizeof(*snap));
	for (unsigned i = 0; i < b->nworkers; i++) {
		struct bkd_lat_set *s = worker_fn_set(b, i, fn);
		if (s)
			bkd_lat_snap_add(snap, s);
	}
}

uint32_t bkd_lat_fn_list(struct bkd_broker *b, struct bk_wire_fn_stats *out, uint32_t start, uint32_t max,
			 uint32_t *total)
{
	uint32_t n = 0, seen = 0;
	struct bkd_lat_snap *snap = malloc(sizeof(*snap));
	*total = 0;
	if (!snap)
		return 0;
	for (uint32_t fn = 0; fn < BKD_LAT_MAX_FNS; fn++) {
		if (!fn_called(b, fn) || seen++ < start || n >= max)
			continue;
		fn_snap(b, fn, snap);
		struct bk_wire_fn_stats *o = &out[n++];
		memset(o, 0, sizeof(*o));
		const char *name = bkd_registry_fn_name(b->reg, fn);
		snprintf(o->name, sizeof(o->name), "%s", name ? name : "?");
		o->fn = fn;
		o->calls = snap->calls;
		o->errors = snap->errors;
		bkd_lat_snap_summary(snap, o->lat);
		for (unsigned k = 0; k < BK_LAT_KINDS; k++)
			cumulate(snap->h[k].b, o->below[k]);
	}
	free(snap);
	*total = seen;
	return n;
}

void bkd_lat_conn_fill(struct bkd_conn *c, struct bk_wire_client_stats *out)
{
	struct bkd_lat_set *s = atomic_load_explicit(&c->lat, memory_order_acquire); /* pairs with conn_set */
	out->calls = out->errors = 0;
	memset(out->lat, 0, sizeof(out->lat));
	if (!s)
		return;
	struct bkd_lat_snap *snap = calloc(1, sizeof(*snap));
	if (!snap)
		return;
	bkd_lat_snap_add(snap, s);
	out->calls = snap->calls;
	out->errors = snap->errors;
	bkd_lat_snap_summary(snap, out->lat);
	free(snap);
}
