// SPDX-License-Identifier: MIT
/*
 * test_hist.c - unit tests of broker-bench's log-linear histogram: bucket
 * bounds cover every value exactly once and within 1/64 relative error,
 * and quantiles of known distributions come out right.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "hist.h"

static void test_buckets_tile_the_range(void **state)
{
	(void)state;
	/* Consecutive buckets must be adjacent, and every bucket's values must map back to it. */
	for (size_t i = 0; i + 1 < BK_HIST_BUCKETS; i++) {
		uint64_t lo = bk_hist_bucket_low(i), hi = bk_hist_bucket_high(i);
		assert_true(lo <= hi);
		assert_int_equal(bk_hist_bucket_low(i + 1), hi + 1);
		assert_int_equal(bk_hist_index(lo), i);
		assert_int_equal(bk_hist_index(hi), i);
		/* relative width: below 1/64 of the value */
		if (lo >= 128)
			assert_true((double)(hi - lo + 1) / (double)lo <= 1.0 / 64.0 + 1e-12);
	}
	assert_int_equal(bk_hist_index(UINT64_MAX), BK_HIST_BUCKETS - 1);
	assert_int_equal(bk_hist_bucket_high(BK_HIST_BUCKETS - 1), UINT64_MAX);
	for (uint64_t v = 0; v < 128; v++)
		assert_int_equal(bk_hist_index(v), v);
}

static void test_quantiles_uniform(void **state)
{
	(void)state;
	struct bk_hist *h = malloc(sizeof(*h));
	assert_non_null(h);
	bk_hist_init(h);
	for (uint64_t v = 1; v <= 100000; v++)
		bk_hist_record(h, v);
	struct bk_pcts p;
	bk_hist_summary(h, &p);
	assert_true(p.valid);
	assert_int_equal(p.samples, 100000);
	assert_true(p.p50 > 50000 * 0.98 && p.p50 < 50000 * 1.02);
	assert_true(p.p90 > 90000 * 0.98 && p.p90 < 90000 * 1.02);
	assert_true(p.p99 > 99000 * 0.98 && p.p99 < 99000 * 1.02);
	assert_true(p.p999 > 99900 * 0.98 && p.p999 <= 100000);
	assert_true(p.max == 100000.0);
	assert_true(p.min == 1.0);
	assert_true(p.mean > 50000.0 && p.mean < 50001.0);
	free(h);
}

static void test_quantiles_exact_small_values(void **state)
{
	(void)state;
	struct bk_hist *h = malloc(sizeof(*h));
	assert_non_null(h);
	bk_hist_init(h);
	/* 90 samples of 10 ns, 9 of 100 ns, 1 of 1 ms: each percentile lands on a known value */
	for (int i = 0; i < 90; i++)
		bk_hist_record(h, 10);
	for (int i = 0; i < 9; i++)
		bk_hist_record(h, 100);
	bk_hist_record(h, 1000000);
	assert_true(bk_hist_quantile(h, 0.5) == 10.0);
	assert_true(bk_hist_quantile(h, 0.9) == 10.0);
	assert_true(bk_hist_quantile(h, 0.95) == 100.0);
	assert_true(bk_hist_quantile(h, 0.999) > 1000000 * 0.98);
	assert_true(bk_hist_quantile(h, 1.0) == 1000000.0);
	free(h);
}

static void count_cdf(double value, double frac, void *arg)
{
	double *last = arg;
	assert_true(value >= last[0]);
	assert_true(frac >= last[1]);
	last[0] = value;
	last[1] = frac;
	last[2] += 1;
}

static void test_merge_and_cdf(void **state)
{
	(void)state;
	struct bk_hist *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	assert_non_null(a);
	assert_non_null(b);
	bk_hist_init(a);
	bk_hist_init(b);
	bk_hist_record(a, 5);
	bk_hist_record(b, 5000);
	bk_hist_record(b, 7);
	bk_hist_merge(a, b);
	assert_int_equal(a->count, 3);
	assert_int_equal(a->min, 5);
	assert_int_equal(a->max, 5000);
	double last[3] = { 0, 0, 0 };
	bk_hist_cdf(a, count_cdf, last);
	assert_true(last[2] == 3); /* three non-empty buckets */
	assert_true(last[1] == 1.0); /* ends at the whole distribution */
	struct bk_pcts p;
	bk_hist_init(b);
	bk_hist_summary(b, &p);
	assert_false(p.valid);
	free(a);
	free(b);
}

/* The median of per-round ratios: odd and even counts, rounds with a missing figure left out. */
static void test_median_ratio(void **state)
{
	(void)state;
	const double num[] = { 300, 100, 900, 200, 0, 500 };
	const double den[] = { 100, 100, 100, 100, 100, 0 };
	/* Ratios 3, 1, 9, 2 (the last two rounds have a zero): sorted 1 2 3 9, median (2 + 3) / 2. */
	assert_true(fabs(bk_median_ratio(num, den, 6) - 2.5) < 1e-12);
	/* Ratios 3, 1, 9: median 3, not the mean (4.33) nor the ratio of sums (1300 / 300). */
	assert_true(fabs(bk_median_ratio(num, den, 3) - 3.0) < 1e-12);
	assert_true(fabs(bk_median_ratio(num, den, 1) - 3.0) < 1e-12);
	assert_true(isnan(bk_median_ratio(num + 4, den + 4, 2))); /* no round with both figures */
	assert_true(isnan(bk_median_ratio(num, den, 0)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets_tile_the_range),
		cmocka_unit_test(test_quantiles_uniform),
		cmocka_unit_test(test_quantiles_exact_small_values),
		cmocka_unit_test(test_merge_and_cdf),
		cmocka_unit_test(test_median_ratio),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
