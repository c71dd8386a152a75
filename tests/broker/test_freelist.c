// SPDX-License-Identifier: MIT
/*
 * test_freelist.c - the worker's bounded caches of free objects
 * (broker/freelist.h): a cached object is handed out again before anything
 * new is allocated, the cache never holds more than its bound (the rest is
 * freed, counted by failalloc's tracking), and dropping it frees all.
 * Under AddressSanitizer a kept object is poisoned, so that a use after
 * put is caught as a use after free would be.  Also bkd_zero64, which
 * zeroes exactly the bytes it is given.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "failalloc.h"
#include "freelist.h"

#define OBJ 64u
#define MAX 8u
#define EXTRA 5u

static void test_empty_gives_null(void **state)
{
	(void)state;
	struct bkd_freelist f = {0};
	assert_null(bkd_freelist_get(&f, OBJ));
	assert_int_equal(f.n, 0);
}

static void test_last_put_comes_back_first(void **state)
{
	(void)state;
	struct bkd_freelist f = {0};
	void *a = malloc(OBJ), *b = malloc(OBJ);
	assert_non_null(a);
	assert_non_null(b);
	bkd_freelist_put(&f, a, OBJ, MAX);
	bkd_freelist_put(&f, b, OBJ, MAX);
	assert_int_equal(f.n, 2);
	assert_ptr_equal(bkd_freelist_get(&f, OBJ), b); /* the most recently used: warm in cache */
	assert_ptr_equal(bkd_freelist_get(&f, OBJ), a);
	assert_null(bkd_freelist_get(&f, OBJ));
	assert_int_equal(f.n, 0);
	free(a);
	free(b);
}

/* More puts than the bound: the cache keeps MAX, frees the rest; drop frees the MAX. */
static void test_bounded_and_dropped(void **state)
{
	(void)state;
	struct bkd_freelist f = {0};
	void *objs[MAX + EXTRA];
	failalloc_arm(FAILALLOC_MEM, 1000);
	for (unsigned i = 0; i < MAX + EXTRA; i++) {
		objs[i] = malloc(OBJ);
		assert_non_null(objs[i]);
	}
	assert_int_equal(failalloc_live_allocs(), MAX + EXTRA);
	for (unsigned i = 0; i < MAX + EXTRA; i++)
		bkd_freelist_put(&f, objs[i], OBJ, MAX);
	assert_int_equal(f.n, MAX);
	assert_int_equal(failalloc_live_allocs(), MAX);
	/* What comes back is what was kept: the first MAX put, newest first. */
	void *p = bkd_freelist_get(&f, OBJ);
	assert_ptr_equal(p, objs[MAX - 1]);
	bkd_freelist_put(&f, p, OBJ, MAX);
	bkd_freelist_drop(&f, OBJ);
	assert_int_equal(f.n, 0);
	assert_null(f.head);
	assert_int_equal(failalloc_live_allocs(), 0);
	failalloc_disarm(NULL);
}

/* A kept object is poisoned whole under ASan, and usable again once handed out. */
static void test_kept_is_poisoned(void **state)
{
	(void)state;
#ifdef BKD_FREELIST_ASAN
	struct bkd_freelist f = {0};
	uint8_t *a = malloc(OBJ);
	assert_non_null(a);
	bkd_freelist_put(&f, a, OBJ, MAX);
	assert_ptr_equal(__asan_region_is_poisoned(a, OBJ), a);
	assert_ptr_equal(bkd_freelist_get(&f, OBJ), a);
	assert_null(__asan_region_is_poisoned(a, OBJ));
	memset(a, 1, OBJ);
	free(a);
#else
	skip(); /* not an ASan build: nothing is poisoned */
#endif
}

static void test_zero64_exact(void **state)
{
	(void)state;
	static const size_t lens[] = {0, 1, 63, 64, 65, 127, 128, 200, 4096};
	enum { GUARD = 16 };
	uint8_t *buf = malloc(4096 + 2 * GUARD);
	assert_non_null(buf);
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		memset(buf, 0xa5, 4096 + 2 * GUARD);
		bkd_zero64(buf + GUARD, lens[k]);
		for (size_t i = 0; i < GUARD; i++)
			assert_int_equal(buf[i], 0xa5);
		for (size_t i = 0; i < lens[k]; i++)
			assert_int_equal(buf[GUARD + i], 0);
		for (size_t i = GUARD + lens[k]; i < 4096 + 2 * GUARD; i++)
			assert_int_equal(buf[i], 0xa5);
	}
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_gives_null),
		cmocka_unit_test(test_last_put_comes_back_first),
		cmocka_unit_test(test_bounded_and_dropped),
		cmocka_unit_test(test_kept_is_poisoned),
		cmocka_unit_test(test_zero64_exact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
