// SPDX-License-Identifier: MIT
/*
 * main.c - broker-stress: N client processes hammer brokerd with mixed
 * built-in calls for S seconds while random clients are SIGKILLed (and
 * replaced) at --kill-rate per second and, with --restart-broker, brokerd
 * itself is killed and restarted.  Every future must end exactly once: with
 * the right result, or lost with its broker (BK_EGONE, the contract in
 * client.h), a clear error counted on its own.  Ends with `N passed,
 * N failed, N broker gone`; exit status 0 only if nothing failed.
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
	int clients;
	double seconds, kill_rate;
	int restart_broker;
	const char *socket, *brokerd, *moddir;
	char default_brokerd[PATH_MAX];
	uint64_t seed;
};

struct slot {
	pid_t pid; /* 0: free */
	int killed; /* we SIGKILLed it */
	int final; /* it sent MSG_FINAL */
};

struct totals {
	uint64_t passed, failed, gone, cancelled, reconnects;
	uint64_t kills, spawned, restarts;
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
		"  --restart-broker    also kill and restart brokerd a few times; clients must see\n"
		"                      BK_EGONE for what was in flight and reconnect (not with --socket)\n"
		"  --socket PATH       use the brokerd at PATH instead of starting our own\n"
		"  --brokerd PATH      brokerd to start (default: %s)\n"
		"  --module-dir DIR    its module folder (default: its own)\n"
		"  --seed N            random seed (default: from the clock; printed)\n"
		"  --quiet             no progress lines on stderr\n"
		"  --help              this text\n"
		"  --version           the version\n\n"
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
	enum { O_CLIENTS = 256, O_SECONDS, O_KILL, O_RESTART, O_SOCKET, O_BROKERD, O_MODDIR, O_SEED, O_QUIET, O_HELP, O_VERSION };
	static const struct option lo[] = {
		{ "clients", required_argument, NULL, O_CLIENTS }, { "seconds", required_argument, NULL, O_SECONDS },
		{ "kill-rate", required_argument, NULL, O_KILL }, { "restart-broker", no_argument, NULL, O_RESTART },
		{ "socket", required_argument, NULL, O_SOCKET }, { "brokerd", required_argument, NULL, O_BROKERD },
		{ "module-dir", required_argument, NULL, O_MODDIR }, { "seed", required_argument, NULL, O_SEED },
		{ "quiet", no_argument, NULL, O_QUIET }, { "help", no_argument, NULL, O_HELP },
		{ "version", no_argument, NULL, O_VERSION }, { NULL, 0, NULL, 0 },
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
		case O_HELP: usage(stdout); exit(0);
		case O_VERSION: printf("broker-stress %s\n", BK_VERSION); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "broker-stress: unexpected argument '%s' (see --help)\n", argv[optind]);
		return -EINVAL;
	}
	if (o->restart_broker && o->socket) {
		fprintf(stderr, "broker-stress: --restart-broker needs our own brokerd: drop --socket\n");
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

static int spawn(struct slot *sl, const char *socket, int64_t deadline, const struct opts *o, int report_w,
		 int report_r, struct totals *t)
{
	struct bk_stress_client_cfg cfg = {
		.socket = socket,
		.deadline_ns = deadline,
		.seed = o->seed ^ (0x9E3779B97F4A7C15ULL * (t->spawned + 1)),
		.restarts = o->restart_broker,
		.report_fd = report_w,
	};
	pid_t pid = bk_fork_child();
	if (pid < 0) {
		failure(t, "fork: %s", strerror(-pid));
		return pid;
	}
	if (pid == 0) {
		close(report_r);
		bk_stress_client(&cfg);
	}
	t->spawned++;
	*sl = (struct slot){ .pid = pid };
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

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	bk_tool_name = "broker-stress";
	if (parse_args(argc, argv, &o) < 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	struct totals t = { 0 };
	struct bkt_brokerd b = { 0 };
	const char *socket = o.socket;
	char err[1024];
	int status = 1;
	if (!socket) {
		int e = bkt_brokerd_init(&b, o.brokerd, o.moddir, BKT_BROKERD_DIE_WITH_PARENT | BKT_BROKERD_OWN_PGRP);
		if (e == 0)
			e = bkt_brokerd_start(&b, NULL, err, sizeof(err));
		else
			snprintf(err, sizeof(err), "temporary folder: %s", strerror(-e));
		if (e < 0) {
			fprintf(stderr, "broker-stress: starting brokerd: %s\n", err);
			bkt_brokerd_cleanup(&b, 10000);
			printf("0 passed, 1 failed\n");
			return 1;
		}
		socket = b.socket;
	}
	bk_progress("%d clients for %.1f s, kill rate %.2f/s%s, seed %llu, socket %s", o.clients, o.seconds,
		    o.kill_rate, o.restart_broker ? ", restarting brokerd" : "", (unsigned long long)o.seed, socket);

	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		perror("broker-stress: pipe");
		bkt_brokerd_cleanup(&b, 10000);
		return 1;
	}
	if (fcntl(pfd[0], F_SETFL, O_NONBLOCK) != 0) {
		perror("broker-stress: fcntl");
		bkt_brokerd_cleanup(&b, 10000);
		return 1;
	}
	/* Every client ever started keeps its slot, so late reports find it. */
	int cap = o.clients + (int)(o.kill_rate * o.seconds * 2) + 16;
	struct slot *slots = calloc((size_t)cap, sizeof(*slots));
	if (!slots) {
		bkt_brokerd_cleanup(&b, 10000);
		return 1;
	}
	int nslots = 0, alive = 0;
	int64_t start = bk_now_ns(), deadline = start + (int64_t)(o.seconds * 1e9);
	for (int i = 0; i < o.clients; i++)
		if (spawn(&slots[nslots], socket, deadline, &o, pfd[1], pfd[0], &t) == 0) {
			nslots++;
			alive++;
		}

	uint64_t rng = o.seed | 1;
	int64_t next_kill = o.kill_rate > 0 ? start + (int64_t)(1e9 / o.kill_rate) : INT64_MAX;
	int64_t restart_every = (int64_t)(o.seconds * 1e9 / 3);
	int64_t next_restart = o.restart_broker ? start + restart_every : INT64_MAX;
	int64_t next_progress = start + 1000000000LL;
	int64_t now;
	while ((now = bk_now_ns()) < deadline) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		if (poll(&p, 1, 20) < 0 && errno != EINTR)
			break;
		drain(pfd[0], &t, slots, nslots);
		reap(&t, slots, nslots, &alive);
		now = bk_now_ns();
		if (now >= next_kill) {
			next_kill += (int64_t)(1e9 / o.kill_rate);
			/* A random live client dies mid-flight; a fresh one takes its place. */
			int live[MAX_CLIENTS * 4], nl = 0;
			for (int i = 0; i < nslots && nl < (int)(sizeof(live) / sizeof(live[0])); i++)
				if (slots[i].pid > 0)
					live[nl++] = i;
			if (nl) {
				struct slot *s = &slots[live[stress_rand(&rng) % (uint64_t)nl]];
				if (kill(s->pid, SIGKILL) == 0) {
					s->killed = 1;
					t.kills++;
				}
			}
			if (nslots < cap && deadline - now > 200000000LL &&
			    spawn(&slots[nslots], socket, deadline, &o, pfd[1], pfd[0], &t) == 0) {
				nslots++;
				alive++;
			}
		}
		if (now >= next_restart && deadline - now > 500000000LL) {
			next_restart += restart_every;
			bk_progress("killing and restarting brokerd");
			bkt_brokerd_kill(&b);
			if (bkt_brokerd_start(&b, NULL, err, sizeof(err)) < 0) {
				failure(&t, "restarting brokerd: %s", err);
				break;
			}
			t.restarts++;
		}
		if (b.pid > 0 && waitpid(b.pid, NULL, WNOHANG) == b.pid) {
			char tail[512];
			b.pid = 0;
			bkt_brokerd_log_tail(&b, tail, sizeof(tail));
			failure(&t, "brokerd died under load; its log ends:\n%s", tail);
			break;
		}
		if (now >= next_progress) {
			next_progress += 1000000000LL;
			bk_progress("%.0f s: %d clients, %llu passed, %llu failed, %llu broker gone, %llu kills, %llu restarts",
				    (double)(now - start) / 1e9, alive, (unsigned long long)(t.passed + t.cancelled),
				    (unsigned long long)t.failed, (unsigned long long)t.gone,
				    (unsigned long long)t.kills, (unsigned long long)t.restarts);
		}
	}
	/* Clients stop at the deadline after their current round; wait for them, bounded. */
	close(pfd[1]);
	int64_t finish_by = bk_now_ns() + FINISH_GRACE_NS;
	while (alive > 0 && bk_now_ns() < finish_by) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		poll(&p, 1, 20);
		drain(pfd[0], &t, slots, nslots);
		reap(&t, slots, nslots, &alive);
	}
	for (int i = 0; i < nslots; i++)
		if (slots[i].pid > 0) {
			failure(&t, "client %d did not finish within %lld s of the end", (int)slots[i].pid,
				FINISH_GRACE_NS / 1000000000LL);
			kill(slots[i].pid, SIGKILL);
			slots[i].killed = 1;
		}
	reap(&t, slots, nslots, &alive);
	while (alive > 0 && waitpid(-1, NULL, 0) > 0)
		alive--;
	drain(pfd[0], &t, slots, nslots);
	for (int i = 0; i < nslots; i++)
		if (!slots[i].killed && !slots[i].final)
			failure(&t, "client %d ended without its final report", -slots[i].pid);
	close(pfd[0]);
	if (b.pid > 0) {
		int st = bkt_brokerd_stop(&b, 15000);
		if (st != 0) {
			char tail[512];
			bkt_brokerd_log_tail(&b, tail, sizeof(tail));
			failure(&t, "brokerd did not exit 0 on SIGTERM (%d); its log ends:\n%s", st, tail);
		}
	}
	bkt_brokerd_cleanup(&b, 10000);
	if (t.passed == 0)
		failure(&t, "no future completed at all");
	fprintf(stderr,
		"broker-stress: %llu clients started, %llu killed, %llu brokerd restarts, %llu reconnects; "
		"%llu cancelled (passed)\n",
		(unsigned long long)t.spawned, (unsigned long long)t.kills, (unsigned long long)t.restarts,
		(unsigned long long)t.reconnects, (unsigned long long)t.cancelled);
	/*
	 * A cancelled sleep ending -ECANCELED did what was asked: passed.  A
	 * call lost with its broker got no result to check, and brokerd's death
	 * was ours to cause: its own count, never a pass nor a failure.
	 */
	printf("%llu passed, %llu failed, %llu broker gone\n", (unsigned long long)(t.passed + t.cancelled),
	       (unsigned long long)t.failed, (unsigned long long)t.gone);
	status = t.failed ? 1 : 0;
	free(slots);
	return status;
}
