// SPDX-License-Identifier: MIT
/*
 * main.c - broker-bench: measure brokerd against the physical limits and
 * the alternatives in one run (docs/ARCHITECTURE.md, "Measuring").
 * Orchestrates the phases (baselines, one brokerd per wake-up mode, the
 * throughput and cost figures) and hands the figures to report.c / plot.c.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "baselines.h"
#include "bk_config.h"
#include "broker_runs.h"
#include "brokerd_proc.h"
#include "fleet.h"
#include "prio.h"
#include "paths.h"
#include "proc_info.h"
#include "results.h"
#include "syscount.h"
#include "util.h"

#define SPIN_CLIENT_NS 1000000000LL /* "large": a waiting client never gets to sleep */
#define SPIN_BROKER_US "1000000" /* likewise for brokerd's workers */

struct opts {
	const char *socket, *brokerd, *moddir, *plot;
	const char *fleet, *fleet_phase, *fleet_seconds, *fleet_rounds; /* parsed by fleet.c */
	char default_brokerd[PATH_MAX];
	int json, quick, no_baselines, priority;
	long long samples, warmup, samples_given;
	double seconds, idle_seconds;
};

static void usage(FILE *f)
{
	char brokerd[PATH_MAX];
	fprintf(f,
		"usage: broker-bench [options]\n"
		"Measure brokerd's round-trip latency and pipelined throughput of echo.noop\n"
		"against baselines (shared-memory and futex ping-pong, the futex ping-pong with\n"
		"a server sleeping in io_uring as a worker does, Unix SEQPACKET socket, pipes,\n"
		"ZeroMQ when built with it), all in one run.\n\n"
		"  --socket PATH       use the brokerd at PATH instead of starting our own\n"
		"                      (its worker spinning is then whatever it was started with)\n"
		"  --brokerd PATH      brokerd to start (default: %s)\n"
		"  --module-dir DIR    module folder for that brokerd (default: its own)\n"
		"  --json              print the figures as JSON instead of the table\n"
		"  --plot FILE.png     draw latency CDFs with gnuplot\n"
		"  --quick             small sample counts and short phases (for tests)\n"
		"  --samples N         latency samples per figure (default 200000)\n"
		"  --seconds S         duration of each throughput figure (default 2)\n"
		"  --idle-seconds S    how long brokerd's idle CPU is watched (default 5)\n"
		"  --no-baselines      skip the baselines\n"
		"  --quiet             no progress lines on stderr\n"
		"  --fleet N[,N...]    instead: N app processes ticking every 10 ms (8 tasks a tick), each\n"
		"                      with its own runtime, then all through one brokerd, alternately;\n"
		"                      threads, PSS, CPU, context switches, tick latency and their ratios\n"
		"                      (--json, and --plot draws CPU and p99 against N)\n"
		"  --fleet-phase P     spread (app i ticks i/N of a period later; default), aligned (all\n"
		"                      on the same 10 ms boundaries) or spread,aligned\n"
		"  --fleet-seconds S   ticking time of each run (default 10, --quick 1)\n"
		"  --fleet-rounds R    private+shared rounds (default 2, --quick 1)\n"
		"  --priority          instead: interactive round trips alone, then beside a flood of\n"
		"                      bulk calls in the background lane, then in the normal lane\n"
		"                      (one worker; --samples per phase, default 50000)\n"
		"  --help              this text\n"
		"  --version           the version\n\n"
		"Syscalls per task are counted with BPF (built in) only when running as root.\n"
		"Exit status: 0 all figures measured, 1 a phase failed, 2 bad usage.\n",
		bk_tool_default_brokerd(brokerd, sizeof(brokerd)));
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	enum { O_SOCKET = 256, O_BROKERD, O_MODDIR, O_JSON, O_PLOT, O_QUICK, O_SAMPLES, O_SECONDS, O_IDLE, O_NOBASE,
	       O_QUIET, O_HELP, O_VERSION, O_FLEET, O_FLEET_PHASE, O_FLEET_SECONDS, O_FLEET_ROUNDS, O_PRIORITY };
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, O_SOCKET },
		{ "brokerd", required_argument, NULL, O_BROKERD },
		{ "module-dir", required_argument, NULL, O_MODDIR },
		{ "json", no_argument, NULL, O_JSON },
		{ "plot", required_argument, NULL, O_PLOT },
		{ "quick", no_argument, NULL, O_QUICK },
		{ "samples", required_argument, NULL, O_SAMPLES },
		{ "seconds", required_argument, NULL, O_SECONDS },
		{ "idle-seconds", required_argument, NULL, O_IDLE },
		{ "no-baselines", no_argument, NULL, O_NOBASE },
		{ "quiet", no_argument, NULL, O_QUIET },
		{ "help", no_argument, NULL, O_HELP },
		{ "version", no_argument, NULL, O_VERSION },
		{ "fleet", required_argument, NULL, O_FLEET },
		{ "fleet-phase", required_argument, NULL, O_FLEET_PHASE },
		{ "fleet-seconds", required_argument, NULL, O_FLEET_SECONDS },
		{ "fleet-rounds", required_argument, NULL, O_FLEET_ROUNDS },
		{ "priority", no_argument, NULL, O_PRIORITY },
		{ NULL, 0, NULL, 0 },
	};
	double samples = -1, seconds = -1, idle = -1;
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case O_SOCKET: o->socket = optarg; break;
		case O_BROKERD: o->brokerd = optarg; break;
		case O_MODDIR: o->moddir = optarg; break;
		case O_JSON: o->json = 1; break;
		case O_PLOT: o->plot = optarg; break;
		case O_QUICK: o->quick = 1; break;
		case O_SAMPLES:
			if (bk_parse_num("--samples", optarg, 1, 1e9, &samples))
				return -EINVAL;
			break;
		case O_SECONDS:
			if (bk_parse_num("--seconds", optarg, 0.01, 3600, &seconds))
				return -EINVAL;
			break;
		case O_IDLE:
			if (bk_parse_num("--idle-seconds", optarg, 0.1, 3600, &idle))
				return -EINVAL;
			break;
		case O_NOBASE: o->no_baselines = 1; break;
		case O_QUIET: bk_bench_quiet = 1; break;
		case O_HELP: usage(stdout); exit(0);
		case O_VERSION: printf("broker-bench %s\n", BK_VERSION); exit(0);
		case O_FLEET: o->fleet = optarg; break;
		case O_FLEET_PHASE: o->fleet_phase = optarg; break;
		case O_FLEET_SECONDS: o->fleet_seconds = optarg; break;
		case O_FLEET_ROUNDS: o->fleet_rounds = optarg; break;
		case O_PRIORITY: o->priority = 1; break;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "broker-bench: unexpected argument '%s' (see --help)\n", argv[optind]);
		return -EINVAL;
	}
	o->samples_given = samples > 0 ? (long long)samples : 0;
	o->samples = samples > 0 ? (long long)samples : o->quick ? 3000 : 200000;
	o->warmup = o->quick ? 500 : 20000;
	o->seconds = seconds > 0 ? seconds : o->quick ? 0.2 : 2.0;
	o->idle_seconds = idle > 0 ? idle : o->quick ? 0.5 : 5.0;
	if (!o->brokerd)
		o->brokerd = bk_tool_default_brokerd(o->default_brokerd, sizeof(o->default_brokerd));
	return 0;
}

static void phase_failed(struct bk_results *r, const char *what, const char *why)
{
	fprintf(stderr, "broker-bench: %s failed: %s\n", what, why);
	r->errors++;
}

static void run_baselines(const struct opts *o, struct bk_results *r)
{
	typedef int (*base_fn)(const struct bk_rtt_cfg *, struct bk_hist *);
	static const base_fn fns[BK_NBASES] = { bk_base_shm_spin, bk_base_futex, bk_base_uds_rtt, bk_base_pipe_rtt,
						bk_base_zmq_rtt, NULL /* io_uring: interleaved only */ };
	for (int b = 0; b < BK_NBASES; b++) {
		if (!fns[b] || b == BK_BASE_SHM || b == BK_BASE_FUTEX || b == BK_BASE_UDS)
			continue; /* measured interleaved with the broker mode they are compared with */
		struct bk_rtt_cfg cfg = { (uint64_t)o->warmup, (uint64_t)o->samples, bk_base_labels[b] };
		if (b == BK_BASE_ZMQ && cfg.samples > 50000)
			cfg.samples = 50000; /* ~50 us each: keep the run short */
		bk_progress("baseline %s: %llu round trips", bk_base_labels[b], (unsigned long long)cfg.samples);
		int e = fns[b](&cfg, r->base[b]);
		if (e == -ENOTSUP) {
			bk_progress("  skipped: built without libzmq");
			continue;
		}
		if (e < 0) {
			phase_failed(r, bk_base_labels[b], strerror(-e));
			bk_hist_init(r->base[b]);
			continue;
		}
		bk_hist_summary(r->base[b], &r->base_p[b]);
	}
	bk_progress("baseline context switch (two processes yielding on one CPU): %.1f s", o->seconds / 2);
	double sw;
	int se = bk_base_switch_ns(o->seconds / 2, &sw);
	if (se < 0)
		phase_failed(r, "context switch baseline", strerror(-se));
	else
		r->switch_ns = (struct bk_figure){ 1, sw };
	bk_progress("baseline unix seqpacket, window 256: %.1f s", o->seconds);
	double tps;
	int e = bk_base_uds_tps(256, o->seconds, &tps);
	if (e < 0)
		phase_failed(r, "unix seqpacket window 256", strerror(-e));
	else
		r->uds_tps_w256 = (struct bk_figure){ 1, tps };
}

/* Cost counters around the timed part of the 1-client window-256 run. */
struct costs {
	struct bk_results *r;
	struct bk_syscount *sc;
	pid_t broker;
	uint64_t self0; /* bk_self_ctxsw at the start */
	uint64_t bctx0;
	int bctx_ok;
};

static void costs_begin(void *arg)
{
	struct costs *c = arg;
	if (c->sc && (bk_syscount_watch(c->sc, getpid()) < 0 || (c->broker > 0 && bk_syscount_watch(c->sc, c->broker) < 0))) {
		snprintf(c->r->syscalls_note, sizeof(c->r->syscalls_note), "BPF map update failed");
		bk_syscount_close(c->sc);
		c->sc = NULL;
	}
	c->self0 = bk_self_ctxsw();
	c->bctx_ok = c->broker > 0 && bkt_proc_ctxsw(c->broker, &c->bctx0) == 0;
}

static void costs_end(void *arg, uint64_t tasks)
{
	struct costs *c = arg;
	struct bk_results *r = c->r;
	if (!tasks)
		return;
	double t = (double)tasks;
	if (c->sc) {
		int64_t a = bk_syscount_read(c->sc, getpid());
		int64_t b = c->broker > 0 ? bk_syscount_read(c->sc, c->broker) : -ESRCH;
		if (a >= 0 && b >= 0) {
			r->syscalls_client = (struct bk_figure){ 1, (double)a / t };
			r->syscalls_broker = (struct bk_figure){ 1, (double)b / t };
			r->syscalls_per_task = (struct bk_figure){ 1, (double)(a + b) / t };
		} else {
			snprintf(r->syscalls_note, sizeof(r->syscalls_note), "reading the BPF counters failed");
		}
	}
	uint64_t bctx1;
	double self = (double)(bk_self_ctxsw() - c->self0);
	if (c->bctx_ok && bkt_proc_ctxsw(c->broker, &bctx1) == 0) {
		r->ctxsw_client = (struct bk_figure){ 1, self / t };
		r->ctxsw_broker = (struct bk_figure){ 1, (double)(bctx1 - c->bctx0) / t };
		r->ctxsw_per_task = (struct bk_figure){ 1, (self + (double)(bctx1 - c->bctx0)) / t };
	}
}

/* The figures measured against the adaptive (default) broker at `sock`. */
static void run_throughput(const struct opts *o, struct bk_results *r, const char *sock, pid_t broker,
			   struct bk_syscount *sc)
{
	char err[512];
	for (int w = 0; w < BK_NWINDOWS; w++) {
		bk_progress("broker throughput, window %u, 1 client: %.1f s", bk_windows[w], o->seconds);
		struct costs c = { .r = r, .sc = sc, .broker = broker };
		struct bk_phase_hooks hk = { costs_begin, costs_end, &c };
		double tps;
		int e = bk_broker_tps(sock, bk_windows[w], o->seconds, bk_windows[w] == 256 ? &hk : NULL, &tps, err,
				      sizeof(err));
		if (e < 0)
			phase_failed(r, "broker throughput", err);
		else
			r->tps[w] = (struct bk_figure){ 1, tps };
	}
	for (int w = 0; w < BK_NWINDOWS; w++) {
		bk_progress("broker throughput, window %u, 4 client processes: %.1f s", bk_windows[w], o->seconds);
		double tps, ctxsw;
		int e = bk_broker_tps_multi(sock, broker, bk_windows[w], 4, o->seconds, &tps, &ctxsw, err, sizeof(err));
		if (e < 0) {
			phase_failed(r, "broker throughput (4 clients)", err);
		} else {
			r->tps_c4[w] = (struct bk_figure){ 1, tps };
			if (broker > 0)
				r->ctxsw_c4[w] = (struct bk_figure){ 1, ctxsw };
		}
	}
	if (broker > 0) {
		bk_progress("brokerd idle CPU over %.1f s (one client connected, idle)", o->idle_seconds);
		double pct;
		int e = bk_broker_idle_cpu(sock, broker, o->idle_seconds, &pct, err, sizeof(err));
		if (e < 0)
			phase_failed(r, "idle CPU", err);
		else
			r->idle_cpu_pct = (struct bk_figure){ 1, pct };
	}
}

/*
 * The baselines each broker mode is compared with (-1: none).  They are
 * measured interleaved with the mode, in INTERLEAVE_ROUNDS rounds, so that a
 * ratio never compares two different moments of this machine (run_baselines
 * measures the others on their own).
 */
#define MODE_BASES 3
static const int mode_bases[BK_NMODES][MODE_BASES] = {
	{ BK_BASE_SHM, -1, -1 },
	{ BK_BASE_FUTEX, BK_BASE_URING, BK_BASE_UDS },
	{ -1, -1, -1 },
};
#define INTERLEAVE_ROUNDS 20

static int base_open(int kind, struct bk_base_run *run)
{
	if (kind == BK_BASE_SHM || kind == BK_BASE_FUTEX || kind == BK_BASE_URING)
		return bk_base_shm_open(kind == BK_BASE_URING ? BK_SHM_URING : kind == BK_BASE_FUTEX, run);
	return bk_base_uds_open(kind == BK_BASE_UDS, run);
}

/* The mode's p50 over each baseline's, round by round, the median of the rounds (src[0] is the mode). */
static void round_ratios(struct bk_results *r, int mode, const int *kinds, unsigned n,
			 double p50[][INTERLEAVE_ROUNDS], unsigned rounds)
{
	r->interleave_rounds = rounds;
	for (unsigned i = 1; i < n; i++) {
		double m = bk_median_ratio(p50[0], p50[i], rounds);
		if (isfinite(m) && r->rtt_p[mode].valid && r->base_p[kinds[i]].valid)
			r->rtt_round_ratio[mode][kinds[i]] = (struct bk_figure){ 1, m };
	}
}

static void run_mode_rtt(const struct opts *o, struct bk_results *r, int mode, const char *sock)
{
	static const int64_t client_spin[BK_NMODES] = { SPIN_CLIENT_NS, 0, -1 };
	struct bk_rtt_cfg cfg = { (uint64_t)o->warmup, (uint64_t)o->samples, bk_mode_names[mode] };
	struct bk_rtt_source src[1 + MODE_BASES];
	struct bk_base_run base[MODE_BASES];
	int kinds[1 + MODE_BASES] = { -1, -1, -1, -1 };
	double round_p50[1 + MODE_BASES][INTERLEAVE_ROUNDS];
	unsigned rounds = o->quick ? 4 : INTERLEAVE_ROUNDS, n = 0;
	char err[512];
	struct bk_broker_rtt *brt;
	int e = bk_broker_rtt_open(sock, client_spin[mode], &brt, err, sizeof(err));
	if (e < 0) {
		phase_failed(r, bk_mode_names[mode], err);
		return;
	}
	src[n] = (struct bk_rtt_source){ .rt = bk_broker_rtt_fn(), .ctx = brt, .h = r->rtt[mode],
					 .label = bk_mode_names[mode], .round_p50 = round_p50[n] };
	n++;
	for (int i = 0; i < MODE_BASES && !o->no_baselines; i++) {
		int k = mode_bases[mode][i];
		if (k < 0)
			continue;
		struct bk_base_run *b = &base[n - 1];
		int eb = base_open(k, b);
		if (eb == -ENOTSUP && k == BK_BASE_URING) {
			bk_progress("  %s skipped: io_uring futex requests are not available here (Linux 6.7+, io_uring "
				    "enabled)", bk_base_labels[k]);
			continue;
		}
		if (eb < 0) {
			phase_failed(r, bk_base_labels[k], strerror(-eb));
			continue;
		}
		kinds[n] = k;
		src[n] = (struct bk_rtt_source){ .rt = b->rt, .ctx = b->ctx, .h = r->base[k], .label = bk_base_labels[k],
						 .round_p50 = round_p50[n] };
		n++;
	}
	bk_progress("broker round trips, %s mode: %llu samples%s", bk_mode_names[mode], (unsigned long long)o->samples,
		    n > 1 ? ", interleaved with its baselines" : "");
	int failed = -1;
	e = bk_measure_rtt_interleaved(src, n, &cfg, rounds, &failed);
	if (bk_broker_rtt_close(brt, failed == 0 ? e : 0, err, sizeof(err)) < 0) {
		phase_failed(r, bk_mode_names[mode], err);
		bk_hist_init(r->rtt[mode]);
	} else {
		bk_hist_summary(r->rtt[mode], &r->rtt_p[mode]);
	}
	for (unsigned i = 1; i < n; i++) {
		int eb = base[i - 1].close(&base[i - 1], failed == (int)i ? e : 0);
		if (eb < 0) {
			phase_failed(r, bk_base_labels[kinds[i]], strerror(-eb));
			bk_hist_init(r->base[kinds[i]]);
		} else {
			bk_hist_summary(r->base[kinds[i]], &r->base_p[kinds[i]]);
		}
	}
	if (e == 0)
		round_ratios(r, mode, kinds, n, round_p50, rounds);
}

static void run_broker(const struct opts *o, struct bk_results *r)
{
	char note[256] = "";
	struct bk_syscount *sc = NULL;
	if (bk_syscount_open(&sc, note, sizeof(note)) < 0) {
		snprintf(r->syscalls_note, sizeof(r->syscalls_note), "%s", note);
		bk_progress("syscalls per task will not be counted: %s", note);
	}
	if (o->socket) {
		pid_t pid = bkt_socket_peer_pid(o->socket);
		for (int m = 0; m < BK_NMODES; m++)
			run_mode_rtt(o, r, m, o->socket);
		if (pid < 0)
			bk_progress("cannot find brokerd's pid (SO_PEERCRED): no cost or idle figures");
		run_throughput(o, r, o->socket, pid, sc);
		bk_syscount_close(sc);
		return;
	}
	/* One brokerd per mode: the worker's spinning is a brokerd flag.  The spin
	 * mode gets one worker so that spinning workers cannot outnumber the cores. */
	static const char *const flags[BK_NMODES][6] = {
		{ "--spin-us", SPIN_BROKER_US, "--spin-policy", "always", "--workers", "1" },
		{ "--spin-us", "0", NULL, NULL, NULL, NULL },
		{ NULL, NULL, NULL, NULL, NULL, NULL },
	};
	for (int m = 0; m < BK_NMODES; m++) {
		struct bkt_brokerd b;
		char err[1024];
		int e = bkt_brokerd_init(&b, o->brokerd, o->moddir, BKT_BROKERD_DIE_WITH_PARENT | BKT_BROKERD_OWN_PGRP);
		for (int i = 0; e == 0 && i < 6 && flags[m][i]; i++)
			e = bkt_brokerd_arg(&b, flags[m][i]);
		if (e < 0) {
			phase_failed(r, "preparing brokerd", strerror(-e));
			bkt_brokerd_cleanup(&b, 0);
			continue;
		}
		bk_progress("starting %s for %s mode", o->brokerd, bk_mode_names[m]);
		e = bkt_brokerd_start(&b, NULL, err, sizeof(err));
		if (e < 0) {
			phase_failed(r, "starting brokerd", err);
			bkt_brokerd_cleanup(&b, 0);
			continue;
		}
		run_mode_rtt(o, r, m, b.socket);
		if (m == BK_MODE_ADAPTIVE)
			run_throughput(o, r, b.socket, b.pid, sc);
		e = bkt_brokerd_stop(&b, 10000);
		if (e != 0) {
			char tail[512];
			bkt_brokerd_log_tail(&b, tail, sizeof(tail));
			snprintf(err, sizeof(err), "brokerd did not exit 0 on SIGTERM (%d); its log ends:\n%s", e, tail);
			phase_failed(r, "stopping brokerd", err);
		}
		bkt_brokerd_cleanup(&b, 10000);
	}
	bk_syscount_close(sc);
}

/* Every phase, and what the host stole meanwhile: a vCPU taken for milliseconds moves tails and ratios. */
static void run_all(const struct opts *o, struct bk_results *r)
{
	/* The fleet's snapshot of the machine, with no process to watch: its steal is the same figure. */
	struct bk_fleet_snap a, b;
	int st = bk_fleet_snap(NULL, 0, &a);
	if (!o->no_baselines)
		run_baselines(o, r);
	run_broker(o, r);
	if (st == 0)
		st = bk_fleet_snap(NULL, 0, &b);
	r->wall_s = (double)(bk_now_ns() - a.t_ns) / 1e9;
	r->steal_s = st == 0 ? bk_fleet_snap_steal(&a, &b) : -1;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	if (parse_args(argc, argv, &o) < 0)
		return 2;
	if (o.fleet) {
		struct bk_fleet_opts fo = { o.fleet, o.fleet_phase, o.fleet_seconds, o.fleet_rounds, o.brokerd,
					    o.moddir, o.socket, o.plot, o.json, o.quick };
		return bk_fleet_main(&fo);
	}
	if (o.priority) {
		struct bk_prio_opts po = { o.brokerd, o.moddir, (uint64_t)o.samples_given, o.json, o.quick,
					   bk_bench_quiet };
		return bk_prio_main(&po);
	}
	if (o.fleet_phase || o.fleet_seconds || o.fleet_rounds) {
		fprintf(stderr, "broker-bench: --fleet-phase/--fleet-seconds/--fleet-rounds need --fleet\n");
		return 2;
	}
	struct bk_results *r = calloc(1, sizeof(*r));
	if (!r)
		return 1;
	for (int i = 0; i < BK_NMODES; i++)
		if (!(r->rtt[i] = malloc(sizeof(struct bk_hist))))
			return 1;
	for (int i = 0; i < BK_NBASES; i++)
		if (!(r->base[i] = malloc(sizeof(struct bk_hist))))
			return 1;
	for (int i = 0; i < BK_NMODES; i++)
		bk_hist_init(r->rtt[i]);
	for (int i = 0; i < BK_NBASES; i++)
		bk_hist_init(r->base[i]);
	r->quick = o.quick;
	r->own_broker = o.socket == NULL;
	r->samples = (unsigned long long)o.samples;
	r->tps_seconds = o.seconds;
	r->idle_seconds = o.idle_seconds;
	r->cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
	double la[1];
	r->loadavg = getloadavg(la, 1) == 1 ? la[0] : -1;
	if (o.socket)
		snprintf(r->broker_desc, sizeof(r->broker_desc), "brokerd at %s (not started by the bench)", o.socket);
	else
		snprintf(r->broker_desc, sizeof(r->broker_desc), "own brokerd %s, modules %s", o.brokerd,
			 o.moddir ? o.moddir : "(its default)");
	snprintf(r->syscalls_note, sizeof(r->syscalls_note), "not measured");

	run_all(&o, r);
	if (o.json)
		bk_print_json(stdout, r);
	else
		bk_print_table(stdout, r);
	fflush(stdout);
	if (o.plot) {
		char err[512];
		if (bk_plot(r, o.plot, err, sizeof(err)) < 0) {
			fprintf(stderr, "broker-bench: --plot: %s\n", err);
			r->errors++;
		} else {
			fprintf(stderr, "broker-bench: latency CDFs drawn in %s\n", o.plot);
		}
	}
	int status = r->errors ? 1 : 0;
	for (int i = 0; i < BK_NMODES; i++)
		free(r->rtt[i]);
	for (int i = 0; i < BK_NBASES; i++)
		free(r->base[i]);
	free(r);
	return status;
}
