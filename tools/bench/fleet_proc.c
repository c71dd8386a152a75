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
	return e < 0 ? e : bkt_proc_stat_cpu(&s->busy_ticks, &s->total_ticks, &s->steal_ticks);
}

void bk_fleet_snap_diff(const struct bk_fleet_snap *a, const struct bk_fleet_snap *b, double *fleet_s, double *other_s)
{
	double hz = (double)sysconf(_SC_CLK_TCK);
	double fleet = (double)(b->fleet_ticks - a->fleet_ticks);
	double self = (double)(b->self_ticks - a->self_ticks);
	double busy = (double)(b->busy_ticks - a->busy_ticks);
	*fleet_s = fleet / hz;
	/* /proc/stat is sampled per tick while process times are exact: clamp the difference at 0. */
	double other = busy - fleet - self;
	*other_s = other > 0 ? other / hz : 0;
}

/*
 * Steal is counted on its own: "other" cannot show it.  A stolen tick is
 * charged to no task, yet busy - fleet - self still clamps to 0: the
 * fleet's own CPU time is exact while /proc/stat samples at ticks, and
 * apps that wake right after each 10 ms boundary are under-sampled, so the
 * difference hides the steal even while the host takes our vCPUs for
 * milliseconds at a time (docs/BENCHMARKS.md, "Steal").
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
