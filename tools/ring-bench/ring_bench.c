// SPDX-License-Identifier: MIT
/*
 * ring-bench - micro-benchmark of the shared-region rings across a process
 * boundary (fork), next to a plain shared-memory baseline measured in the
 * same run:
 *   - round-trip time of a plain cache-line ping-pong (both spinning),
 *   - round-trip time of one ring entry with both sides spinning, and with
 *     both sides sleeping (need_wakeup + futex protocol),
 *   - pipelined throughput with single entries (one publish, one fetch, one
 *     flush per entry) and with batches of 32.
 * The "broker" child runs the real broker engine (bkd_conn_rings: validated
 * fetch, complete, flush); the parent is the client (ring.h producer and
 * consumer).  Entries carry no payload: this measures the ring protocol.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bk_config.h"
#include "broker/ring.h"
#include "broker/sys.h"
#include "conn_rings.h"
#include "region.h"

#define NSLOTS 1024u
#define SQ_ENTRIES 1024u
#define CHILD_CPU 1
#define PARENT_CPU 0

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static int g_ncpu;
static pid_t g_child; /* the broker child of the running measurement */
static int64_t g_give_up_ns;

/* Client and broker on different CPUs when there are two; a no-op otherwise. */
static void pin(int cpu)
{
	if (g_ncpu < 2)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu % g_ncpu, &set);
	sched_setaffinity(0, sizeof(set), &set); /* best effort: a restricted cpuset only costs precision */
}

static void unpin(void)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	for (int i = 0; i < g_ncpu && i < CPU_SETSIZE; i++)
		CPU_SET(i, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static pid_t fork_child(void)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		perror("ring-bench: fork");
		exit(1);
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pin(CHILD_CPU);
		return 0;
	}
	g_child = pid;
	g_give_up_ns = bk_now_ns() + 120 * (int64_t)1000000000;
	return pid;
}

static void reap_child(pid_t pid, const char *what)
{
	int st;
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "ring-bench: the %s child failed\n", what);
		exit(1);
	}
}

/*
 * The parent's spin and sleep loops wait on the child: if it died (or a
 * wake-up were lost) they must not wait forever.  Every 2^20 spins, and on
 * every timed-out sleep, look at the child; give up after 120 s.
 */
static void watch_child(void)
{
	int st;
	if (waitpid(g_child, &st, WNOHANG) == g_child) {
		fprintf(stderr, "ring-bench: the broker child ended unexpectedly (status %d)\n", st);
		exit(1);
	}
	if (bk_now_ns() > g_give_up_ns) {
		fprintf(stderr, "ring-bench: a measurement took more than 120 s; giving up\n");
		kill(g_child, SIGKILL);
		exit(1);
	}
}

static inline void spin_wait(uint64_t *spins)
{
	cpu_relax();
	if ((++*spins & ((1u << 20) - 1)) == 0)
		watch_child();
}

/* A sleep of the client side: bounded so a dead child is noticed; a timeout is a lost wake-up. */
static void client_sleep(_Atomic uint32_t *word, uint32_t seq)
{
	struct timespec to = { 5, 0 };
	if (bk_futex_wait(word, seq, &to) == -ETIMEDOUT) {
		watch_child();
		fprintf(stderr, "ring-bench: a sleeping wait was not woken within 5 s (lost wake-up?)\n");
		kill(g_child, SIGKILL);
		exit(1);
	}
}

/* ---- baseline: one cache line bounced between two processes -------------- */

static double pingpong_rtt_ns(uint64_t iters)
{
	_Atomic uint64_t *line = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (line == MAP_FAILED) {
		perror("ring-bench: mmap");
		exit(1);
	}
	atomic_store(line, 0);
	pid_t pid = fork_child();
	if (pid == 0) {
		/* Answer every odd value v with v + 1. */
		for (uint64_t i = 0; i < iters; i++) {
			uint64_t want = 2 * i + 1;
			while (atomic_load_explicit(line, memory_order_acquire) != want)
				cpu_relax();
			atomic_store_explicit(line, want + 1, memory_order_release);
		}
		_exit(0);
	}
	pin(PARENT_CPU);
	int64_t t0 = bk_now_ns();
	uint64_t spins = 0;
	for (uint64_t i = 0; i < iters; i++) {
		atomic_store_explicit(line, 2 * i + 1, memory_order_release);
		while (atomic_load_explicit(line, memory_order_acquire) != 2 * i + 2)
			spin_wait(&spins);
	}
	int64_t t1 = bk_now_ns();
	unpin();
	reap_child(pid, "ping-pong");
	munmap((void *)line, 4096);
	return (double)(t1 - t0) / (double)iters;
}

/* ---- the rings --------------------------------------------------------------- */

struct bench_ctl {
	_Atomic uint32_t stop;
	uint8_t pad[60];
};

struct rig {
	struct bkd_region r;
	struct bench_ctl *ctl;
	struct bk_sq_producer sqp;
	struct bk_cq_consumer cqc;
};

static void rig_open(struct rig *g)
{
	struct bk_geometry geo = { .sq_entries = SQ_ENTRIES, .nslots = NSLOTS, .slot_inline = 64, .large_size = 4096 };
	struct bkd_region_params p = { .max_large = 1 << 20, .ring_start = 0, .conn_id = 1, .epoch = 1 };
	char err[256];
	if (bkd_region_create(&geo, &p, &g->r, err, sizeof(err)) < 0) {
		fprintf(stderr, "ring-bench: %s\n", err);
		exit(1);
	}
	g->ctl = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (g->ctl == MAP_FAILED) {
		perror("ring-bench: mmap");
		exit(1);
	}
	memset(g->ctl, 0, sizeof(*g->ctl));
	bk_sq_producer_init(&g->sqp, g->r.v.sq_ctl, g->r.v.sq, g->r.v.geo.sq_entries);
	bk_cq_consumer_init(&g->cqc, g->r.v.cq_ctl, g->r.v.cq, g->r.v.geo.cq_entries);
}

static void rig_close(struct rig *g)
{
	munmap(g->ctl, 4096);
	bkd_region_destroy(&g->r);
}

/*
 * The broker: fetch up to fetch_max, complete each, flush once per fetch.
 * Idle: spin (sleep == 0) or sleep at once on the SQ wake_seq (sleep == 1).
 */
static int broker_loop(struct rig *g, unsigned fetch_max, int sleep)
{
	struct bkd_conn_rings cr;
	struct bk_sqe out[64];
	if (bkd_conn_rings_init(&cr, &g->r.v, 0) < 0)
		return 1;
	for (;;) {
		int n = bkd_conn_rings_fetch(&cr, out, fetch_max);
		if (n < 0)
			return 2;
		for (int i = 0; i < n; i++)
			if (bkd_conn_rings_complete(&cr, out[i].slot, 0, 0) < 0)
				return 3;
		if (n > 0 || bkd_conn_rings_backlog(&cr)) {
			int f = bkd_conn_rings_flush(&cr);
			if (f < 0)
				return 4;
			if (f & BKD_FLUSH_WAKE_FUTEX)
				bk_futex_wake(&g->r.v.cq_ctl->wake_seq, INT_MAX);
			if (n > 0)
				continue;
		}
		if (atomic_load_explicit(&g->ctl->stop, memory_order_acquire) && !bkd_conn_rings_sq_pending(&cr))
			break;
		if (!sleep) {
			cpu_relax();
			continue;
		}
		uint32_t seq = bkd_conn_rings_sleep_prepare(&cr);
		if (!bkd_conn_rings_sq_pending(&cr) && !atomic_load_explicit(&g->ctl->stop, memory_order_acquire))
			bk_futex_wait(&g->r.v.sq_ctl->wake_seq, seq, NULL);
		bkd_conn_rings_sleep_finish(&cr);
	}
	if (cr.violations)
		return 5;
	bkd_conn_rings_fini(&cr);
	return 0;
}

static void stop_broker(struct rig *g, pid_t pid, const char *what)
{
	atomic_store_explicit(&g->ctl->stop, 1, memory_order_release);
	bk_ring_wake_bump(g->r.v.sq_ctl);
	bk_futex_wake(&g->r.v.sq_ctl->wake_seq, 1);
	reap_child(pid, what);
}

static void submit_one(struct rig *g, uint32_t slot, uint32_t gen, int wake)
{
	struct bk_sqe e = { .op = BK_OP_CALL, .slot = slot, .gen = gen };
	uint64_t spins = 0;
	while (bk_sq_producer_space_min(&g->sqp, 1) == 0)
		spin_wait(&spins);
	bk_sq_producer_write(&g->sqp, 0, &e);
	bk_sq_producer_publish(&g->sqp, 1);
	if (wake && bk_ring_wake_needed(g->r.v.sq_ctl)) {
		bk_ring_wake_bump(g->r.v.sq_ctl);
		bk_futex_wake(&g->r.v.sq_ctl->wake_seq, 1);
	}
}

/* One entry in flight at a time; both sides spin (sleep == 0) or both sleep at once when idle. */
static double ring_rtt_ns(uint64_t iters, int sleep)
{
	struct rig g;
	rig_open(&g);
	pid_t pid = fork_child();
	if (pid == 0)
		_exit(broker_loop(&g, 32, sleep));
	pin(PARENT_CPU);
	int64_t t0 = bk_now_ns();
	uint64_t spins = 0;
	for (uint64_t i = 0; i < iters; i++) {
		uint32_t slot = (uint32_t)(i % NSLOTS);
		submit_one(&g, slot, (uint32_t)i, sleep);
		struct bk_cqe q;
		while (bk_cq_consumer_reap(&g.cqc, &q, 1) == 0) {
			if (!sleep) {
				spin_wait(&spins);
				continue;
			}
			uint32_t seq = bk_ring_sleep_prepare(g.r.v.cq_ctl, true);
			if (!bk_cq_consumer_pending(&g.cqc))
				client_sleep(&g.r.v.cq_ctl->wake_seq, seq);
			bk_ring_sleep_finish(g.r.v.cq_ctl, true);
		}
		if (q.slot != slot) {
			fprintf(stderr, "ring-bench: completion for slot %u, expected %u\n", q.slot, slot);
			exit(1);
		}
	}
	int64_t t1 = bk_now_ns();
	unpin();
	stop_broker(&g, pid, sleep ? "sleeping round-trip" : "spinning round-trip");
	rig_close(&g);
	return (double)(t1 - t0) / (double)iters;
}

/*
 * Pipelined throughput: up to NSLOTS entries in flight; the client submits
 * `batch` entries per publish and the broker fetches up to `batch` per call
 * and flushes once per fetch.  Both sides spin.  Returns million entries/s.
 */
static double ring_mops(uint64_t total, unsigned batch)
{
	struct rig g;
	rig_open(&g);
	pid_t pid = fork_child();
	if (pid == 0)
		_exit(broker_loop(&g, batch, 0));
	pin(PARENT_CPU);
	uint32_t free_slots[NSLOTS], nfree = NSLOTS;
	for (uint32_t i = 0; i < NSLOTS; i++)
		free_slots[i] = NSLOTS - 1 - i;
	uint64_t sent = 0, done = 0;
	uint32_t gen = 0;
	struct bk_cqe q[64];
	int64_t t0 = bk_now_ns();
	uint64_t turns = 0;
	while (done < total) {
		if ((++turns & ((1u << 20) - 1)) == 0)
			watch_child();
		unsigned n = bk_cq_consumer_reap(&g.cqc, q, 64);
		for (unsigned i = 0; i < n; i++)
			free_slots[nfree++] = q[i].slot;
		done += n;
		/* Up to 64 entries per turn, in units of `batch` with one publish each. */
		for (unsigned unit = 0; unit < 64 / batch; unit++) {
			uint32_t want = batch;
			if (want > total - sent)
				want = (uint32_t)(total - sent);
			if (want == 0 || nfree < want || bk_sq_producer_space_min(&g.sqp, want) < want)
				break;
			for (uint32_t i = 0; i < want; i++) {
				struct bk_sqe e = { .op = BK_OP_CALL, .slot = free_slots[--nfree], .gen = ++gen };
				bk_sq_producer_write(&g.sqp, i, &e);
			}
			bk_sq_producer_publish(&g.sqp, want);
			sent += want;
		}
	}
	int64_t t1 = bk_now_ns();
	unpin();
	stop_broker(&g, pid, "throughput");
	rig_close(&g);
	return (double)total * 1e3 / (double)(t1 - t0);
}

/* ---- driver ------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ring-bench [--quick] [--json] [--runs N] [--only M]\n"
		"\n"
		"Micro-benchmark of the broker's shared-region rings across two processes\n"
		"(the broker side runs the real validated engine, bkd_conn_rings):\n"
		"  - round trip of a plain shared-memory cache-line ping-pong (baseline),\n"
		"  - round trip of one ring entry, both sides spinning and both sleeping\n"
		"    (need_wakeup + futex protocol),\n"
		"  - pipelined entries per second, single entries and batches of 32.\n"
		"Client and broker are pinned to CPUs 0 and 1 when there are two or more.\n"
		"\n"
		"  --quick    smoke run (500x fewer iterations, one run each): figures are rough\n"
		"  --json     print one JSON object instead of the table\n"
		"  --runs N   runs per measurement, the median is reported (default 5)\n"
		"  --only M   run one measurement (pingpong, spin, sleep, single, batch) and\n"
		"             print its figure alone: for profiling with perf\n"
		"  --help     this text\n"
		"  --version  the version\n"
		"\n"
		"Goals on a 2-core machine: batches of 32 >= 50 M entries/s; spinning ring\n"
		"round trip within 2x of the cache-line ping-pong.\n");
}

int main(int argc, char **argv)
{
	int quick = 0, json = 0, runs = 5;
	const char *only = NULL;
	static const struct option opts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'j' },
		{ "runs", required_argument, NULL, 'r' },
		{ "only", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "qjr:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'V':
			printf("broker-ring-bench %s\n", BK_VERSION);
			return 0;
		case 'q':
			quick = 1;
			break;
		case 'j':
			json = 1;
			break;
		case 'r': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v < 1 || v > 99) {
				fprintf(stderr, "ring-bench: --runs wants a number from 1 to 99, got '%s'\n", optarg);
				return 2;
			}
			runs = (int)v;
			break;
		}
		case 'o':
			if (strcmp(optarg, "pingpong") && strcmp(optarg, "spin") && strcmp(optarg, "sleep") &&
			    strcmp(optarg, "single") && strcmp(optarg, "batch")) {
				fprintf(stderr, "ring-bench: --only wants pingpong, spin, sleep, single or batch\n");
				return 2;
			}
			only = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ring-bench: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	g_ncpu = ncpu > 0 ? (int)ncpu : 1;
	if (quick)
		runs = 1;
	const uint64_t div = quick ? 500 : 1;
	const uint64_t n_pp = 2000000 / div, n_spin = 1000000 / div, n_sleep = 50000 / div;
	const uint64_t n_single = 20000000 / div, n_batch = 100000000 / div;

	if (only) {
		for (int i = 0; i < runs; i++) {
			double x = !strcmp(only, "pingpong") ? pingpong_rtt_ns(n_pp)
				   : !strcmp(only, "spin")   ? ring_rtt_ns(n_spin, 0)
				   : !strcmp(only, "sleep")  ? ring_rtt_ns(n_sleep, 1)
				   : !strcmp(only, "single") ? ring_mops(n_single, 1)
							     : ring_mops(n_batch, 32);
			printf("%s run %d: %.2f %s\n", only, i + 1, x,
			       !strcmp(only, "single") || !strcmp(only, "batch") ? "M entries/s" : "ns");
		}
		return 0;
	}
	/*
	 * The ratios are taken per run, each ring figure against the ping-pong
	 * measured right before it, then the median: on a virtual machine the
	 * two vCPUs may sit on sibling threads of one core for a while and on
	 * different cores the next, which moves every latency by a factor of
	 * several; pairing keeps the ratio about the rings, not the placement.
	 */
	double pp[99], spin[99], slp[99], single[99], batch[99], rs[99], rl[99];
	for (int i = 0; i < runs; i++) {
		pp[i] = pingpong_rtt_ns(n_pp);
		spin[i] = ring_rtt_ns(n_spin, 0);
		rs[i] = spin[i] / pp[i];
		double pp2 = pingpong_rtt_ns(n_pp / 4);
		slp[i] = ring_rtt_ns(n_sleep, 1);
		rl[i] = slp[i] / pp2;
		single[i] = ring_mops(n_single, 1);
		batch[i] = ring_mops(n_batch, 32);
	}
	double m_pp = median(pp, runs), m_spin = median(spin, runs), m_slp = median(slp, runs);
	double m_single = median(single, runs), m_batch = median(batch, runs);
	double r_spin = median(rs, runs), r_slp = median(rl, runs), r_batch = m_batch / m_single;
	double best_batch = batch[runs - 1]; /* sorted by median() */
	int goal_batch = m_batch >= 50.0, goal_spin = r_spin <= 2.0;

	if (json) {
		printf("{\"cpus\": %d, \"quick\": %s, \"runs\": %d, "
		       "\"pingpong_rtt_ns\": %.1f, \"ring_spin_rtt_ns\": %.1f, \"ring_sleep_rtt_ns\": %.1f, "
		       "\"single_mops\": %.3f, \"batch32_mops\": %.3f, "
		       "\"spin_rtt_ratio\": %.3f, \"sleep_rtt_ratio\": %.3f, \"batch_vs_single\": %.3f, "
		       "\"batch32_best_mops\": %.3f, \"goal_batch_50mops\": %s, \"goal_spin_rtt_2x\": %s}\n",
		       g_ncpu, quick ? "true" : "false", runs, m_pp, m_spin, m_slp, m_single, m_batch, r_spin, r_slp,
		       r_batch, best_batch, goal_batch ? "true" : "false", goal_spin ? "true" : "false");
		return 0;
	}
	printf("ring-bench: %d CPUs, %s, median of %d run%s\n\n", g_ncpu, quick ? "quick" : "full", runs,
	       runs > 1 ? "s" : "");
	printf("%-40s %12s  %-6s  %s\n", "measurement", "value", "unit", "ratio");
	printf("(ratios: median over runs of each ring figure / the ping-pong measured just before it)\n");
	printf("%-40s %12.1f  %-6s  %s\n", "cache-line ping-pong round trip", m_pp, "ns", "1.00x (baseline)");
	printf("%-40s %12.1f  %-6s  %.2fx ping-pong (goal <= 2x: %s)\n", "ring round trip, both spinning", m_spin,
	       "ns", r_spin, goal_spin ? "met" : "MISSED");
	printf("%-40s %12.1f  %-6s  %.2fx ping-pong\n", "ring round trip, both sleeping (futex)", m_slp, "ns", r_slp);
	printf("%-40s %12.2f  %-6s  %s\n", "ring throughput, single entries", m_single, "M/s", "1.00x");
	printf("%-40s %12.2f  %-6s  %.2fx single (goal >= 50 M/s: %s)\n", "ring throughput, batches of 32", m_batch,
	       "M/s", r_batch, goal_batch ? "met" : "MISSED");
	printf("%-40s %12.2f  %-6s\n", "  best run, batches of 32", best_batch, "M/s");
	return 0;
}
