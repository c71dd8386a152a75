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

/* Stop serving c: cancel its tasks and its wake request.  Idempotent. */
void bkd_wconn_tear(struct bkd_worker *w, struct bkd_conn *c)
{
	if (!c->torn) {
		c->torn = true;
		bkd_wconn_cancel_tasks(c);
	}
	if (c->wait_armed && !c->wait_cancel_sent) {
		struct io_uring_sqe *sqe = bkd_worker_sqe(w);
		if (sqe) {
			io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&c->wait_ud, 0);
			io_uring_sqe_set_data64(sqe, 0);
		}
		c->wait_cancel_sent = true;
	}
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
	bkd_warn("conn %u (pid %d): %llu bad submission(s), last: %s", c->id, (int)c->cred.pid,
		(unsigned long long)(v - c->violations_seen), c->cr.last_violation);
	c->violations_seen = v;
}

/* Torn connections with nothing left go back to the control thread, which frees them. */
void bkd_wconn_finish_torn(struct bkd_worker *w)
{
	struct bkd_conn *c = w->conns;
	while (c) {
		struct bkd_conn *next = c->wnext;
		if (c->torn && c->teardown_received && c->ntasks == 0 && !c->wait_armed) {
			conn_unlink(w, c);
			/* Every SQE that names this connection's memory or fds goes to the kernel before the control
			 * thread may unmap or close them. */
			int r = io_uring_submit(&w->ring);
			if (r < 0)
				bkd_err("worker %u: io_uring_submit: %s", w->idx, strerror(-r));
			w->sqes_queued = 0;
			atomic_fetch_sub_explicit(&w->nconns, 1, memory_order_relaxed);
			bkd_inbox_post(&w->b->ctl_inbox, &c->done_item, BKD_IN_CONN_DONE, c);
		}
		c = next;
	}
}

static void run_conn(struct bkd_worker *w, struct bkd_conn *c, bool *busy)
{
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
			bkd_task_run_call(w, c, e);
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
	struct bkd_conn *c = start;
	do {
		struct bkd_conn *next = c->wnext ? c->wnext : w->conns;
		if (!c->torn)
			run_conn(w, c, &busy);
		c = next;
	} while (c != start);
	w->rr = start->wnext ? start->wnext : w->conns;
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
