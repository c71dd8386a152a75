// SPDX-License-Identifier: MIT
/*
 * measure.h - the timing loop every round-trip figure goes through (broker
 * modes and baselines alike), so all of them pay the same clock overhead.
 */
#ifndef BK_BENCH_MEASURE_H
#define BK_BENCH_MEASURE_H

#include <stdint.h>

#include "hist.h"

struct bk_rtt_cfg {
	uint64_t warmup; /* round trips done first and not recorded */
	uint64_t samples; /* round trips recorded */
	const char *label; /* for progress lines */
};

/* One round trip: 0, or a negative errno-style code that stops the loop. */
typedef int (*bk_roundtrip_fn)(void *ctx, uint64_t seq);

/* Run cfg->warmup then cfg->samples round trips, recording each into h.  0 or the first error. */
int bk_measure_rtt(bk_roundtrip_fn rt, void *ctx, const struct bk_rtt_cfg *cfg, struct bk_hist *h);

/* One of several round-trip figures measured side by side. */
struct bk_rtt_source {
	bk_roundtrip_fn rt;
	void *ctx;
	struct bk_hist *h;
	const char *label;
	uint64_t seq; /* set by the measuring function */
	double *round_p50; /* NULL, or one entry per round: the p50 of that round's chunk alone */
};

/*
 * Measure n figures side by side: each warms up, then `rounds` rounds in
 * which every source records cfg->samples / rounds round trips in turn.  A
 * figure and the baseline it is compared with then see the same machine:
 * on a VM whose virtual CPUs the host moves between cores, one measured
 * after the other can differ by 5x for reasons that have nothing to do with
 * either.  Sources with round_p50 also get each round's own p50, so that
 * ratios can be taken round by round (bk_median_ratio).  On error *failed
 * is the index of the source that failed (-ENOMEM: 0).
 */
int bk_measure_rtt_interleaved(struct bk_rtt_source *src, unsigned n, const struct bk_rtt_cfg *cfg, unsigned rounds,
			       int *failed);

#endif
