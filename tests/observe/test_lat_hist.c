// SPDX-License-Identifier: MIT
/*
 * test_lat_hist.c - brokerd's latency histogram (broker/latency.h): every
 * value falls in a bucket that holds it, buckets are at most 3.2 % wide,
 * in order, with edges at powers of two; huge values are clamped into the
 * last one; quantiles of a known distribution come out within a bucket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "latency.h"

static void test_buckets_hold_their_values(void **state)
{
	(void)state;
	unsigned prev = 0;
	for (uint64_t v = 0; v < (1ull << BKD_LAT_TOP_LOG2); v = v < 4096 ? v + 1 : v + v / 97 + 1) {
		unsigned i = bkd_lat_index(v);
		assert_true(i < BKD_LAT_BUCKETS);
		assert_true(i >= prev); /* monotonic */
		prev = i;
		assert_true(bkd_lat_bucket_low(i) <= v && v <= bkd_lat_bucket_high(i));
		if (v >= BKD_LAT_SUB) /* width / low <= 1/32 */
			assert_true((bkd_lat_bucket_high(i) - bkd_lat_bucket_low(i) + 1) * 32 <= bkd_lat_bucket_low(i));
	}
	for (unsigned i = 1; i < BKD_LAT_BUCKETS; i++) /* no gap, no overlap */
		assert_int_equal(bkd_lat_bucket_low(i), bkd_lat_bucket_high(i - 1) + 1);
	for (unsigned k = BKD_LAT_SUB_BITS; k <= BKD_LAT_TOP_LOG2; k++) /* powers of two start a bucket */
		assert_int_equal(bkd_lat_bucket_low(bkd_lat_index(1ull << k)), 1ull << k);
	assert_int_equal(bkd_lat_index(UINT64_MAX), BKD_LAT_BUCKETS - 1);
	assert_int_equal(bkd_lat_index(1ull << 50), BKD_LAT_BUCKETS - 1);
}

static void test_quantiles(void **state)
{
	(void)state;
	struct bkd_lat_snap *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	/* 1000 samples: 1 us .. 1000 us, one of each. */
	for (uint64_t v = 1; v <= 1000; v++) {
		for (unsigned k = 0; k < BK_LAT_KINDS; k++) {
			s->h[k].b[bkd_lat_index(v * 1000)]++;
			s->h[k].sum += v * 1000;
		}
	}
	for (unsigned k = 0; k < BK_LAT_KINDS; k++)
		s->h[k].max = 1000000;
	struct bk_wire_lat out[BK_LAT_KINDS];
	bkd_lat_snap_summary(s, out);
	assert_int_equal(out[BK_LAT_RUN].count, 1000);
	assert_int_equal(out[BK_LAT_RUN].max_ns, 1000000);
	assert_int_equal(out[BK_LAT_RUN].sum_ns, 500500000);
	const double want[4] = {500000, 900000, 990000, 999000};
	const uint64_t got[4] = {out[BK_LAT_RUN].p50_ns, out[BK_LAT_RUN].p90_ns, out[BK_LAT_RUN].p99_ns,
				 out[BK_LAT_RUN].p999_ns};
	for (int i = 0; i < 4; i++) {
		double err = ((double)got[i] - want[i]) / want[i];
		if (err > 0.032 || err < -0.032)
			fail_msg("quantile %d: %llu, want %.0f within 3.2 %%", i, (unsigned long long)got[i], want[i]);
	}
	struct bkd_lat_snap *empty = calloc(1, sizeof(*empty));
	assert_non_null(empty);
	bkd_lat_snap_summary(empty, out);
	assert_int_equal(out[BK_LAT_QUEUE].count, 0);
	assert_int_equal(out[BK_LAT_QUEUE].p99_ns, 0);
	free(empty);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets_hold_their_values),
		cmocka_unit_test(test_quantiles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
