// SPDX-License-Identifier: MIT
/* broker_runs.c - echo.noop latency and throughput against brokerd (see broker_runs.h). */
#include "broker_runs.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <broker/client.h>

#include "proc_info.h"
#include "util.h"

#define WAIT_NS (5 * 1000000000LL) /* no single echo.noop may take longer than this */

static int connect_noop(const char *socket, int64_t spin_ns, bk_client **c, bk_fn *fn, char *err, size_t errlen)
{
	bk_options o;
	bk_options_init(&o);
	o.spin_ns = spin_ns;
	char why[256] = "";
	int r = bk_connect_error(socket, &o, c, why, sizeof(why));
	if (r < 0) {
		snprintf(err, errlen, "connecting to %s: %s%s%s", socket ? socket : "(default socket)", bk_strerror(r),
			 why[0] ? ": " : "", why);
		return r;
	}
	r = bk_lookup(*c, "echo.noop", fn);
	if (r < 0) {
		snprintf(err, errlen, "looking up echo.noop: %s", bk_strerror(r));
		bk_disconnect(*c);
		*c = NULL;
	}
	return r;
}

/* The task's own status must be 0 with an empty result. */
static int check_noop(bk_future *f)
{
	const void *data;
	size_t len;
	int r = bk_result(f, &data, &len);
	if (r < 0)
		return r;
	return len == 0 ? 0 : -EPROTO;
}

struct rtt_ctx {
	bk_client *c;
	bk_fn fn;
	int err_at; /* which call failed, for the message */
};

static int noop_rt(void *arg, uint64_t seq)
{
	struct rtt_ctx *x = arg;
	bk_future *f;
	(void)seq;
	int r = bk_submit(x->c, x->fn, NULL, 0, &f);
	if (r < 0) {
		x->err_at = 1;
		return r;
	}
	r = bk_wait(f, WAIT_NS);
	if (r == 0) {
		r = check_noop(f);
		x->err_at = 3;
	} else {
		x->err_at = 2;
	}
	bk_release(f);
	return r;
}

int bk_broker_rtt_open(const char *socket, int64_t spin_ns, struct bk_broker_rtt **out, char *err, size_t errlen)
{
	struct rtt_ctx *x = calloc(1, sizeof(*x));
	if (!x) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	int r = connect_noop(socket, spin_ns, &x->c, &x->fn, err, errlen);
	if (r < 0) {
		free(x);
		return r;
	}
	*out = (struct bk_broker_rtt *)x;
	return 0;
}

bk_roundtrip_fn bk_broker_rtt_fn(void)
{
	return noop_rt;
}

int bk_broker_rtt_close(struct bk_broker_rtt *b, int r, char *err, size_t errlen)
{
	struct rtt_ctx *x = (struct rtt_ctx *)b;
	if (r < 0) {
		static const char *const what[] = { "?", "bk_submit", "bk_wait", "the echo.noop result" };
		snprintf(err, errlen, "%s: %s", what[x->err_at], bk_strerror(r));
	}
	bk_disconnect(x->c);
	free(x);
	return r;
}

int bk_broker_rtt(const char *socket, int64_t spin_ns, const struct bk_rtt_cfg *cfg, struct bk_hist *h, char *err,
		  size_t errlen)
{
	struct bk_broker_rtt *b;
	int r = bk_broker_rtt_open(socket, spin_ns, &b, err, errlen);
	if (r < 0)
		return r;
	return bk_broker_rtt_close(b, bk_measure_rtt(noop_rt, b, cfg, h), err, errlen);
}

/*
 * The pipelined loop: keep `window` futures in flight in a ring of handles,
 * reap the completed prefix (oldest first), refill with one bk_submit_batch
 * per contiguous run of free positions, and sleep in bk_wait on the oldest
 * only when nothing at all completed.
 */
struct pipe_run {
	bk_client *c;
	bk_fn fn;
	unsigned window;
	bk_future **fut;
	bk_call *calls;
	unsigned head, inflight;
};

static int refill(struct pipe_run *p)
{
	while (p->inflight < p->window) {
		unsigned tail = (p->head + p->inflight) % p->window;
		unsigned n = p->window - p->inflight;
		if (tail + n > p->window)
			n = p->window - tail; /* the batch fills a contiguous run of handles */
		int k = bk_submit_batch(p->c, p->calls, n, &p->fut[tail]);
		if (k == -EAGAIN)
			return 0; /* ring or slots full for now: reap first */
		if (k < 0)
			return k;
		p->inflight += (unsigned)k;
		if ((unsigned)k < n)
			return 0;
	}
	return 0;
}

/* Reap; returns tasks completed (>= 0) or an error. */
static int reap(struct pipe_run *p)
{
	int done = 0;
	while (p->inflight) {
		bk_future *f = p->fut[p->head];
		int r = bk_poll(f);
		if (r == 0)
			break;
		if (r == 1)
			r = check_noop(f);
		bk_release(f);
		if (r < 0)
			return r;
		p->head = (p->head + 1) % p->window;
		p->inflight--;
		done++;
	}
	if (done == 0 && p->inflight) {
		int r = bk_wait(p->fut[p->head], WAIT_NS);
		if (r < 0)
			return r;
	}
	return done;
}

static int pipe_setup(struct pipe_run *p, const char *socket, unsigned window, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	p->window = window;
	p->fut = calloc(window, sizeof(*p->fut));
	p->calls = calloc(window, sizeof(*p->calls));
	if (!p->fut || !p->calls) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	int r = connect_noop(socket, -1, &p->c, &p->fn, err, errlen);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < window; i++)
		p->calls[i] = (bk_call){ .fn = p->fn };
	return 0;
}

/* Run for `ns` (or until `tasks` completed when ns == 0). */
static int pipe_run_for(struct pipe_run *p, int64_t ns, uint64_t tasks, uint64_t *done_out, int64_t *elapsed)
{
	uint64_t done = 0;
	int64_t t0 = bk_now_ns(), now = t0;
	for (;;) {
		int r = refill(p);
		if (r < 0)
			return r;
		r = reap(p);
		if (r < 0)
			return r;
		done += (uint64_t)r;
		if (ns ? ((now = bk_now_ns()) - t0 >= ns) : done >= tasks)
			break;
	}
	*done_out = done;
	*elapsed = (ns ? now : bk_now_ns()) - t0;
	return 0;
}

/* Let what is still in flight finish, so the connection closes cleanly. */
static void pipe_teardown(struct pipe_run *p)
{
	while (p->inflight) {
		bk_future *f = p->fut[p->head];
		bk_wait(f, WAIT_NS);
		bk_release(f);
		p->head = (p->head + 1) % p->window;
		p->inflight--;
	}
	bk_disconnect(p->c);
	free(p->fut);
	free(p->calls);
}

static const char *werr(int r)
{
	return bk_strerror(r);
}

int bk_broker_tps(const char *socket, unsigned window, double seconds, const struct bk_phase_hooks *hooks, double *tps,
		  char *err, size_t errlen)
{
	struct pipe_run p;
	int r = pipe_setup(&p, socket, window, err, errlen);
	if (r < 0)
		goto out;
	uint64_t done;
	int64_t el;
	r = pipe_run_for(&p, 0, 20000, &done, &el); /* warm-up */
	if (r == 0) {
		if (hooks && hooks->begin)
			hooks->begin(hooks->arg);
		r = pipe_run_for(&p, (int64_t)(seconds * 1e9), 0, &done, &el);
		if (hooks && hooks->end)
			hooks->end(hooks->arg, r == 0 ? done : 0);
	}
	if (r < 0)
		snprintf(err, errlen, "window %u: %s", window, werr(r));
	else
		*tps = (double)done / ((double)el / 1e9);
out:
	if (p.c)
		pipe_teardown(&p);
	return r;
}

struct child_result {
	int32_t status;
	uint32_t pad;
	uint64_t done;
	int64_t elapsed_ns;
	uint64_t ctxsw; /* the child's context switches over its timed run */
	char err[200];
};

static void child_main(const char *socket, unsigned window, double seconds, int ready_fd, int go_fd)
{
	struct child_result res = { 0 };
	struct pipe_run p;
	uint64_t done = 0;
	int64_t el = 0;
	int r = pipe_setup(&p, socket, window, res.err, sizeof(res.err));
	if (r == 0)
		r = pipe_run_for(&p, 0, 5000, &done, &el);
	char go = 0;
	/* Tell the parent we are ready (or failed), then start together. */
	if (r == 0 && (bk_write_full(ready_fd, "r", 1) != 0 || bk_read_full(go_fd, &go, 1) != 0))
		r = -EPIPE;
	uint64_t sw0 = bk_self_ctxsw();
	if (r == 0)
		r = pipe_run_for(&p, (int64_t)(seconds * 1e9), 0, &done, &el);
	res.ctxsw = bk_self_ctxsw() - sw0;
	if (r < 0 && !res.err[0])
		snprintf(res.err, sizeof(res.err), "window %u: %s", window, werr(r));
	res.status = r;
	res.done = done;
	res.elapsed_ns = el;
	if (r < 0)
		bk_write_full(ready_fd, "f", 1);
	bk_write_full(ready_fd, &res, sizeof(res));
	if (p.c)
		pipe_teardown(&p);
	_exit(r < 0 ? 1 : 0);
}

/* Read one byte from fd within timeout_ms: 0, -ETIMEDOUT or -EPIPE. */
static int read_byte(int fd, char *c, int timeout_ms)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	int n = poll(&pf, 1, timeout_ms);
	if (n == 0)
		return -ETIMEDOUT;
	if (n < 0)
		return -errno;
	return bk_read_full(fd, c, 1);
}

int bk_broker_tps_multi(const char *socket, pid_t broker, unsigned window, unsigned clients, double seconds, double *tps,
			double *ctxsw, char *err, size_t errlen)
{
	pid_t pids[64];
	int up[64], go[64];
	unsigned n = 0;
	int r = 0;
	if (clients > 64)
		return -EINVAL;
	for (; n < clients; n++) {
		int a[2], b[2];
		if (pipe2(a, O_CLOEXEC) != 0) {
			r = -errno;
			break;
		}
		if (pipe2(b, O_CLOEXEC) != 0) {
			r = -errno;
			close(a[0]);
			close(a[1]);
			break;
		}
		pid_t pid = bk_fork_child();
		if (pid == 0) {
			close(a[0]);
			close(b[1]);
			child_main(socket, window, seconds, a[1], b[0]);
		}
		close(a[1]);
		close(b[0]);
		if (pid < 0) {
			r = pid;
			close(a[0]);
			close(b[1]);
			break;
		}
		pids[n] = pid;
		up[n] = a[0];
		go[n] = b[1];
	}
	/* Everyone ready within 15 s, or we give up (children die with their pipes). */
	for (unsigned i = 0; r == 0 && i < n; i++) {
		char c;
		r = read_byte(up[i], &c, 15000);
		if (r == 0 && c != 'r') {
			struct child_result res;
			r = -EIO;
			if (bk_read_full(up[i], &res, sizeof(res)) == 0) {
				res.err[sizeof(res.err) - 1] = 0;
				snprintf(err, errlen, "client %u: %s", i, res.err);
				r = res.status < 0 ? res.status : -EIO;
				break;
			}
		}
		if (r < 0)
			snprintf(err, errlen, "client %u did not get ready: %s", i, bk_strerror(r));
	}
	/* brokerd's switches from the start signal to the last result: its clients' runs lie within. */
	uint64_t b0 = 0, b1 = 0;
	bool bctx = broker > 0 && bkt_proc_ctxsw(broker, &b0) == 0;
	for (unsigned i = 0; r == 0 && i < n; i++)
		if (bk_write_full(go[i], "g", 1) != 0)
			r = -EPIPE;
	double sum = 0;
	uint64_t tasks = 0, switches = 0;
	for (unsigned i = 0; r == 0 && i < n; i++) {
		struct child_result res;
		struct pollfd pf = { .fd = up[i], .events = POLLIN };
		if (poll(&pf, 1, (int)(seconds * 1000) + 15000) != 1 || bk_read_full(up[i], &res, sizeof(res)) != 0) {
			r = -ETIMEDOUT;
			snprintf(err, errlen, "client %u sent no result", i);
			break;
		}
		if (res.status < 0) {
			r = res.status;
			snprintf(err, errlen, "client %u: %s", i, res.err);
			break;
		}
		sum += (double)res.done / ((double)res.elapsed_ns / 1e9);
		tasks += res.done;
		switches += res.ctxsw;
	}
	if (bctx && bkt_proc_ctxsw(broker, &b1) == 0)
		switches += b1 - b0;
	for (unsigned i = 0; i < n; i++) {
		close(up[i]);
		close(go[i]);
		bk_reap(pids[i], r == 0 ? 15000 : 2000);
	}
	if (r == 0) {
		*tps = sum;
		*ctxsw = tasks ? (double)switches / (double)tasks : 0;
	}
	return r;
}

int bk_broker_idle_cpu(const char *socket, int broker_pid, double seconds, double *pct, char *err, size_t errlen)
{
	bk_client *c;
	bk_fn fn;
	int r = connect_noop(socket, -1, &c, &fn, err, errlen);
	if (r < 0)
		return r;
	struct rtt_ctx x = { .c = c, .fn = fn };
	r = noop_rt(&x, 0);
	uint64_t t0 = 0, t1 = 0;
	int64_t w0 = bk_now_ns();
	if (r == 0)
		r = bkt_proc_cpu_ticks(broker_pid, &t0);
	if (r == 0) {
		/* The measurement window itself: nothing to wait for, we just watch. */
		struct timespec ts = { (time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9) };
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
		r = bkt_proc_cpu_ticks(broker_pid, &t1);
	}
	int64_t w1 = bk_now_ns();
	if (r < 0)
		snprintf(err, errlen, "idle CPU of brokerd pid %d: %s", broker_pid, bk_strerror(r));
	else
		*pct = 100.0 * ((double)(t1 - t0) / (double)sysconf(_SC_CLK_TCK)) / ((double)(w1 - w0) / 1e9);
	bk_disconnect(c);
	return r;
}
