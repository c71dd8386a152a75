// SPDX-License-Identifier: MIT
/*
 * main.c - broker-stress: N client processes hammer brokerd with mixed
 * built-in calls for S seconds while random clients are SIGKILLed (and
 * replaced) at --kill-rate per second and, with --restart-broker, brokerd
 * itself is killed and restarted (twice, or at --restart-rate), the echo
 * module is upgraded under load (--upgrade-rate) and hostile clients
 * (hostile.c: garbage, floods, slow reapers) run beside the honest ones
 * (--hostile).  Every honest future must end exactly once: with the right
 * result, or lost with its broker (BK_EGONE, the contract in client.h), a
 * clear error counted on its own.  Prints a totals line, then ends with
 * `N passed, N failed, N broker gone`; exit status 0 only if nothing failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bk_config.h"
#include "brokerd_proc.h"
#include "paths.h"
#include "stress.h"
#include "util.h"

#define MAX_CLIENTS 256
#define FINISH_GRACE_NS (20 * 1000000000LL) /* clients' last round (10 s waits) must end by then */

struct opts {
	int clients, hostile;
	double seconds, kill_rate, restart_rate, upgrade_rate;
	int restart_broker;
	const char *socket, *brokerd, *moddir, *brokerctl, *upgrade_module;
	char default_brokerd[PATH_MAX];
	uint64_t seed;
};

struct slot {
	pid_t pid; /* 0: free */
	int hostile; /* 0: honest, else 1 + enum stress_hostile_kind */
	int killed; /* we SIGKILLed it */
	int final; /* it sent MSG_FINAL */
};

struct totals {
	uint64_t passed, failed, gone, cancelled, reconnects, lost;
	uint64_t kills, spawned, restarts, upgrades, hostile_spawned, hostile_conns;
};

static void usage(FILE *f)
{
	char brokerd[PATH_MAX];
	fprintf(f,
		"usage: broker-stress --clients N --seconds S [options]\n"
		"Run N client processes posting mixed calls (echo.echo, echo.upper, timer.sleep,\n"
		"hash.sha256, cancelled timer.sleep) for S seconds, check every result, and end\n"
		"with a line `N passed, N failed, N broker gone`: a call that ended with the right\n"
		"result (or -ECANCELED when cancelled) passed; one that brokerd's death ended with\n"
		"BK_EGONE, as client.h says, is counted as broker gone, neither passed nor failed.\n\n"
		"  --clients N         client processes (1-%d, default 4)\n"
		"  --seconds S         duration (default 5)\n"
		"  --kill-rate R       SIGKILL R random clients per second, starting replacements (default 0)\n"
		"  --restart-broker    also kill and restart brokerd twice; clients must see\n"
		"                      BK_EGONE for what was in flight and reconnect (not with --socket)\n"
		"  --restart-rate R    SIGKILL and restart brokerd R times per second instead (e.g. 0.1)\n"
		"  --upgrade-rate R    upgrade the echo module R times per second under load: `brokerctl\n"
		"                      load` of a fresh copy of --upgrade-module (not with --socket)\n"
		"  --upgrade-module F  the module file to copy (default: echo.so of --module-dir)\n"
		"  --brokerctl PATH    brokerctl to load it with (default: beside this program)\n"
		"  --hostile N         N hostile client processes besides, rotating garbage SQEs and\n"
		"                      impossible tails, floods (SQ and control), slow reapers (default 0)\n"
		"  --socket PATH       use the brokerd at PATH instead of starting our own\n"
		"  --brokerd PATH      brokerd to start (default: %s)\n"
		"  --module-dir DIR    its module folder (default: its own)\n"
		"  --seed N            random seed (default: from the clock; printed)\n"
		"  --quiet             no progress lines on stderr\n"
		"  --version           the version\n"
		"  --help              this text\n\n"
		"Before the last line a totals line: honest futures, lost (never ended, or ended\n"
		"twice: must be 0), kills, brokerd restarts, module upgrades, hostile clients.\n\n"
		"Exit status: 0 nothing failed, 1 something failed, 2 bad usage.\n",
		MAX_CLIENTS, bk_tool_default_brokerd(brokerd, sizeof(brokerd)));
}

static int num(const char *name, const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi)) {
		fprintf(stderr, "broker-stress: %s wants a number between %g and %g, not '%s'\n", name, lo, hi, s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	enum { O_CLIENTS = 256, O_SECONDS, O_KILL, O_RESTART, O_SOCKET, O_BROKERD, O_MODDIR, O_SEED, O_QUIET, O_HELP,
	       O_RRATE, O_URATE, O_UMOD, O_CTL, O_HOSTILE, O_VERSION };
	static const struct option lo[] = {
		{ "clients", required_argument, NULL, O_CLIENTS }, { "seconds", required_argument, NULL, O_SECONDS },
		{ "kill-rate", required_argument, NULL, O_KILL }, { "restart-broker", no_argument, NULL, O_RESTART },
		{ "socket", required_argument, NULL, O_SOCKET }, { "brokerd", required_argument, NULL, O_BROKERD },
		{ "module-dir", required_argument, NULL, O_MODDIR }, { "seed", required_argument, NULL, O_SEED },
		{ "quiet", no_argument, NULL, O_QUIET }, { "help", no_argument, NULL, O_HELP },
		{ "restart-rate", required_argument, NULL, O_RRATE }, { "upgrade-rate", required_argument, NULL, O_URATE },
		{ "upgrade-module", required_argument, NULL, O_UMOD }, { "brokerctl", required_argument, NULL, O_CTL },
		{ "hostile", required_argument, NULL, O_HOSTILE }, { "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	double v;
	int c;
	o->clients = 4;
	o->seconds = 5;
	o->brokerd = bk_tool_default_brokerd(o->default_brokerd, sizeof(o->default_brokerd));
	o->seed = (uint64_t)bk_now_ns() ^ ((uint64_t)getpid() << 32);
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case O_CLIENTS:
			if (num("--clients", optarg, 1, MAX_CLIENTS, &v))
				return -EINVAL;
			o->clients = (int)v;
			if (v != o->clients) {
				fprintf(stderr, "broker-stress: --clients wants a whole number\n");
				return -EINVAL;
			}
			break;
		case O_SECONDS:
			if (num("--seconds", optarg, 0.1, 86400, &o->seconds))
				return -EINVAL;
			break;
		case O_KILL:
			if (num("--kill-rate", optarg, 0, 1000, &o->kill_rate))
				return -EINVAL;
			break;
		case O_RESTART: o->restart_broker = 1; break;
		case O_SOCKET: o->socket = optarg; break;
		case O_BROKERD: o->brokerd = optarg; break;
		case O_MODDIR: o->moddir = optarg; break;
		case O_SEED:
			if (num("--seed", optarg, 0, 1.8e19, &v))
				return -EINVAL;
			o->seed = (uint64_t)v;
			break;
		case O_QUIET: bk_bench_quiet = 1; break;
		case O_RRATE:
			if (num("--restart-rate", optarg, 0, 10, &o->restart_rate))
				return -EINVAL;
			break;
		case O_URATE:
			if (num("--upgrade-rate", optarg, 0, 100, &o->upgrade_rate))
				return -EINVAL;
			break;
		case O_UMOD: o->upgrade_module = optarg; break;
		case O_CTL: o->brokerctl = optarg; break;
		case O_HOSTILE:
			if (num("--hostile", optarg, 0, MAX_CLIENTS, &v) || v != (int)v)
				return -EINVAL;
			o->hostile = (int)v;
			break;
		case O_HELP: usage(stdout); exit(0);
		case O_VERSION: printf("broker-stress %s\n", BK_VERSION); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "broker-stress: unexpected argument '%s' (see --help)\n", argv[optind]);
		return -EINVAL;
	}
	if ((o->restart_broker || o->restart_rate > 0 || o->upgrade_rate > 0) && o->socket) {
		fprintf(stderr, "broker-stress: --restart-broker, --restart-rate and --upgrade-rate need our own brokerd: "
			"drop --socket\n");
		return -EINVAL;
	}
	if (o->upgrade_rate > 0 && !o->upgrade_module && !o->moddir) {
		fprintf(stderr, "broker-stress: --upgrade-rate needs --upgrade-module or --module-dir\n");
		return -EINVAL;
	}
	return 0;
}

static void failure(struct totals *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failure(struct totals *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("broker-stress: FAILED: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	t->failed++;
}

static int spawn(struct slot *sl, int hostile, const char *socket, int64_t deadline, const struct opts *o,
		 int report_w, int report_r, struct totals *t)
{
	struct bk_stress_client_cfg cfg = {
		.socket = socket,
		.deadline_ns = deadline,
		.seed = o->seed ^ (0x9E3779B97F4A7C15ULL * (t->spawned + 1)),
		.restarts = o->restart_broker || o->restart_rate > 0,
		.report_fd = report_w,
	};
	pid_t pid = bk_fork_child();
	if (pid < 0) {
		failure(t, "fork: %s", strerror(-pid));
		return pid;
	}
	if (pid == 0) {
		close(report_r);
		if (hostile)
			bk_stress_hostile(&cfg, (enum stress_hostile_kind)(hostile - 1));
		bk_stress_client(&cfg);
	}
	if (hostile)
		t->hostile_spawned++;
	else
		t->spawned++;
	*sl = (struct slot){ .pid = pid, .hostile = hostile };
	return 0;
}

static struct slot *find(struct slot *s, int n, pid_t pid)
{
	for (int i = 0; i < n; i++)
		if (s[i].pid == pid)
			return &s[i];
	return NULL;
}

static void take(struct totals *t, struct slot *slots, int n, const struct bk_stress_msg *m)
{
	t->passed += m->passed;
	t->failed += m->failed;
	t->gone += m->gone;
	t->cancelled += m->cancelled;
	t->reconnects += m->reconnects;
	t->lost += m->lost;
	t->hostile_conns += m->hostile_conns;
	if (m->kind == MSG_FINAL) {
		struct slot *s = find(slots, n, m->pid);
		if (!s) /* reaped before its last report was read: reap() keeps the pid negated */
			s = find(slots, n, -m->pid);
		if (s)
			s->final = 1;
	}
}

/* Read every whole report waiting in the pipe (non-blocking). */
static void drain(int fd, struct totals *t, struct slot *slots, int n)
{
	struct bk_stress_msg m;
	for (;;) {
		ssize_t r = read(fd, &m, sizeof(m));
		if (r == (ssize_t)sizeof(m)) {
			take(t, slots, n, &m);
			continue;
		}
		if (r > 0) /* writes of this size are atomic: a short read cannot happen */
			failure(t, "short report from a client (%zd bytes)", r);
		return;
	}
}

/* Reap exited clients; a client that died without being killed by us is a failure. */
static void reap(struct totals *t, struct slot *slots, int n, int *alive)
{
	for (;;) {
		int st;
		pid_t pid = waitpid(-1, &st, WNOHANG);
		if (pid <= 0)
			return;
		struct slot *s = find(slots, n, pid);
		if (!s)
			continue; /* brokerd is reaped by its own calls; no other children */
		if (!s->killed && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
			failure(t, "client %d ended with %s %d", (int)pid, WIFEXITED(st) ? "status" : "signal",
				WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		s->pid = -pid; /* keep the pid for late reports, mark it gone */
		(*alive)--;
	}
}

/* Everything the run loop needs. */
struct run {
	struct opts *o;
	struct totals t;
	struct bkt_brokerd b;
	const char *socket;
	struct slot *slots;
	int nslots, cap, alive;
	int pfd[2];
	uint64_t rng;
	int64_t start, deadline;
	struct bk_stress_upgrader up;
};

static void add(struct run *r, int hostile)
{
	if (r->nslots < r->cap && spawn(&r->slots[r->nslots], hostile, r->socket, r->deadline, r->o, r->pfd[1],
					r->pfd[0], &r->t) == 0) {
		r->nslots++;
		r->alive++;
	}
}

/* A random live client dies mid-flight; a fresh one of the same kind takes its place. */
static void kill_one(struct run *r, int64_t now)
{
	int live[MAX_CLIENTS * 4], nl = 0;
	for (int i = 0; i < r->nslots && nl < (int)(sizeof(live) / sizeof(live[0])); i++)
		if (r->slots[i].pid > 0)
			live[nl++] = i;
	int kind = 0;
	if (nl) {
		struct slot *s = &r->slots[live[stress_rand(&r->rng) % (uint64_t)nl]];
		kind = s->hostile;
		if (kill(s->pid, SIGKILL) == 0) {
			s->killed = 1;
			r->t.kills++;
		}
	}
	if (r->deadline - now > 200000000LL)
		add(r, kind);
}

/* 0, or -1 when the run cannot go on (brokerd did not come back). */
static int restart(struct run *r)
{
	char err[1024];
	bk_progress("killing and restarting brokerd");
	bkt_brokerd_kill(&r->b);
	if (bkt_brokerd_start(&r->b, NULL, err, sizeof(err)) < 0) {
		failure(&r->t, "restarting brokerd: %s", err);
		return -1;
	}
	r->t.restarts++;
	return 0;
}

static void upgrade(struct run *r)
{
	char why[16384];
	if (bk_stress_upgrade(&r->up, r->socket, why, sizeof(why)) < 0)
		failure(&r->t, "module upgrade %u: %s", r->up.n, why);
	else
		r->t.upgrades++;
}

static void progress(struct run *r, int64_t now)
{
	bk_progress("%.0f s: %d clients, %llu passed, %llu failed, %llu broker gone, %llu lost, %llu kills, "
		    "%llu restarts, %llu upgrades, %llu hostile connections",
		    (double)(now - r->start) / 1e9, r->alive, (unsigned long long)(r->t.passed + r->t.cancelled),
		    (unsigned long long)r->t.failed, (unsigned long long)r->t.gone, (unsigned long long)r->t.lost,
		    (unsigned long long)r->t.kills, (unsigned long long)r->t.restarts,
		    (unsigned long long)r->t.upgrades, (unsigned long long)r->t.hostile_conns);
}

static int64_t every(double rate)
{
	return rate > 0 ? (int64_t)(1e9 / rate) : INT64_MAX;
}

/* The run itself: reports in, children out, and kills, restarts, upgrades and progress on their clocks. */
static void run_loop(struct run *r)
{
	const struct opts *o = r->o;
	int64_t kill_every = every(o->kill_rate), upgrade_every = every(o->upgrade_rate);
	int64_t restart_every = o->restart_rate > 0 ? every(o->restart_rate)
				: o->restart_broker ? (int64_t)(o->seconds * 1e9 / 3) : INT64_MAX;
	int64_t next_kill = kill_every == INT64_MAX ? INT64_MAX : r->start + kill_every;
	int64_t next_restart = restart_every == INT64_MAX ? INT64_MAX : r->start + restart_every;
	int64_t next_upgrade = upgrade_every == INT64_MAX ? INT64_MAX : r->start + upgrade_every;
	int64_t next_progress = r->start + 1000000000LL;
	int64_t now;
	while ((now = bk_now_ns()) < r->deadline) {
		struct pollfd p = { .fd = r->pfd[0], .events = POLLIN };
		if (poll(&p, 1, 20) < 0 && errno != EINTR)
			break;
		drain(r->pfd[0], &r->t, r->slots, r->nslots);
		reap(&r->t, r->slots, r->nslots, &r->alive);
		now = bk_now_ns();
		if (now >= next_kill) {
			next_kill += kill_every;
			kill_one(r, now);
		}
		if (now >= next_restart && r->deadline - now > 500000000LL) {
			next_restart += restart_every;
			if (restart(r) < 0)
				break;
		}
		if (now >= next_upgrade && r->deadline - now > 500000000LL) {
			next_upgrade += upgrade_every;
			upgrade(r);
		}
		if (r->b.pid > 0 && waitpid(r->b.pid, NULL, WNOHANG) == r->b.pid) {
			char tail[512];
			r->b.pid = 0;
			bkt_brokerd_log_tail(&r->b, tail, sizeof(tail));
			failure(&r->t, "brokerd died under load; its log ends:\n%s", tail);
			break;
		}
		if (now >= next_progress) {
			next_progress += 1000000000LL;
			progress(r, now);
		}
	}
}

/* Clients stop at the deadline after their current round; wait for them, bounded, and check their ends. */
static void finish(struct run *r)
{
	struct totals *t = &r->t;
	close(r->pfd[1]);
	int64_t finish_by = bk_now_ns() + FINISH_GRACE_NS;
	while (r->alive > 0 && bk_now_ns() < finish_by) {
		struct pollfd p = { .fd = r->pfd[0], .events = POLLIN };
		poll(&p, 1, 20);
		drain(r->pfd[0], t, r->slots, r->nslots);
		reap(t, r->slots, r->nslots, &r->alive);
	}
	for (int i = 0; i < r->nslots; i++)
		if (r->slots[i].pid > 0) {
			failure(t, "client %d did not finish within %lld s of the end", (int)r->slots[i].pid,
				FINISH_GRACE_NS / 1000000000LL);
			kill(r->slots[i].pid, SIGKILL);
			r->slots[i].killed = 1;
		}
	reap(t, r->slots, r->nslots, &r->alive);
	while (r->alive > 0 && waitpid(-1, NULL, 0) > 0)
		r->alive--;
	drain(r->pfd[0], t, r->slots, r->nslots);
	for (int i = 0; i < r->nslots; i++)
		if (!r->slots[i].killed && !r->slots[i].final)
			failure(t, "client %d ended without its final report", -r->slots[i].pid);
	close(r->pfd[0]);
	if (r->b.pid > 0) {
		int st = bkt_brokerd_stop(&r->b, 15000);
		if (st != 0) {
			char tail[512];
			bkt_brokerd_log_tail(&r->b, tail, sizeof(tail));
			failure(t, "brokerd did not exit 0 on SIGTERM (%d); its log ends:\n%s", st, tail);
		}
	}
}

static int start(struct run *r)
{
	const struct opts *o = r->o;
	char err[1024];
	r->socket = o->socket;
	if (!r->socket) {
		int e = bkt_brokerd_init(&r->b, o->brokerd, o->moddir, BKT_BROKERD_DIE_WITH_PARENT | BKT_BROKERD_OWN_PGRP);
		if (e == 0)
			e = bkt_brokerd_start(&r->b, NULL, err, sizeof(err));
		else
			snprintf(err, sizeof(err), "temporary folder: %s", strerror(-e));
		if (e < 0) {
			fprintf(stderr, "broker-stress: starting brokerd: %s\n", err);
			return -1;
		}
		r->socket = r->b.socket;
	}
	if (o->upgrade_rate > 0) {
		char src[4096];
		snprintf(src, sizeof(src), "%s", o->upgrade_module ? o->upgrade_module : "");
		if (!o->upgrade_module)
			snprintf(src, sizeof(src), "%s/echo.so", o->moddir);
		if (bk_stress_upgrader_init(&r->up, src, r->b.dir, o->brokerctl) < 0) {
			fprintf(stderr, "broker-stress: --upgrade-rate: no module %s or no brokerctl (see --brokerctl)\n",
				src);
			return -1;
		}
	}
	if (pipe2(r->pfd, O_CLOEXEC) != 0 || fcntl(r->pfd[0], F_SETFL, O_NONBLOCK) != 0) {
		perror("broker-stress: report pipe");
		return -1;
	}
	/* Every client ever started keeps its slot, so late reports find it. */
	r->cap = o->clients + o->hostile + (int)(o->kill_rate * o->seconds * 2) + 16;
	r->slots = calloc((size_t)r->cap, sizeof(*r->slots));
	return r->slots ? 0 : -1;
}

int main(int argc, char **argv)
{
	static struct opts o;
	bk_tool_name = "broker-stress";
	if (parse_args(argc, argv, &o) < 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	static struct run r;
	r.o = &o;
	if (start(&r) < 0) {
		bkt_brokerd_cleanup(&r.b, 10000);
		printf("0 passed, 1 failed, 0 broker gone\n");
		return 1;
	}
	bk_progress("%d clients and %d hostile for %.1f s, kill rate %.2f/s, restarts %s, upgrade rate %.2f/s, "
		    "seed %llu, socket %s", o.clients, o.hostile, o.seconds, o.kill_rate,
		    o.restart_rate > 0 ? "at a rate" : o.restart_broker ? "twice" : "none", o.upgrade_rate,
		    (unsigned long long)o.seed, r.socket);
	r.rng = o.seed | 1;
	r.start = bk_now_ns();
	r.deadline = r.start + (int64_t)(o.seconds * 1e9);
	for (int i = 0; i < o.clients; i++)
		add(&r, 0);
	for (int i = 0; i < o.hostile; i++)
		add(&r, 1 + i % HOSTILE_NKINDS);
	run_loop(&r);
	finish(&r);
	bkt_brokerd_cleanup(&r.b, 10000);
	struct totals *t = &r.t;
	if (t->passed == 0)
		failure(t, "no future completed at all");
	fprintf(stderr, "broker-stress: %llu clients started, %llu reconnects; %llu cancelled (passed)\n",
		(unsigned long long)t->spawned, (unsigned long long)t->reconnects, (unsigned long long)t->cancelled);
	/*
	 * A cancelled sleep ending -ECANCELED did what was asked: passed.  A
	 * call lost with its broker got no result to check, and brokerd's death
	 * was ours to cause: its own count, never a pass nor a failure.
	 */
	printf("totals: %llu honest futures, lost=%llu, %llu kills, %llu restarts, %llu upgrades, "
	       "%llu hostile clients (%llu connections)\n",
	       (unsigned long long)(t->passed + t->cancelled + t->failed + t->gone), (unsigned long long)t->lost,
	       (unsigned long long)t->kills, (unsigned long long)t->restarts, (unsigned long long)t->upgrades,
	       (unsigned long long)t->hostile_spawned, (unsigned long long)t->hostile_conns);
	printf("%llu passed, %llu failed, %llu broker gone\n", (unsigned long long)(t->passed + t->cancelled),
	       (unsigned long long)t->failed, (unsigned long long)t->gone);
	free(r.slots);
	return t->failed ? 1 : 0;
}
