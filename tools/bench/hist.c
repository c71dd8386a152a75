// SPDX-License-Identifier: MIT
/*
 * hist.c - log-linear latency histogram (see hist.h).  Values below 2^7 get
 * a bucket each; above, each power of two is split into 64 equal buckets.
 */
#include "hist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SUB (1u << BK_HIST_SUB_BITS) /* 64 sub-buckets per octave */
#define LINEAR (2u * SUB) /* values below this are exact */

void bk_hist_init(struct bk_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

size_t bk_hist_index(uint64_t v)
{
	if (v < LINEAR)
		return (size_t)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = msb - BK_HIST_SUB_BITS; /* >= 1 here, so v >> shift is in [SUB, 2*SUB) */
	return (size_t)shift * SUB + (size_t)(v >> shift);
}

uint64_t bk_hist_bucket_low(size_t idx)
{
	if (idx < LINEAR)
		return idx;
	unsigned shift = (unsigned)(idx / SUB) - 1u;
	uint64_t sub = (uint64_t)(idx % SUB) + SUB;
	return sub << shift;
}

uint64_t bk_hist_bucket_high(size_t idx)
{
	if (idx < LINEAR)
		return idx;
	unsigned shift = (unsigned)(idx / SUB) - 1u;
	return bk_hist_bucket_low(idx) + ((1ull << shift) - 1u);
}

void bk_hist_record(struct bk_hist *h, uint64_t v)
{
	h->buckets[bk_hist_index(v)]++;
	h->count++;
	h->sum += (double)v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void bk_hist_merge(struct bk_hist *dst, const struct bk_hist *src)
{
	for (size_t i = 0; i < BK_HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->count && src->min < dst->min)
		dst->min = src->min;
	if (src->count && src->max > dst->max)
		dst->max = src->max;
}

static double clamp(const struct bk_hist *h, double v)
{
	if (v < (double)h->min)
		return (double)h->min;
	if (v > (double)h->max)
		return (double)h->max;
	return v;
}

double bk_hist_quantile(const struct bk_hist *h, double q)
{
	if (h->count == 0)
		return 0.0;
	if (q <= 0.0)
		return (double)h->min;
	if (q >= 1.0)
		return (double)h->max;
	/* The rank of the sample we want, 1-based: ceil(q * count). */
	double r = q * (double)h->count;
	uint64_t rank = (uint64_t)r;
	if ((double)rank < r)
		rank++;
	if (rank == 0)
		rank = 1;
	uint64_t seen = 0;
	for (size_t i = 0; i < BK_HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank) {
			double lo = (double)bk_hist_bucket_low(i);
			double hi = (double)bk_hist_bucket_high(i);
			return clamp(h, (lo + hi) / 2.0);
		}
	}
	return (double)h->max;
}

void bk_hist_summary(const struct bk_hist *h, struct bk_pcts *out)
{
	memset(out, 0, sizeof(*out));
	if (h->count == 0)
		return;
	out->valid = 1;
	out->samples = h->count;
	out->p50 = bk_hist_quantile(h, 0.50);
	out->p90 = bk_hist_quantile(h, 0.90);
	out->p99 = bk_hist_quantile(h, 0.99);
	out->p999 = bk_hist_quantile(h, 0.999);
	out->max = (double)h->max;
	out->min = (double)h->min;
	out->mean = h->sum / (double)h->count;
}

void bk_hist_cdf(const struct bk_hist *h, void (*fn)(double value, double frac, void *arg), void *arg)
{
	if (h->count == 0)
		return;
	uint64_t seen = 0;
	for (size_t i = 0; i < BK_HIST_BUCKETS; i++) {
		if (!h->buckets[i])
			continue;
		seen += h->buckets[i];
		double hi = (double)bk_hist_bucket_high(i);
		fn(clamp(h, hi), (double)seen / (double)h->count, arg);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double bk_median_ratio(const double *num, const double *den, unsigned n)
{
	double *r = n ? malloc(n * sizeof(*r)) : NULL;
	if (!r)
		return NAN;
	unsigned k = 0;
	for (unsigned i = 0; i < n; i++)
		if (num[i] > 0 && den[i] > 0)
			r[k++] = num[i] / den[i];
	double m = NAN;
	if (k) {
		qsort(r, k, sizeof(*r), cmp_double);
		m = k % 2 ? r[k / 2] : (r[k / 2 - 1] + r[k / 2]) / 2;
	}
	free(r);
	return m;
}
