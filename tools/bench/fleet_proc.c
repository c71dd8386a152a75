// SPDX-License-Identifier: MIT
/*
 * fleet_proc.c - what the fleet runs read from /proc: CPU time and context
 * switches of a set of processes (tools/common/proc_info.c's readers, summed), the
 * whole machine's busy time and the time the hypervisor stole from it
 * (/proc/stat, to tell how much CPU other work took), Pss and thread counts.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proc_info.h"
#include "fleet.h"
#include "util.h"

int bk_fleet_snap(const pid_t *pids, unsigned n, struct bk_fleet_snap *s)
{
	memset(s, 0, sizeof(*s));
	s->t_ns = bk_now_ns();
	for (unsigned i = 0; i < n; i++) {
		uint64_t t, c;
		int e = bkt_proc_cpu_ticks(pids[i], &t);
		if (e == 0)
			e = bkt_proc_ctxsw(pids[i], &c);
		if (e < 0)
			return e;
		s->fleet_ticks += t;
		s->ctx += c;
	}
	int e = bkt_proc_cpu_ticks(getpid(), &s->self_ticks);
	s->stat_ns = bk_now_ns();
	return e < 0 ? e : bkt_proc_stat_cpu(&s->idle_ticks, &s->steal_ticks, &s->ncpu);
}

/*
 * What the rest of the machine used: the CPUs' time that was neither idle
 * nor stolen, less the fleet's and our own.  Busy time comes from wall time
 * and the exact idle time, not from /proc/stat's busy columns, which sample
 * at ticks: with a fleet of sleepers waking for bursts of tens of µs they
 * summed to 1.12 x the wall time, and the excess showed as 16 % "others" on
 * a machine running nothing else (docs/BENCHMARKS.md, "Others").
 */
void bk_fleet_snap_diff(const struct bk_fleet_snap *a, const struct bk_fleet_snap *b, double *fleet_s, double *other_s)
{
	double hz = (double)sysconf(_SC_CLK_TCK);
	*fleet_s = (double)(b->fleet_ticks - a->fleet_ticks) / hz;
	double self = (double)(b->self_ticks - a->self_ticks) / hz;
	unsigned ncpu = a->ncpu < b->ncpu ? a->ncpu : b->ncpu; /* a CPU taken offline meanwhile: count the fewer */
	double wall = (double)ncpu * (double)(b->stat_ns - a->stat_ns) / 1e9;
	double idle = (double)(b->idle_ticks - a->idle_ticks) / hz;
	double busy = wall - idle - bk_fleet_snap_steal(a, b);
	/* Idle time and process times advance in ticks of 1/hz: clamp the difference at 0. */
	double other = busy - *fleet_s - self;
	*other_s = other > 0 ? other : 0;
}

/*
 * Steal is counted on its own and kept out of "other": a stolen tick is
 * neither idle nor any task's, and it is the host's load, not another
 * process's; the host takes our vCPUs for milliseconds at a time, which
 * moves tails more than its share of CPU time says (docs/BENCHMARKS.md,
 * "Steal").
 */
double bk_fleet_snap_steal(const struct bk_fleet_snap *a, const struct bk_fleet_snap *b)
{
	return b->steal_ticks > a->steal_ticks ? (double)(b->steal_ticks - a->steal_ticks) / (double)sysconf(_SC_CLK_TCK)
					       : 0;
}

static int read_kib(const char *path, const char *key, uint64_t *v)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	char line[256];
	size_t kl = strlen(key);
	int r = -EIO;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long x;
		if (!strncmp(line, key, kl) && sscanf(line + kl, "%llu", &x) == 1) {
			*v = x;
			r = 0;
			break;
		}
	}
	fclose(f);
	return r;
}

int bk_fleet_mem_threads(const pid_t *pids, unsigned n, uint64_t *pss_kib, uint64_t *threads)
{
	*pss_kib = *threads = 0;
	for (unsigned i = 0; i < n; i++) {
		char p[64];
		uint64_t v;
		snprintf(p, sizeof(p), "/proc/%d/smaps_rollup", (int)pids[i]);
		int e = read_kib(p, "Pss:", &v);
		if (e < 0)
			return e;
		*pss_kib += v;
		snprintf(p, sizeof(p), "/proc/%d/status", (int)pids[i]);
		if ((e = read_kib(p, "Threads:", &v)) < 0)
			return e;
		*threads += v;
	}
	return 0;
}
