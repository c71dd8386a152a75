// SPDX-License-Identifier: MIT
/*
 * worker_conns.c - a worker's connections: the list it serves, one fair
 * round over their submission rings (at most BKD_WORKER_BUDGET entries
 * each), publishing completions and queueing client wake-ups, and the
 * teardown of a connection (cancel its tasks, hand it back to the control
 * thread once nothing of it is left in flight).  Worker thread only.
 */
#include "worker_conns.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "task.h"
#include "uring_futex.h"

static const uint64_t one_u64 = 1; /* written to client eventfds; read-only for the kernel */

void bkd_wconn_link(struct bkd_worker *w, struct bkd_conn *c)
{
	c->wnext = NULL;
	c->wprev = w->conns_tail;
	if (w->conns_tail)
		w->conns_tail->wnext = c;
	else
		w->conns = c;
	w->conns_tail = c;
	w->nlinked++;
}

static void conn_unlink(struct bkd_worker *w, struct bkd_conn *c)
{
	if (c->wprev)
		c->wprev->wnext = c->wnext;
	else
		w->conns = c->wnext;
	if (c->wnext)
		c->wnext->wprev = c->wprev;
	else
		w->conns_tail = c->wprev;
	w->nlinked--;
	if (w->rr == c)
		w->rr = c->wnext;
	if (c->dirty) {
		struct bkd_conn **pp = &w->dirty;
		while (*pp && *pp != c)
			pp = &(*pp)->dirty_next;
		if (*pp)
			*pp = c->dirty_next;
		c->dirty = false;
	}
}

void bkd_wconn_cancel_tasks(struct bkd_conn *c)
{
	for (uint32_t s = 0; s < c->cr.v.geo.nslots; s++)
		if (c->tasks[s])
			bkd_task_cancel(c->tasks[s]);
}

/* Every queued SQE to the kernel; false if some are still queued (a partial submit, or an error). */
static bool submit_all(struct bkd_worker *w)
{
	if (io_uring_sq_ready(&w->ring)) {
		int r = io_uring_submit(&w->ring);
		if (r < 0)
			bkd_err("worker %u: io_uring_submit: %s", w->idx, strerror(-r));
		w->sqes_queued = 0;
	}
	return io_uring_sq_ready(&w->ring) == 0;
}

/* Cancel c's armed wake request, once (its completion clears wait_armed and wait_cancel_sent). */
static void cancel_wait(struct bkd_worker *w, struct bkd_conn *c)
{
	if (!c->wait_armed || c->wait_cancel_sent)
		return;
	struct io_uring_sqe *sqe = bkd_worker_sqe(w);
	if (!sqe)
		return; /* tried again by the next teardown or round that asks */
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&c->wait_ud, 0);
	io_uring_sqe_set_data64(sqe, 0);
	c->wait_cancel_sent = true;
}

/* Stop serving c: cancel its tasks and its wake request.  Idempotent. */
void bkd_wconn_tear(struct bkd_worker *w, struct bkd_conn *c)
{
	if (!c->torn) {
		c->torn = true;
		bkd_wconn_cancel_tasks(c);
	}
	cancel_wait(w, c);
}

/* A violation the connection cannot recover from: stop serving it and ask the control thread to close it. */
static void conn_drop(struct bkd_worker *w, struct bkd_conn *c)
{
	if (c->torn)
		return;
	bkd_warn("conn %u (pid %d): protocol violation, disconnecting: %s", c->id, (int)c->cred.pid,
		c->cr.last_violation[0] ? c->cr.last_violation : "impossible ring indices");
	bkd_wconn_tear(w, c);
	bkd_inbox_post(&w->b->ctl_inbox, &c->drop_item, BKD_IN_CONN_DROP, c);
}

/* Log violations that did not cost the connection (bad entries completed with -EINVAL). */
static void note_violations(struct bkd_worker *w, struct bkd_conn *c)
{
	uint64_t v = c->cr.violations;
	if (v == c->violations_seen)
		return;
	atomic_fetch_add_explicit(&w->b->stats.violations, v - c->violations_seen, memory_order_relaxed);
	bkd_warn_limited(&c->wwarn_rl, "conn %u (pid %d): %llu bad submission(s), last: %s", c->id, (int)c->cred.pid,
		(unsigned long long)(v - c->violations_seen), c->cr.last_violation);
	c->violations_seen = v;
	if (v >= BKD_VIOLATIONS_MAX)
		conn_drop(w, c); /* no honest client gets there (ratelimit.h) */
}

/* Torn connections with nothing left go back to the control thread, which frees them. */
void bkd_wconn_finish_torn(struct bkd_worker *w)
{
	struct bkd_conn *c = w->conns;
	while (c) {
		struct bkd_conn *next = c->wnext;
		/* Every SQE that names this connection's memory or fds goes to the kernel before the control thread
		 * may unmap or close them; what cannot go now is retried on a later turn. */
		if (c->torn && c->teardown_received && c->ntasks == 0 && !c->wait_armed && submit_all(w)) {
			conn_unlink(w, c);
			atomic_fetch_sub_explicit(&w->nconns, 1, memory_order_relaxed);
			bkd_inbox_post(&w->b->ctl_inbox, &c->done_item, BKD_IN_CONN_DONE, c);
		}
		c = next;
	}
}

/*
 * Balance (docs/ARCHITECTURE.md, "Balance across workers"): a connection
 * that is quiescent (no task, no unpublished completion, no wait armed on
 * our ring) and has new entries goes to a sleeping worker when this worker
 * is loaded: it already ran another connection's entries this round, or
 * another of its connections has tasks in flight.  Every other such connection goes, so a
 * burst is shared rather than moved whole.  Nothing of it stays on our
 * ring, so its entries are still taken in SQ order by one worker at a time.
 */
static struct bkd_worker *idle_peer(struct bkd_worker *w)
{
	struct bkd_broker *b = w->b;
	struct bkd_worker *best = NULL;
	uint32_t best_n = UINT32_MAX;
	for (unsigned i = 0; i < b->nworkers; i++) {
		struct bkd_worker *x = &b->workers[i];
		/* A hint: a peer that woke meanwhile only gets the connection a little early. */
		if (x == w || !atomic_load_explicit(&x->idle, memory_order_relaxed))
			continue;
		uint32_t n = atomic_load_explicit(&x->nconns, memory_order_relaxed);
		if (n < best_n) {
			best = x;
			best_n = n;
		}
	}
	return best;
}

/* Nothing of c is left on this worker but, possibly, an armed wake request. */
static bool quiescent(const struct bkd_worker *w, struct bkd_conn *c)
{
	return !w->draining && !c->torn && !c->ntasks && !c->dirty && !bkd_conn_rings_backlog(&c->cr);
}

static bool hand_over(struct bkd_worker *w, struct bkd_conn *c, struct bkd_worker *to)
{
	/* Queued SQEs may name c's futex word or eventfd (wake-ups): they reach the kernel before c can be
	 * torn down through its new owner and unmapped or closed.  If they cannot all go now, c stays. */
	if (!submit_all(w))
		return false;
	conn_unlink(w, c);
	atomic_fetch_sub_explicit(&w->nconns, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&to->nconns, 1, memory_order_relaxed);
	/* Release: the control thread reads the owner (acquire) to route a teardown; the inbox's lock orders
	 * everything else for the new owner.  Stored before the post, so that no later owner's store can be
	 * overtaken by this one. */
	atomic_store_explicit(&c->w, to, memory_order_release);
	atomic_fetch_add_explicit(&w->migrated, 1, memory_order_relaxed);
	bkd_inbox_post(&to->inbox, &c->add_item, BKD_IN_ADD_CONN, c);
	return true;
}

static bool migrate(struct bkd_worker *w, struct bkd_conn *c, bool busy)
{
	/* Loaded: this round already ran another connection's entries, or another has tasks in flight. */
	if (!(busy || w->busy_conns > 0) || !w->b->balance || c->moving || !quiescent(w, c) ||
	    atomic_load_explicit(&w->b->draining, memory_order_relaxed) ||
	    !bkd_conn_rings_sq_pending(&c->cr))
		return false;
	if (w->migrate_skip ^= 1)
		return false; /* keep every second one */
	struct bkd_worker *to = idle_peer(w);
	if (!to)
		return false;
	if (c->wait_armed) {
		/* A wake request of ours still names c: cancel it, and move c when its completion is back
		 * (bkd_wconn_wait_done).  Meanwhile c is served here as usual. */
		c->moving = true;
		cancel_wait(w, c);
		return false;
	}
	return hand_over(w, c, to);
}

void bkd_wconn_wait_done(struct bkd_worker *w, struct bkd_conn *c)
{
	if (!c->moving)
		return;
	c->moving = false;
	struct bkd_worker *to = quiescent(w, c) ? idle_peer(w) : NULL;
	if (to)
		hand_over(w, c, to);
}

static void run_conn(struct bkd_worker *w, struct bkd_conn *c, bool *busy)
{
	if (migrate(w, c, *busy))
		return;
	if (bkd_conn_rings_backlog(&c->cr))
		bkd_worker_mark_dirty(w, c); /* retry publishing what did not fit */
	int n = bkd_conn_rings_fetch(&c->cr, w->fetch_buf, BKD_WORKER_BUDGET);
	if (n < 0) {
		note_violations(w, c);
		conn_drop(w, c);
		return;
	}
	note_violations(w, c);
	if (n == 0)
		return;
	*busy = true;
	for (int i = 0; i < n && !c->torn; i++) {
		const struct bk_sqe *e = &w->fetch_buf[i];
		if (e->op == BK_OP_CALL) {
			bkd_task_take(w, c, e);
		} else if (e->op == BK_OP_CANCEL) {
			struct bk_task *t = c->tasks[e->slot];
			if (t && t->gen == e->gen)
				bkd_task_cancel(t);
		}
	}
}

bool bkd_wconn_run_round(struct bkd_worker *w)
{
	bool busy = false;
	struct bkd_conn *start = w->rr ? w->rr : w->conns;
	if (!start)
		return false;
	/* run_conn may hand any connection to another worker, start included: count the steps instead of
	 * waiting to come back to start, and let conn_unlink move rr on if start leaves. */
	w->rr = start;
	unsigned n = w->nlinked;
	struct bkd_conn *c = start;
	for (unsigned k = 0; k < n && c; k++) {
		struct bkd_conn *next = c->wnext ? c->wnext : w->conns; /* taken first: c may leave */
		if (!c->torn)
			run_conn(w, c, &busy);
		c = next;
	}
	if (w->rr == start)
		w->rr = start->wnext ? start->wnext : w->conns; /* the next round starts one further */
	/* Start what this round took, by lane; what is left keeps the worker awake for the next round. */
	if (bkd_task_run_lanes(w))
		busy = true;
	return busy;
}

void bkd_wconn_flush_dirty(struct bkd_worker *w)
{
	while (w->dirty) {
		struct bkd_conn *c = w->dirty;
		w->dirty = c->dirty_next;
		c->dirty = false;
		int r = bkd_conn_rings_flush(&c->cr);
		if (r < 0) {
			note_violations(w, c);
			conn_drop(w, c);
			continue;
		}
		if (r & BKD_FLUSH_WAKE_FUTEX) {
			struct io_uring_sqe *sqe = w->b->futex_ok ? bkd_worker_sqe(w) : NULL;
			if (sqe) {
				bkd_prep_futex_wake(sqe, &c->cr.v.cq_ctl->wake_seq);
				io_uring_sqe_set_data64(sqe, 0);
				bkd_worker_fire_and_forget(w, sqe);
			} else {
				bk_futex_wake(&c->cr.v.cq_ctl->wake_seq, INT32_MAX);
			}
		}
		if ((r & BKD_FLUSH_NOTIFY_FD) && c->client_efd >= 0) {
			struct io_uring_sqe *sqe = bkd_worker_sqe(w);
			if (sqe) {
				io_uring_prep_write(sqe, c->client_efd, &one_u64, sizeof(one_u64), 0);
				io_uring_sqe_set_data64(sqe, 0);
				bkd_worker_fire_and_forget(w, sqe);
			} else if (write(c->client_efd, &one_u64, sizeof(one_u64)) < 0) {
				bkd_dbg("conn %u: eventfd write: %s", c->id, strerror(errno));
			}
		}
	}
}
