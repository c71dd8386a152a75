// SPDX-License-Identifier: MIT
/*
 * test_lanes.c - the priority lanes' bookkeeping and share rule
 * (broker/lanes.c, docs/ARCHITECTURE.md "Priorities"), without a broker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "lanes.h"
#include "task.h"

#define I BK_SQE_PRIO_INTERACTIVE
#define N BK_SQE_PRIO_NORMAL
#define B BK_SQE_PRIO_BACKGROUND

static struct bk_task tasks[900];

static void fill(struct bkd_lanes *l, unsigned ni, unsigned nn, unsigned nb)
{
	memset(l, 0, sizeof(*l));
	unsigned k = 0;
	for (unsigned i = 0; i < ni; i++, k++) {
		tasks[k].prio = I;
		bkd_lanes_push(l, &tasks[k]);
	}
	for (unsigned i = 0; i < nn; i++, k++) {
		tasks[k].prio = N;
		bkd_lanes_push(l, &tasks[k]);
	}
	for (unsigned i = 0; i < nb; i++, k++) {
		tasks[k].prio = B;
		bkd_lanes_push(l, &tasks[k]);
	}
}

static void plan(unsigned ni, unsigned nn, unsigned nb, unsigned round, unsigned ti, unsigned tn, unsigned tb)
{
	struct bkd_lanes l;
	fill(&l, ni, nn, nb);
	unsigned take[BKD_LANES];
	bkd_lanes_plan(&l, round, take);
	print_message("plan %u/%u/%u of %u -> %u/%u/%u\n", ni, nn, nb, round, take[I], take[N], take[B]);
	assert_int_equal(take[I], ti);
	assert_int_equal(take[N], tn);
	assert_int_equal(take[B], tb);
}

static void test_plan_shares(void **state)
{
	(void)state;
	plan(0, 0, 0, 256, 0, 0, 0);
	plan(10, 0, 0, 256, 10, 0, 0); /* a lone lane gets what it has */
	plan(0, 0, 300, 256, 0, 0, 256); /* ...up to the round */
	plan(300, 0, 0, 256, 256, 0, 0);
	plan(300, 300, 300, 256, 160, 64, 32); /* all busy: the reserved shares, interactive the rest */
	plan(300, 0, 300, 256, 224, 0, 32);
	plan(5, 300, 300, 256, 5, 219, 32); /* interactive takes what it needs; normal then background the rest */
	plan(5, 10, 300, 256, 5, 10, 241);
	plan(300, 300, 300, 8, 5, 2, 1); /* a small round keeps the proportions */
}

static void test_fifo_within_lane(void **state)
{
	(void)state;
	struct bkd_lanes l;
	fill(&l, 3, 2, 2);
	assert_int_equal(l.queued, 7);
	/* Each lane pops in push order, and popping one lane leaves the others alone. */
	assert_ptr_equal(bkd_lanes_pop(&l, I), &tasks[0]);
	assert_ptr_equal(bkd_lanes_pop(&l, B), &tasks[5]);
	assert_ptr_equal(bkd_lanes_pop(&l, I), &tasks[1]);
	assert_ptr_equal(bkd_lanes_pop(&l, N), &tasks[3]);
	assert_ptr_equal(bkd_lanes_pop(&l, I), &tasks[2]);
	assert_null(bkd_lanes_pop(&l, I));
	assert_ptr_equal(bkd_lanes_pop(&l, N), &tasks[4]);
	assert_ptr_equal(bkd_lanes_pop(&l, B), &tasks[6]);
	assert_null(bkd_lanes_pop(&l, N));
	assert_null(bkd_lanes_pop(&l, B));
	assert_int_equal(l.queued, 0);
	/* Empty lanes take new work again from the head. */
	tasks[9].prio = B;
	bkd_lanes_push(&l, &tasks[9]);
	assert_ptr_equal(bkd_lanes_pop(&l, B), &tasks[9]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_shares),
		cmocka_unit_test(test_fifo_within_lane),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
