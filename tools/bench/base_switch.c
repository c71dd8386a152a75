// SPDX-License-Identifier: MIT
/*
 * base_switch.c - the price of a context switch between two processes on
 * one CPU: two children pinned to the same CPU call sched_yield() in a loop,
 * so that every yield hands the CPU to the other (a switch of address
 * space, as between a client and brokerd).  The CPU's time over the window
 * divided by the switches the kernel counted for both is what one switch,
 * with its yield, costs.  It bounds what more processes than CPUs can do
 * with one round trip each in flight (docs/BENCHMARKS.md, "Switches").
 */
#include "baselines.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <unistd.h>

#include "broker/sys.h"
#include "util.h"

struct sw_result {
	int64_t status; /* 0, or -errno */
	int64_t t0_ns, t1_ns; /* the child's own window */
	uint64_t switches; /* voluntary + involuntary, over that window */
};

static void child(int cpu, double seconds, int up, int go)
{
	struct sw_result res = { 0 };
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	char c;
	if (sched_setaffinity(0, sizeof(set), &set) != 0) {
		res.status = -errno;
		bk_write_full(up, "f", 1); /* failed: the result follows at once */
	} else if (bk_write_full(up, "r", 1) != 0 || bk_read_full(go, &c, 1) != 0) {
		res.status = -EPIPE;
	}
	if (res.status == 0) {
		uint64_t sw0 = bk_self_ctxsw();
		res.t0_ns = bk_now_ns();
		int64_t end = res.t0_ns + (int64_t)(seconds * 1e9);
		for (unsigned i = 1;; i++) {
			sched_yield();
			if ((i & 63) == 0 && bk_now_ns() >= end)
				break;
		}
		res.t1_ns = bk_now_ns();
		res.switches = bk_self_ctxsw() - sw0;
	}
	bk_write_full(up, &res, sizeof(res));
	_exit(res.status == 0 ? 0 : 1);
}

/* The first CPU this process may run on: the children are pinned there. */
static int first_cpu(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return -errno;
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &set))
			return i;
	return -ENOENT;
}

int bk_base_switch_ns(double seconds, double *ns)
{
	int cpu = first_cpu();
	if (cpu < 0)
		return cpu;
	int up[2][2] = { { -1, -1 }, { -1, -1 } }, go[2] = { -1, -1 };
	pid_t pid[2] = { 0, 0 };
	int r = pipe2(go, O_CLOEXEC) == 0 ? 0 : -errno;
	for (int i = 0; r == 0 && i < 2; i++) {
		if (pipe2(up[i], O_CLOEXEC) != 0) {
			r = -errno;
			break;
		}
		pid[i] = bk_fork_child();
		if (pid[i] == 0) {
			close(up[i][0]);
			close(go[1]);
			child(cpu, seconds, up[i][1], go[0]);
		}
		close(up[i][1]);
		up[i][1] = -1;
		if (pid[i] < 0)
			r = pid[i];
	}
	struct sw_result res[2] = { { 0 }, { 0 } };
	for (int i = 0; r == 0 && i < 2; i++) {
		char c;
		if (bk_read_full(up[i][0], &c, 1) != 0)
			r = -EPIPE;
		else if (c != 'r') {
			/* Its set-up failed: the reason follows. */
			r = -EIO;
			if (bk_read_full(up[i][0], &res[i], sizeof(res[i])) == 0 && res[i].status < 0)
				r = (int)res[i].status;
		}
	}
	/* One byte each, together: both are runnable on the CPU from the start. */
	if (r == 0 && bk_write_full(go[1], "gg", 2) != 0)
		r = -EPIPE;
	for (int i = 0; r == 0 && i < 2; i++)
		if (bk_read_full(up[i][0], &res[i], sizeof(res[i])) != 0)
			r = -EPIPE;
	for (int i = 0; r == 0 && i < 2; i++)
		if (res[i].status < 0)
			r = (int)res[i].status;
	for (int i = 0; i < 2; i++) {
		if (up[i][0] >= 0)
			close(up[i][0]);
		if (pid[i] > 0)
			bk_reap(pid[i], 2000);
	}
	close(go[0]);
	close(go[1]);
	if (r < 0)
		return r;
	/* Both share one CPU: its time is the union of their windows. */
	int64_t t0 = res[0].t0_ns < res[1].t0_ns ? res[0].t0_ns : res[1].t0_ns;
	int64_t t1 = res[0].t1_ns > res[1].t1_ns ? res[0].t1_ns : res[1].t1_ns;
	uint64_t n = res[0].switches + res[1].switches;
	if (n == 0 || t1 <= t0)
		return -EIO;
	*ns = (double)(t1 - t0) / (double)n;
	return 0;
}
