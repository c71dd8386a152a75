// SPDX-License-Identifier: MIT
/*
 * hist.h - a small HDR-style latency histogram: log-linear buckets (64
 * linear sub-buckets per power of two, so any recorded value is known to
 * within 1/64 = 1.6 %), fixed memory, O(1) record.  Values are nanoseconds.
 */
#ifndef BK_BENCH_HIST_H
#define BK_BENCH_HIST_H

#include <stddef.h>
#include <stdint.h>

#define BK_HIST_SUB_BITS 6
#define BK_HIST_BUCKETS ((64 - BK_HIST_SUB_BITS) * (1u << BK_HIST_SUB_BITS) + (1u << BK_HIST_SUB_BITS))

struct bk_hist {
	uint64_t count;
	uint64_t min;
	uint64_t max;
	double sum;
	uint64_t buckets[BK_HIST_BUCKETS];
};

/* Summary used by every report. */
struct bk_pcts {
	int valid; /* 0: nothing was measured */
	uint64_t samples;
	double p50, p90, p99, p999, max, min, mean;
};

void bk_hist_init(struct bk_hist *h);
void bk_hist_record(struct bk_hist *h, uint64_t v);
/* Add every sample of src into dst. */
void bk_hist_merge(struct bk_hist *dst, const struct bk_hist *src);
/* The value at quantile q (0..1): the middle of the bucket holding it, clamped to [min, max]. */
double bk_hist_quantile(const struct bk_hist *h, double q);
void bk_hist_summary(const struct bk_hist *h, struct bk_pcts *out);

/* Bucket index of v and the lowest value of a bucket; exposed for the unit test. */
size_t bk_hist_index(uint64_t v);
uint64_t bk_hist_bucket_low(size_t idx);
uint64_t bk_hist_bucket_high(size_t idx);

/*
 * Iterate the cumulative distribution: for each non-empty bucket, in order,
 * calls fn(value, fraction_at_or_below, arg).  For CDF plots.
 */
void bk_hist_cdf(const struct bk_hist *h, void (*fn)(double value, double frac, void *arg), void *arg);

/*
 * The median of num[i] / den[i] over the n rounds in which both are > 0
 * (the mean of the middle two for an even count), or NAN when there is no
 * such round.  For figures measured interleaved, round by round: a ratio
 * that compares each round's moment of the machine with itself.
 */
double bk_median_ratio(const double *num, const double *den, unsigned n);

#endif
