// SPDX-License-Identifier: MIT
/*
 * results.h - every figure one broker-bench run produces, filled by main.c
 * and printed by report.c (table, JSON) and plot.c (gnuplot CDFs).
 * A figure that could not be measured has ok == 0 and prints as null.
 */
#ifndef BK_BENCH_RESULTS_H
#define BK_BENCH_RESULTS_H

#include <stdio.h>

#include "hist.h"

enum { BK_MODE_SPIN, BK_MODE_SLEEP, BK_MODE_ADAPTIVE, BK_NMODES };
enum { BK_BASE_SHM, BK_BASE_FUTEX, BK_BASE_UDS, BK_BASE_PIPE, BK_BASE_ZMQ, BK_BASE_URING, BK_NBASES };
enum { BK_W1, BK_W16, BK_W256, BK_NWINDOWS };

extern const char *const bk_mode_names[BK_NMODES]; /* "spin", ... (JSON keys) */
extern const char *const bk_base_keys[BK_NBASES]; /* "shm_spin_rtt_ns", ... (JSON keys) */
extern const char *const bk_base_labels[BK_NBASES]; /* human names */
extern const unsigned bk_windows[BK_NWINDOWS];

struct bk_figure {
	int ok;
	double v;
};

struct bk_results {
	struct bk_hist *rtt[BK_NMODES];
	struct bk_pcts rtt_p[BK_NMODES];
	struct bk_hist *base[BK_NBASES];
	struct bk_pcts base_p[BK_NBASES];
	/* Each mode's p50 over a baseline's, taken round by round of the interleaving, the median of the rounds. */
	struct bk_figure rtt_round_ratio[BK_NMODES][BK_NBASES];
	unsigned interleave_rounds;
	struct bk_figure tps[BK_NWINDOWS]; /* 1 client */
	struct bk_figure tps_c4[BK_NWINDOWS]; /* 4 client processes */
	struct bk_figure ctxsw_c4[BK_NWINDOWS]; /* their context switches per task, clients + brokerd */
	struct bk_figure switch_ns; /* baseline: one context switch between two processes on one CPU */
	struct bk_figure uds_tps_w256;
	struct bk_figure syscalls_per_task, syscalls_client, syscalls_broker;
	char syscalls_note[256];
	struct bk_figure ctxsw_per_task, ctxsw_client, ctxsw_broker;
	struct bk_figure idle_cpu_pct;
	double idle_seconds;
	/* run description */
	int quick;
	int own_broker; /* 0 when --socket was given */
	unsigned long long samples;
	double tps_seconds;
	int cpus;
	double loadavg; /* 1-minute load average when the run started: other work on the machine skews every figure */
	double wall_s; /* the whole run, baselines included */
	double steal_s; /* CPU time the hypervisor stole from the machine meanwhile (every CPU); -1 unread */
	char broker_desc[600];
	int errors; /* phases that failed */
};

/* A goal: met 1, missed 0, unknown -1 (a figure missing). */
struct bk_goal {
	const char *key;
	const char *text;
	int met;
	char detail[96];
};
#define BK_NGOALS (7 + BK_NWINDOWS)
void bk_eval_goals(const struct bk_results *r, struct bk_goal g[BK_NGOALS]);

void bk_print_table(FILE *f, const struct bk_results *r);
void bk_print_json(FILE *f, const struct bk_results *r);
/* Draw latency CDFs into png with gnuplot.  0, or -errno with a reason in err. */
int bk_plot(const struct bk_results *r, const char *png, char *err, size_t errlen);
/* plot.c's helpers, shared with fleet_plot.c: an executable on $PATH, and gnuplot run on a script (its
 * messages go to our stderr, bounded to 60 s).  0 or -errno. */
int bk_find_in_path(const char *name, char *out, size_t len);
int bk_run_gnuplot(const char *bin, const char *script);
/* Before a plot: gnuplot's path into bin, a png name gnuplot can quote, and the temporary folder dir
 * (a mkdtemp template, filled in).  0, or -errno with the reason in err. */
int bk_plot_begin(const char *png, char *bin, size_t binlen, char *dir, char *err, size_t errlen);

#endif
