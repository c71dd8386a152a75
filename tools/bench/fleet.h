// SPDX-License-Identifier: MIT
/*
 * fleet.h - `broker-bench --fleet`: N app processes ticking every 10 ms,
 * each with its own small runtime ("private") or all through one brokerd
 * ("shared"), measured alternately in one invocation.  fleet.c runs the
 * rounds, fleet_run.c one run, fleet_proc.c reads /proc, fleet_report.c
 * prints, fleet_plot.c draws; the apps are fleet_app.h.
 */
#ifndef BK_BENCH_FLEET_H
#define BK_BENCH_FLEET_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "hist.h"

#define BK_FLEET_PERIOD_NS 10000000LL /* every app ticks every 10 ms */
#define BK_FLEET_MAX_NS 16 /* fleet sizes per invocation */
#define BK_FLEET_MAX_APPS 2000
#define BK_FLEET_MAX_ROUNDS 50

enum { BK_FLEET_PRIVATE, BK_FLEET_SHARED, BK_FLEET_KINDS };
enum { BK_FLEET_SPREAD, BK_FLEET_ALIGNED, BK_FLEET_PHASES };
extern const char *const bk_fleet_kind_names[BK_FLEET_KINDS]; /* "private", "shared" */
extern const char *const bk_fleet_phase_names[BK_FLEET_PHASES]; /* "spread", "aligned" */

/* What main.c hands over: option strings as given (NULL: not given). */
struct bk_fleet_opts {
	const char *sizes; /* --fleet N[,N...] */
	const char *phase; /* --fleet-phase spread|aligned[,...] */
	const char *seconds; /* --fleet-seconds S */
	const char *rounds; /* --fleet-rounds R */
	const char *brokerd, *moddir, *socket, *plot;
	int json, quick;
};

/* Everything one run needs (one kind, one N, one phase). */
struct bk_fleet_cfg {
	char app[BK_FLEET_KINDS][1024]; /* the app executables */
	char file[256]; /* the 4 KiB file the apps read and hash */
	const char *brokerd, *moddir, *socket;
	double seconds;
	int quick;
	int cpus;
};

/* One run's figures. */
struct bk_fleet_sample {
	double cpu_s; /* utime+stime of the apps (and brokerd) over the ticking window */
	double window_s; /* that window's length */
	double other_cpu_s; /* CPU used by everything else on the machine meanwhile */
	double steal_s; /* CPU time the hypervisor stole from the machine meanwhile (every vCPU) */
	double ctx; /* voluntary + involuntary context switches of every thread over the window */
	double threads; /* apps' threads + brokerd's */
	double pss_mib; /* apps' Pss + brokerd's */
	double ticks, late;
	int quiet; /* the machine was quiet before the run */
	struct bk_hist *hist; /* tick latencies of every app (caller's) */
};

/* A kind's figures for one N and phase, over its rounds. */
struct bk_fleet_kind {
	unsigned runs; /* measured runs (rounds that failed are not counted) */
	unsigned repeats; /* runs repeated because other load (or the host's steal) disturbed them */
	unsigned not_quiet; /* runs started on a machine that did not become quiet */
	double cpu_s, window_s, other_cpu_s, steal_s, ctx, threads, pss_mib, ticks, late; /* means per run */
	double cpu_runs[BK_FLEET_MAX_ROUNDS];
	struct bk_hist *hist; /* merged over the runs */
	struct bk_pcts p; /* of hist, ns */
};

struct bk_fleet_row {
	unsigned n;
	int phase;
	struct bk_fleet_kind k[BK_FLEET_KINDS];
};

struct bk_fleet_results {
	struct bk_fleet_row rows[BK_FLEET_MAX_NS * BK_FLEET_PHASES];
	unsigned nrows;
	int cpus;
	double loadavg;
	double seconds;
	unsigned rounds;
	int quick;
	int errors;
	char broker_desc[600];
};

/* --fleet: returns the exit status (0 every run measured, 1 some failed, 2 bad usage). */
int bk_fleet_main(const struct bk_fleet_opts *o);

/*
 * One run: start brokerd (shared, unless cfg->socket), n apps, wait for a
 * quiet machine (bounded), tick for cfg->seconds with the given phase, and
 * fill s (s->hist must be a histogram to add into).  0, or -errno with err.
 */
int bk_fleet_run(const struct bk_fleet_cfg *cfg, int kind, unsigned n, int phase, struct bk_fleet_sample *s,
		 char *err, size_t errlen);

/* /proc readers (fleet_proc.c). */
struct bk_fleet_snap {
	int64_t t_ns;
	uint64_t fleet_ticks; /* utime+stime of the watched processes (clock ticks) */
	uint64_t self_ticks; /* of broker-bench itself */
	uint64_t ctx; /* context switches of the watched processes' threads */
	int64_t stat_ns; /* when /proc/stat was read */
	uint64_t idle_ticks, steal_ticks; /* /proc/stat, every CPU: idle + iowait, stolen by the hypervisor */
	unsigned ncpu; /* online CPUs */
};
int bk_fleet_snap(const pid_t *pids, unsigned n, struct bk_fleet_snap *s);
/* CPU seconds the watched processes used between a and b, and what the rest of the machine used. */
void bk_fleet_snap_diff(const struct bk_fleet_snap *a, const struct bk_fleet_snap *b, double *fleet_s, double *other_s);
/* CPU seconds the hypervisor took from this machine (every vCPU) between a and b. */
double bk_fleet_snap_steal(const struct bk_fleet_snap *a, const struct bk_fleet_snap *b);
/* Sum of Pss (KiB, /proc/PID/smaps_rollup) and of Threads (/proc/PID/status) over pids. */
int bk_fleet_mem_threads(const pid_t *pids, unsigned n, uint64_t *pss_kib, uint64_t *threads);

void bk_fleet_print_table(FILE *f, const struct bk_fleet_results *r);
void bk_fleet_print_json(FILE *f, const struct bk_fleet_results *r);
/* CPU and p99 against N, private and shared, into png.  0, or -errno with a reason in err. */
int bk_fleet_plot(const struct bk_fleet_results *r, const char *png, char *err, size_t errlen);

#endif
