// SPDX-License-Identifier: MIT
/*
 * test_fleet_proc.c - unit tests of what broker-bench --fleet reads from
 * /proc: "others" is wall time x CPUs less idle, steal, the fleet and the
 * bench (never /proc/stat's tick-sampled busy columns, docs/BENCHMARKS.md,
 * "Others"), clamped at 0; and the readers agree with the kernel's own
 * figures for this process and the online CPUs.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fleet.h"
#include "proc_info.h"

static uint64_t ticks(double s)
{
	return (uint64_t)(s * (double)sysconf(_SC_CLK_TCK) + 0.5);
}

static struct bk_fleet_snap snap(double t_s, double fleet_s, double self_s, double idle_s, double steal_s, unsigned ncpu)
{
	return (struct bk_fleet_snap){ .t_ns = (int64_t)(t_s * 1e9), .stat_ns = (int64_t)(t_s * 1e9),
				       .fleet_ticks = ticks(fleet_s), .self_ticks = ticks(self_s),
				       .idle_ticks = ticks(idle_s), .steal_ticks = ticks(steal_s), .ncpu = ncpu };
}

static void test_others_from_idle_and_wall(void **state)
{
	(void)state;
	/* 2 CPUs for 10 s = 20 s; 8 s idle, 0.5 s stolen, fleet 9 s, bench 0.5 s: others 2 s. */
	struct bk_fleet_snap a = snap(100, 50, 1, 300, 2, 2), b = snap(110, 59, 1.5, 308, 2.5, 2);
	double fleet, other;
	bk_fleet_snap_diff(&a, &b, &fleet, &other);
	assert_true(fabs(fleet - 9.0) < 1e-9);
	assert_true(fabs(other - 2.0) < 1e-6);
	assert_true(fabs(bk_fleet_snap_steal(&a, &b) - 0.5) < 1e-9);
}

static void test_others_clamped_at_zero(void **state)
{
	(void)state;
	/* Idle and process times in whole ticks can add to a little more than the wall time. */
	struct bk_fleet_snap a = snap(0, 0, 0, 0, 0, 2), b = snap(1, 1.2, 0, 0.81, 0, 2);
	double fleet, other;
	bk_fleet_snap_diff(&a, &b, &fleet, &other);
	assert_true(fabs(fleet - 1.2) < 1e-9);
	assert_true(other == 0.0);
}

static void test_cpu_offlined_counts_the_fewer(void **state)
{
	(void)state;
	/* 4 CPUs, then 2: the wall time is counted for 2 (1 s), all of it the fleet's. */
	struct bk_fleet_snap a = snap(0, 0, 0, 0, 0, 4), b = snap(1, 2, 0, 0, 0, 2);
	double fleet, other;
	bk_fleet_snap_diff(&a, &b, &fleet, &other);
	assert_true(other == 0.0);
	b.fleet_ticks = ticks(1.5);
	bk_fleet_snap_diff(&a, &b, &fleet, &other);
	assert_true(fabs(other - 0.5) < 1e-6);
}

static double cpu_now(void)
{
	struct timespec ts;
	assert_int_equal(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts), 0);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_readers_match_the_kernel(void **state)
{
	(void)state;
	uint64_t idle0, steal0, idle1, steal1;
	unsigned ncpu;
	assert_int_equal(bkt_proc_stat_cpu(&idle0, &steal0, &ncpu), 0);
	assert_int_equal(ncpu, (unsigned)sysconf(_SC_NPROCESSORS_ONLN));
	pid_t self = getpid();
	struct bk_fleet_snap a, b;
	assert_int_equal(bk_fleet_snap(&self, 1, &a), 0);
	/* Burn 0.3 s of this process's CPU time (not wall time): what the snapshot must see. */
	double c0 = cpu_now();
	volatile uint64_t x = 0;
	while (cpu_now() - c0 < 0.3)
		x++;
	assert_int_equal(bk_fleet_snap(&self, 1, &b), 0);
	double fleet, other;
	bk_fleet_snap_diff(&a, &b, &fleet, &other);
	double tick = 1.0 / (double)sysconf(_SC_CLK_TCK);
	assert_true(fleet >= 0.3 - 2 * tick && fleet <= cpu_now() - c0 + 2 * tick);
	assert_true(b.stat_ns > a.stat_ns);
	assert_int_equal(bkt_proc_stat_cpu(&idle1, &steal1, &ncpu), 0);
	assert_true(idle1 >= idle0 && steal1 >= steal0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_others_from_idle_and_wall),
		cmocka_unit_test(test_others_clamped_at_zero),
		cmocka_unit_test(test_cpu_offlined_counts_the_fewer),
		cmocka_unit_test(test_readers_match_the_kernel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
