// SPDX-License-Identifier: MIT
/*
 * client.c - one broker-stress client process: connect, then until the
 * deadline post rounds of 1-8 mixed futures (some collected by bk_wait,
 * some by completion callbacks through bk_fd + bk_dispatch), check every
 * result, check that every callback ran exactly once, and report the counts
 * of each round to the parent.  A future ends as client.h's "How a future
 * ends" says: completed (checked as usual) or lost with its broker, when
 * bk_wait, bk_poll and bk_result must all say BK_EGONE.  While brokerd may
 * be restarted a lost future is a clear error, counted as "broker gone"
 * (neither passed nor failed), and the client reconnects and goes on.
 */
#include <errno.h>
#include <stdarg.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stress.h"
#include "util.h"

#define ROUND_MAX 8
#define WAIT_NS (10 * 1000000000LL) /* a future not complete after this is a failure */

struct rec {
	struct stress_op op;
	bk_future *f;
	int use_cb;
	int cb_calls;
	bk_future *cb_future;
	int cb_status, cb_poll; /* what bk_result and bk_poll said inside the callback */
	int64_t t_submit, t_done;
};

struct state {
	const struct bk_stress_client_cfg *cfg;
	bk_client *c;
	bk_fn fns[OP_NKINDS];
	uint64_t rng, seq;
	struct bk_stress_msg delta;
};

static void fail(struct state *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct state *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "broker-stress: client %d: FAILED: ", (int)getpid());
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	s->delta.failed++;
}

static void report(struct state *s, uint32_t kind)
{
	s->delta.pid = (int32_t)getpid();
	s->delta.kind = kind;
	if (bk_write_full(s->cfg->report_fd, &s->delta, sizeof(s->delta)) != 0)
		_exit(4); /* the parent is gone: nobody to report to */
	memset(&s->delta, 0, sizeof(s->delta));
}

static void on_complete(bk_future *f, void *arg)
{
	struct rec *r = arg;
	r->cb_calls++;
	r->cb_future = f;
	r->cb_status = bk_result(f, NULL, NULL);
	r->cb_poll = bk_poll(f);
	if (!r->t_done)
		r->t_done = bk_now_ns();
}

/* Connect and resolve every function; retries while brokerd may be restarting. */
static int connect_all(struct state *s)
{
	int delay_ms = 5;
	for (;;) {
		char why[256] = "";
		int r = bk_connect_error(s->cfg->socket, NULL, &s->c, why, sizeof(why));
		if (r == 0) {
			for (int k = 0; k < OP_NKINDS && r == 0; k++)
				r = bk_lookup(s->c, stress_op_fn_names[k], &s->fns[k]);
			if (r == 0)
				return 0;
			bk_disconnect(s->c);
			s->c = NULL;
			snprintf(why, sizeof(why), "looking up functions");
		}
		/*
		 * A connect queued on a brokerd SIGKILLed before it answered sees the socket close or reset
		 * (BK_ENOTBROKER, "closed the connection" / "sending HELLO"); a silent or garbled peer stays a failure.
		 */
		int peer_went = r == BK_ENOTBROKER && (strstr(why, "closed the connection") || strstr(why, "sending HELLO"));
		int transient = r == -ENOENT || r == -ECONNREFUSED || r == BK_EGONE || r == -ECONNRESET || r == -EPIPE ||
				peer_went;
		if (!s->cfg->restarts || !transient) {
			fail(s, "connecting to %s: %s (%s)", s->cfg->socket, bk_strerror(r), why);
			return r;
		}
		if (bk_now_ns() + delay_ms * 1000000LL > s->cfg->deadline_ns)
			return BK_EGONE; /* ran out of time while brokerd was down: nothing submitted */
		struct timespec ts = { 0, delay_ms * 1000000L };
		nanosleep(&ts, NULL); /* back-off between connection attempts, not synchronisation */
		if (delay_ms < 100)
			delay_ms *= 2;
	}
}

/* r was lost with its broker (BK_EGONE): a clear error if brokerd may be restarting. */
static void gone(struct state *s, struct rec *r, const char *where)
{
	if (s->cfg->restarts)
		s->delta.gone++;
	else
		fail(s, "%s(%zu bytes): %s: broker gone, but brokerd was not restarted", stress_op_fn_names[r->op.kind],
		     r->op.len, where);
}

/*
 * Wait for a callback future: dispatch until its callback ran, bounded.
 * BK_EGONE from bk_dispatch is no reason to stop: the callbacks of lost
 * futures still run, and the callback tells how r ended.
 */
static int wait_cb(struct state *s, struct rec *r)
{
	int64_t deadline = r->t_submit + WAIT_NS;
	for (;;) {
		int n = bk_dispatch(s->c);
		if (n < 0 && n != BK_EGONE)
			return n;
		if (r->cb_calls)
			return 0;
		int64_t now = bk_now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = bk_fd(s->c), .events = POLLIN };
		/* Sliced so that a completion whose fd edge we missed is still reaped. */
		if (poll(&p, 1, 50) < 0 && errno != EINTR)
			return -errno;
	}
}

/*
 * Collect r and check how it ended against client.h: bk_wait's answer (or
 * bk_poll's inside the callback) and bk_result's must agree on completed
 * versus lost.  Returns BK_EGONE for a lost future, else 0.
 */
static int collect(struct state *s, struct rec *r)
{
	const char *fn = stress_op_fn_names[r->op.kind];
	int e = r->use_cb ? wait_cb(s, r) : bk_wait(r->f, WAIT_NS);
	if (!r->use_cb)
		r->t_done = bk_now_ns();
	if (e == -ETIMEDOUT) {
		fail(s, "%s(%zu bytes) did not end within 10 s", fn, r->op.len);
		s->delta.lost++;
		return 0;
	}
	if (e < 0 && e != BK_EGONE) {
		fail(s, "waiting for %s: %s", fn, bk_strerror(e));
		return 0;
	}
	/* The waiting side's word: bk_wait 0 / bk_poll 1 completed, BK_EGONE lost. */
	int said = r->use_cb ? r->cb_poll : e;
	const char *who = r->use_cb ? "bk_poll in the callback" : "bk_wait";
	const void *data = NULL;
	size_t len = 0;
	int st = bk_result(r->f, &data, &len);
	if (st == -EBUSY || st == BK_ESTALE) {
		fail(s, "%s: bk_result after %s returned %d: %s", fn, who, said, bk_strerror(st));
		return 0;
	}
	if (r->use_cb && st != r->cb_status) {
		fail(s, "%s: bk_result said %d in the callback, %d after it", fn, r->cb_status, st);
		return 0;
	}
	int lost = said == BK_EGONE;
	if ((said != BK_EGONE && said != (r->use_cb ? 1 : 0)) || lost != (st == BK_EGONE)) {
		fail(s, "%s: %s returned %d (%s) but bk_result %d (%s)", fn, who, said, bk_strerror(said), st,
		     bk_strerror(st));
		return 0;
	}
	if (lost) {
		gone(s, r, who);
		return BK_EGONE;
	}
	if (st == -ECANCELED && r->op.kind == OP_CANCEL_SLEEP)
		s->delta.cancelled++;
	char why[512];
	if (stress_op_check(&r->op, st, data, len, r->t_done - r->t_submit, why, sizeof(why)) < 0)
		fail(s, "%s", why);
	else if (st != -ECANCELED)
		s->delta.passed++;
	return 0;
}

/* One round: submit n futures, collect and check them all.  Returns BK_EGONE when the connection died. */
static int round_trip(struct state *s, struct rec *recs, int n)
{
	int posted = 0, dead = 0;
	for (int i = 0; i < n; i++) {
		struct rec *r = &recs[i];
		memset(r, 0, sizeof(*r));
		int e = stress_op_make(&r->op, &s->rng, s->seq++);
		if (e < 0) {
			fail(s, "building an operation: %s", strerror(-e));
			break;
		}
		r->use_cb = stress_rand(&s->rng) % 3 == 0;
		r->t_submit = bk_now_ns();
		e = bk_submit(s->c, s->fns[r->op.kind], r->op.arg, r->op.len, &r->f);
		if (e == BK_EGONE) {
			gone(s, r, "bk_submit");
			dead = 1;
			break;
		}
		if (e < 0) {
			fail(s, "bk_submit %s(%zu bytes): %s", stress_op_fn_names[r->op.kind], r->op.len, bk_strerror(e));
			break;
		}
		posted++;
		if (r->use_cb && (e = bk_on_complete(r->f, on_complete, r)) < 0) {
			fail(s, "bk_on_complete: %s", bk_strerror(e));
			r->use_cb = 0;
		}
		if (r->op.kind == OP_CANCEL_SLEEP && (e = bk_cancel(r->f)) < 0 && e != BK_EGONE)
			fail(s, "bk_cancel: %s", bk_strerror(e));
	}
	for (int i = 0; i < posted; i++)
		if (collect(s, &recs[i]) == BK_EGONE)
			dead = 1;
	/* Exactly once: one more dispatch must not run any callback a second time (nor after a death). */
	if (bk_dispatch(s->c) == BK_EGONE)
		dead = 1;
	for (int i = 0; i < posted; i++) {
		struct rec *r = &recs[i];
		if (r->use_cb && r->cb_calls > 1) {
			fail(s, "the callback of %s ran %d times", stress_op_fn_names[r->op.kind], r->cb_calls);
			s->delta.lost++;
		}
		if (r->use_cb && r->cb_calls == 1 && r->cb_future != r->f)
			fail(s, "a callback ran with another future than its own");
		bk_release(r->f);
	}
	return dead ? BK_EGONE : 0;
}

void bk_stress_client(const struct bk_stress_client_cfg *cfg)
{
	struct state s = { .cfg = cfg, .rng = cfg->seed | 1 };
	struct rec recs[ROUND_MAX];
	if (connect_all(&s) < 0) {
		report(&s, MSG_FINAL);
		_exit(0);
	}
	while (bk_now_ns() < cfg->deadline_ns) {
		int n = 1 + (int)(stress_rand(&s.rng) % ROUND_MAX);
		int e = round_trip(&s, recs, n);
		report(&s, MSG_DELTA);
		if (e == BK_EGONE) {
			bk_disconnect(s.c);
			s.c = NULL;
			s.delta.reconnects++;
			if (connect_all(&s) < 0)
				break;
		}
	}
	if (s.c)
		bk_disconnect(s.c);
	report(&s, MSG_FINAL);
	_exit(0);
}
