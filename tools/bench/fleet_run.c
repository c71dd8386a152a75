// SPDX-License-Identifier: MIT
/*
 * fleet_run.c - one fleet run (see fleet.h): brokerd for the shared kind,
 * n app processes each on a socket pair, a bounded wait for a quiet
 * machine (little other load, little stolen by the host), the start
 * times, /proc snapshots around the ticking window, the apps' tick
 * histograms, and an orderly stop whose exit statuses are checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "brokerd_proc.h"
#include "fleet.h"
#include "fleet_app.h"
#include "util.h"

#define READY_TIMEOUT_NS (30 * 1000000000LL) /* set-up of every app, plus 50 ms per app below */
#define DONE_SLACK_NS (30 * 1000000000LL) /* beyond the last scheduled tick */
#define QUIET_SAMPLE_NS 500000000LL
#define QUIET_OTHER_FRAC 0.10 /* quiet: others use at most this share of the machine's CPU time */
#define QUIET_STEAL_FRAC 0.01 /* and the host steals at most this share (one tick of a 0.5 s sample, 2 CPUs) */
#define SNAP_LEAD_NS 30000000LL /* the window's first snapshot, this long before the first tick */

struct run {
	const struct bk_fleet_cfg *cfg;
	int kind, phase;
	unsigned n; /* apps */
	struct bkt_brokerd b;
	int own_broker;
	pid_t broker;
	const char *sock;
	pid_t *pids; /* the apps, then brokerd when shared */
	int *fds;
	unsigned npids, started;
	uint64_t ticks;
};

static int64_t monotonic_ceil(int64_t t, int64_t step)
{
	return (t + step - 1) / step * step;
}

static void sleep_until(int64_t t)
{
	struct timespec ts = { .tv_sec = t / 1000000000, .tv_nsec = t % 1000000000 };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static int read_until(int fd, void *buf, size_t len, int64_t deadline)
{
	char *p = buf;
	while (len) {
		int64_t left = deadline - bk_now_ns();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		int r = poll(&pf, 1, (int)(left / 1000000) + 1);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		ssize_t k = read(fd, p, len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EPIPE;
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

static int spawn(struct run *r, unsigned i)
{
	const struct bk_fleet_cfg *c = r->cfg;
	char ticks[32], period[32];
	snprintf(ticks, sizeof(ticks), "%llu", (unsigned long long)r->ticks);
	snprintf(period, sizeof(period), "%lld", BK_FLEET_PERIOD_NS);
	const char *argv[] = { c->app[r->kind], c->file, ticks, period, r->sock, NULL };
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return -errno;
	pid_t pid = bk_fork_child();
	if (pid == 0) {
		/* dup2 clears close-on-exec on the copy; an fd already in place must be cleared by hand. */
		if (sv[1] == BK_FLEET_CTL_FD ? fcntl(sv[1], F_SETFD, 0) != 0 : dup2(sv[1], BK_FLEET_CTL_FD) < 0)
			_exit(126);
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "broker-bench: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return pid;
	}
	r->pids[i] = pid;
	r->fds[i] = sv[0];
	r->started++;
	return 0;
}

static int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t k = send(fd, p, len, MSG_NOSIGNAL); /* an app that died must not kill us with SIGPIPE */
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

/* Close the apps' sockets (they exit on EOF), reap them, stop brokerd; the first failure goes to err. */
static int finish(struct run *r, int e, char *err, size_t errlen)
{
	for (unsigned i = 0; i < r->started; i++)
		close(r->fds[i]);
	for (unsigned i = 0; i < r->started; i++) {
		int st = bk_reap(r->pids[i], e < 0 ? 2000 : 10000);
		if (e == 0 && st == -ETIMEDOUT) {
			snprintf(err, errlen, "app %u (pid %d) did not end within 10 s (killed)", i, (int)r->pids[i]);
			e = -ECHILD;
		} else if (e == 0 && (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)) {
			snprintf(err, errlen, "app %u (pid %d) ended with %s %d", i, (int)r->pids[i],
				 st < 0 ? "error" : WIFEXITED(st) ? "status" : "signal",
				 st < 0 ? st : WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
			e = -ECHILD;
		}
	}
	if (r->own_broker) {
		int st = bkt_brokerd_stop(&r->b, 10000);
		if (e == 0 && st != 0) {
			char tail[400];
			bkt_brokerd_log_tail(&r->b, tail, sizeof(tail));
			snprintf(err, errlen, "brokerd did not exit 0 on SIGTERM (%d); its log ends:\n%s", st, tail);
			e = -ECHILD;
		}
		bkt_brokerd_cleanup(&r->b, 10000);
	}
	free(r->pids);
	free(r->fds);
	return e;
}

static int start_broker(struct run *r, char *err, size_t errlen)
{
	const struct bk_fleet_cfg *c = r->cfg;
	if (c->socket) {
		pid_t pid = bkt_socket_peer_pid(c->socket);
		if (pid < 0) {
			snprintf(err, errlen, "cannot find the pid of the brokerd at %s: %s", c->socket, strerror(-pid));
			return pid;
		}
		r->sock = c->socket;
		r->broker = pid;
		return 0;
	}
	int e = bkt_brokerd_init(&r->b, c->brokerd, c->moddir, BKT_BROKERD_DIE_WITH_PARENT | BKT_BROKERD_OWN_PGRP);
	if (e < 0) {
		snprintf(err, errlen, "preparing brokerd: %s", strerror(-e));
		return e;
	}
	r->own_broker = 1;
	if ((e = bkt_brokerd_start(&r->b, NULL, err, errlen)) < 0)
		return e;
	r->sock = r->b.socket;
	r->broker = r->b.pid;
	return 0;
}

/* Wait (bounded) until other processes leave the CPUs mostly idle; *quiet says whether they did. */
static int wait_quiet(const struct run *r, int *quiet)
{
	int64_t limit = bk_now_ns() + (r->cfg->quick ? 1 : 10) * 1000000000LL;
	int said = 0;
	for (;;) {
		struct bk_fleet_snap a, b;
		int e = bk_fleet_snap(r->pids, r->npids, &a);
		if (e < 0)
			return e;
		sleep_until(a.t_ns + QUIET_SAMPLE_NS);
		if ((e = bk_fleet_snap(r->pids, r->npids, &b)) < 0)
			return e;
		double fleet, other;
		bk_fleet_snap_diff(&a, &b, &fleet, &other);
		double cpu_s = (double)r->cfg->cpus * (double)(b.t_ns - a.t_ns) / 1e9;
		double frac = other / cpu_s, steal = bk_fleet_snap_steal(&a, &b) / cpu_s;
		*quiet = frac <= QUIET_OTHER_FRAC && steal <= QUIET_STEAL_FRAC;
		if (*quiet) {
			if (said)
				bk_progress("  the machine is quiet now");
			return 0;
		}
		if (b.t_ns > limit) {
			bk_progress("  the machine did not get quiet (others use %.0f %% of the CPUs, the host steals %.0f %%): "
				    "running anyway", 100 * frac, 100 * steal);
			return 0;
		}
		if (!said)
			bk_progress("  waiting for a quiet machine: others use %.0f %% of the CPUs, the host steals %.0f %%",
				    100 * frac, 100 * steal);
		said = 1;
	}
}

static int collect(struct run *r, int64_t deadline, struct bk_fleet_sample *s, char *err, size_t errlen)
{
	static struct bk_fleet_done d; /* ~30 KiB: not on the stack */
	for (unsigned i = 0; i < r->n; i++) {
		d.magic = 0;
		d.status = 0;
		d.err[0] = 0;
		int e = read_until(r->fds[i], &d, sizeof(d), deadline);
		if (e == 0 && (d.magic != BK_FLEET_MAGIC || d.status < 0))
			e = d.status < 0 ? d.status : -EPROTO;
		if (e < 0) {
			snprintf(err, errlen, "app %u: %s", i, d.status < 0 && d.err[0] ? d.err : strerror(-e));
			return e;
		}
		bk_hist_merge(s->hist, &d.hist);
		s->ticks += (double)d.ticks;
		s->late += (double)d.late;
	}
	return 0;
}

/* From "every app is ready" to "every app is done", with the snapshots around it. */
static int tick(struct run *r, struct bk_fleet_sample *s, char *err, size_t errlen)
{
	int e = wait_quiet(r, &s->quiet);
	if (e < 0) {
		snprintf(err, errlen, "reading /proc: %s", strerror(-e));
		return e;
	}
	int64_t t0 = monotonic_ceil(bk_now_ns() + 2 * SNAP_LEAD_NS + (int64_t)r->n * 100000, BK_FLEET_PERIOD_NS);
	for (unsigned i = 0; i < r->n; i++) {
		int64_t off = r->phase == BK_FLEET_SPREAD ? (int64_t)i * BK_FLEET_PERIOD_NS / r->n : 0;
		struct bk_fleet_start st = { .magic = BK_FLEET_MAGIC, .start_ns = t0 + off };
		if ((e = send_all(r->fds[i], &st, sizeof(st))) < 0) {
			snprintf(err, errlen, "starting app %u: %s", i, strerror(-e));
			return e;
		}
	}
	sleep_until(t0 - SNAP_LEAD_NS);
	struct bk_fleet_snap a, b;
	if ((e = bk_fleet_snap(r->pids, r->npids, &a)) < 0) {
		snprintf(err, errlen, "reading /proc: %s", strerror(-e));
		return e;
	}
	int64_t end = t0 + (int64_t)r->ticks * BK_FLEET_PERIOD_NS + BK_FLEET_PERIOD_NS;
	if ((e = collect(r, end + DONE_SLACK_NS, s, err, errlen)) < 0)
		return e;
	uint64_t pss, threads;
	if ((e = bk_fleet_snap(r->pids, r->npids, &b)) < 0 || (e = bk_fleet_mem_threads(r->pids, r->npids, &pss, &threads)) < 0) {
		snprintf(err, errlen, "reading /proc: %s", strerror(-e));
		return e;
	}
	bk_fleet_snap_diff(&a, &b, &s->cpu_s, &s->other_cpu_s);
	s->steal_s = bk_fleet_snap_steal(&a, &b);
	s->window_s = (double)(b.t_ns - a.t_ns) / 1e9;
	s->ctx = b.ctx > a.ctx ? (double)(b.ctx - a.ctx) : 0; /* threads that exited take their count along */
	s->pss_mib = (double)pss / 1024.0;
	s->threads = (double)threads;
	return 0;
}

int bk_fleet_run(const struct bk_fleet_cfg *cfg, int kind, unsigned n, int phase, struct bk_fleet_sample *s,
		 char *err, size_t errlen)
{
	struct run r = { .cfg = cfg, .kind = kind, .phase = phase, .n = n };
	double t = cfg->seconds * 1e9 / (double)BK_FLEET_PERIOD_NS;
	r.ticks = t < 1 ? 1 : (uint64_t)(t + 0.5);
	r.pids = calloc(n + 1, sizeof(*r.pids));
	r.fds = calloc(n, sizeof(*r.fds));
	if (!r.pids || !r.fds) {
		snprintf(err, errlen, "out of memory");
		return finish(&r, -ENOMEM, err, errlen);
	}
	int e = 0;
	if (kind == BK_FLEET_SHARED && (e = start_broker(&r, err, errlen)) < 0)
		return finish(&r, e, err, errlen);
	for (unsigned i = 0; i < n; i++) {
		if ((e = spawn(&r, i)) < 0) {
			snprintf(err, errlen, "starting app %u: %s", i, strerror(-e));
			return finish(&r, e, err, errlen);
		}
	}
	r.npids = n;
	if (kind == BK_FLEET_SHARED)
		r.pids[r.npids++] = r.broker; /* brokerd's CPU, threads and memory are the fleet's too */
	struct bk_fleet_ready rd;
	int64_t deadline = bk_now_ns() + READY_TIMEOUT_NS + (int64_t)n * 50000000LL;
	for (unsigned i = 0; i < n && e == 0; i++) {
		memset(&rd, 0, sizeof(rd));
		e = read_until(r.fds[i], &rd, sizeof(rd), deadline);
		if (e == 0 && (rd.magic != BK_FLEET_MAGIC || rd.status < 0))
			e = rd.status < 0 ? rd.status : -EPROTO;
		if (e < 0)
			snprintf(err, errlen, "app %u did not get ready: %s", i,
				 e == rd.status && rd.err[0] ? rd.err : strerror(-e));
	}
	if (e == 0)
		e = tick(&r, s, err, errlen);
	return finish(&r, e, err, errlen);
}
