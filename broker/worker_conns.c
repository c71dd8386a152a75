// SPDX-License-Identifier: MIT
/*
 * worker_conns.c - a worker's connections: the list it serves, one fair
 * round over the ones with work (the ready list; at most BKD_WORKER_BUDGET
 * entries or BKD_WORKER_BUDGET_BYTES each), parking the idle ones with a
 * wake request armed, publishing completions and queueing client wake-ups,
 * and the incremental teardown of a connection (cancel its tasks a budget
 * at a time, hand it back to the control thread once nothing of it is left
 * in flight).  docs/ARCHITECTURE.md, "Only connections with work" and
 * "Incremental teardown".  Worker thread only.
 */
#include "worker_conns.h"

#include <errno.h>
#include <malloc.h>
#include <string.h>
#include <unistd.h>

#include "latency.h"
#include "log.h"
#include "task.h"
#include "uring_futex.h"

static const uint64_t one_u64 = 1; /* written to client eventfds; read-only for the kernel */

/* The teardown list: connections cancelling their tasks a budget at a time, or torn and waiting to go. */
static void tlist_add(struct bkd_worker *w, struct bkd_conn *c)
{
	if (c->on_tlist)
		return;
	c->on_tlist = true;
	c->tprev = NULL;
	c->tnext = w->tlist;
	if (w->tlist)
		w->tlist->tprev = c;
	w->tlist = c;
}

static void tlist_del(struct bkd_worker *w, struct bkd_conn *c)
{
	if (!c->on_tlist)
		return;
	if (c->tprev)
		c->tprev->tnext = c->tnext;
	else
		w->tlist = c->tnext;
	if (c->tnext)
		c->tnext->tprev = c->tprev;
	c->on_tlist = false;
}

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
	c->last_work_ns = w->now;
	bkd_worker_ready(w, c);
	if (c->torn || c->cancelling)
		tlist_add(w, c); /* a teardown that overtook the hand-over (handle_item) */
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
	bkd_worker_unready(w, c);
	tlist_del(w, c);
	if (c->dirty) {
		struct bkd_conn **pp = &w->dirty;
		while (*pp && *pp != c)
			pp = &(*pp)->dirty_next;
		if (*pp)
			*pp = c->dirty_next;
		c->dirty = false;
	}
}

static bool linked(const struct bkd_worker *w, const struct bkd_conn *c)
{
	return c->wprev || w->conns == c;
}

void bkd_wconn_cancel_tasks(struct bkd_worker *w, struct bkd_conn *c)
{
	c->cancelling = true;
	c->cancel_cursor = 0;
	if (linked(w, c)) /* else bkd_wconn_link adds it */
		tlist_add(w, c);
}

/* Visit up to *budget slots of c's incremental cancel; true once every slot was visited. */
static bool cancel_step(struct bkd_conn *c, unsigned *budget)
{
	uint32_t nslots = c->cr.v.geo.nslots;
	while (c->cancel_cursor < nslots && *budget > 0) {
		struct bk_task *t = c->tasks[c->cancel_cursor++];
		(*budget)--;
		if (t)
			bkd_task_cancel(t);
	}
	if (c->cancel_cursor < nslots)
		return false;
	c->cancelling = false;
	return true;
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

/* Cancel c's outstanding notify write (a client may hold its eventfd full: the write would never end). */
static void cancel_notify(struct bkd_worker *w, struct bkd_conn *c)
{
	if (!c->notify_inflight)
		return;
	struct io_uring_sqe *sqe = bkd_worker_sqe(w);
	if (!sqe)
		return;
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&c->notify_ud, 0);
	io_uring_sqe_set_data64(sqe, 0);
}

/* Stop serving c: cancel its tasks (incrementally), its wake request and its notify write.  Idempotent. */
void bkd_wconn_tear(struct bkd_worker *w, struct bkd_conn *c)
{
	if (!c->torn) {
		c->torn = true;
		c->parked = false; /* need_wakeup may stay raised: nobody reads it any more */
		bkd_worker_unready(w, c);
		bkd_wconn_cancel_tasks(w, c);
		cancel_notify(w, c);
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

/*
 * One step of the teardown list: cancels visit at most BKD_CANCEL_BUDGET
 * slots per turn over all connections, so a dying connection with 100,000
 * tasks costs the others' turns little; torn connections with nothing left
 * go back to the control thread, which frees them.  True while work remains.
 */
#define BKD_TRIM_TASKS 4096u

bool bkd_wconn_step_torn(struct bkd_worker *w)
{
	unsigned budget = BKD_CANCEL_BUDGET;
	struct bkd_conn *c = w->tlist;
	while (c) {
		struct bkd_conn *next = c->tnext;
		if (c->cancelling && !cancel_step(c, &budget)) {
			c = next;
			continue;
		}
		if (!c->torn) {
			tlist_del(w, c); /* a cancel-all of a live connection is done */
		} else if (c->teardown_received && c->ntasks == 0 && c->charges == 0 && !c->wait_armed &&
			   !c->notify_inflight && submit_all(w)) {
			/* Every SQE that names this connection's memory or fds went to the kernel before the
			 * control thread may unmap or close them; what cannot go now is retried on a later turn. */
			conn_unlink(w, c);
			atomic_fetch_sub_explicit(&w->nconns, 1, memory_order_relaxed);
			/* A connection that held thousands of tasks leaves their memory in this thread's malloc
			 * arena, which glibc keeps; hand it back, or one burst would cost brokerd for good.
			 * Once per such teardown, which took that connection as many tasks to cause. */
			bool big = c->ntasks_peak >= BKD_TRIM_TASKS;
			bkd_inbox_post(&w->b->ctl_inbox, &c->done_item, BKD_IN_CONN_DONE, c);
			if (big)
				malloc_trim(0);
		}
		c = next;
	}
	return budget == 0;
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
	return !w->draining && !c->torn && !c->ntasks && !c->charges && !c->dirty && !c->notify_inflight &&
	       !c->cancelling && !bkd_conn_rings_backlog(&c->cr);
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
	/* Loaded: this round already ran another connection's entries. */
	if (!busy || !w->b->balance || c->moving || !quiescent(w, c) ||
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
	if (c->parked) {
		/* The doorbell: the client submitted (or the wait ended for another reason; a visit is cheap). */
		c->parked = false;
		bkd_conn_rings_sleep_finish(&c->cr);
		c->last_work_ns = w->now;
		bkd_worker_ready(w, c);
	}
	if (!c->moving)
		return;
	c->moving = false;
	struct bkd_worker *to = quiescent(w, c) ? idle_peer(w) : NULL;
	if (to)
		hand_over(w, c, to);
}

static bool arm_conn_wait(struct bkd_worker *w, struct bkd_conn *c, uint32_t seq)
{
	struct io_uring_sqe *sqe = bkd_worker_sqe(w);
	if (!sqe)
		return false;
	if (c->wake_efd >= 0)
		io_uring_prep_read(sqe, c->wake_efd, &c->wake_buf, sizeof(c->wake_buf), 0);
	else
		bkd_prep_futex_wait(sqe, &c->cr.v.sq_ctl->wake_seq, seq);
	io_uring_sqe_set_data(sqe, &c->wait_ud);
	c->wait_armed = true;
	return true;
}

void bkd_wconn_sleep_prepare(struct bkd_worker *w, struct bkd_conn *c)
{
	/* Raise need_wakeup, then sample wake_seq (ring.h): a submission after this either shows up in the
	 * caller's re-check or bumps wake_seq and wakes the armed request. */
	uint32_t seq = bkd_conn_rings_sleep_prepare(&c->cr);
	c->sleeping = true;
	/* An already armed request stays valid: any wake since it was queued completes it. */
	if (!c->wait_armed)
		arm_conn_wait(w, c, seq);
}

bool bkd_wconn_park(struct bkd_worker *w, struct bkd_conn *c)
{
	uint32_t seq = bkd_conn_rings_sleep_prepare(&c->cr);
	/* The re-check after raising need_wakeup (ring.h): what the client published before it is seen here,
	 * what it publishes after it rings the doorbell (the armed request completes: bkd_wconn_wait_done). */
	if (bkd_conn_rings_sq_pending(&c->cr) || (!c->wait_armed && !arm_conn_wait(w, c, seq))) {
		bkd_conn_rings_sleep_finish(&c->cr);
		return false;
	}
	bkd_worker_unready(w, c);
	c->parked = true;
	return true;
}

/* Take up to the budget of c's entries (count and bytes) and run them; true if any was taken. */
static bool run_conn(struct bkd_worker *w, struct bkd_conn *c, bool busy)
{
	if (migrate(w, c, busy))
		return false;
	if (bkd_conn_rings_backlog(&c->cr))
		bkd_worker_mark_dirty(w, c); /* retry publishing what did not fit */
	int n = bkd_conn_rings_fetch_bytes(&c->cr, w->fetch_buf, BKD_WORKER_BUDGET, BKD_WORKER_BUDGET_BYTES);
	if (n < 0) {
		note_violations(w, c);
		conn_drop(w, c);
		return false;
	}
	note_violations(w, c);
	if (n == 0) {
		/* Idle for a while: off the ready list, so that it costs nothing until its doorbell rings. */
		if (!bkd_conn_rings_backlog(&c->cr) && w->now - c->last_work_ns > BKD_PARK_NS)
			bkd_wconn_park(w, c);
		return false;
	}
	c->last_work_ns = w->now;
	bkd_lat_batch(w);
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
	return true;
}

/*
 * One round over the ready list: each connection visited goes to the tail,
 * so a round cut short by BKD_ROUND_BUDGET_NS resumes with the first one it
 * did not reach.  Parked, torn or migrated connections leave the list as
 * they are visited; the count taken at the start bounds the walk.
 */
bool bkd_wconn_run_round(struct bkd_worker *w)
{
	bool busy = false;
	unsigned n = w->nready;
	int64_t start = w->now;
	for (unsigned k = 0; k < n && w->ready_head; k++) {
		struct bkd_conn *c = w->ready_head;
		bkd_worker_unready(w, c);
		bkd_worker_ready(w, c);
		if (run_conn(w, c, busy)) {
			busy = true;
			/* Time is read only after a connection that did work and before another one: an idle
			 * visit is a few loads, and a lone connection's round needs no clock at all. */
			if (k + 1 < n && w->ready_head && bk_now_ns() - start > BKD_ROUND_BUDGET_NS)
				break;
		}
	}
	/* Start what this round took, by lane; what is left keeps the worker awake for the next round. */
	if (bkd_task_run_lanes(w))
		busy = true;
	return busy;
}

/*
 * Write the client's eventfd, at most one write outstanding per connection:
 * a client may hold the counter full (the write then waits in the kernel
 * until it reads), and must not pile up writes.  A notify due meanwhile is
 * owed and goes when the outstanding one completes.
 */
static void notify(struct bkd_worker *w, struct bkd_conn *c)
{
	if (c->torn)
		return; /* nobody waits for it, and its teardown must not wait for it either */
	if (c->notify_inflight) {
		c->notify_owed = true;
		return;
	}
	struct io_uring_sqe *sqe = bkd_worker_sqe(w);
	if (!sqe) {
		/* Only when the kernel refuses submissions (logged by bkd_worker_sqe); the next flush tries again. */
		c->notify_owed = true;
		return;
	}
	c->notify_owed = false;
	io_uring_prep_write(sqe, c->client_efd, &one_u64, sizeof(one_u64), 0);
	io_uring_sqe_set_data(sqe, &c->notify_ud);
	c->notify_inflight = true;
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
		if ((r & BKD_FLUSH_NOTIFY_FD) && c->client_efd >= 0)
			notify(w, c);
		if (bkd_conn_rings_backlog(&c->cr) && !c->torn) {
			/* The CQ is full: back on the ready list, whose rounds retry the flush. */
			if (c->parked) {
				c->parked = false;
				bkd_conn_rings_sleep_finish(&c->cr);
			}
			bkd_worker_ready(w, c);
		}
	}
}

/* c's notify write completed: send the one owed meanwhile, if any. */
void bkd_wconn_notify_done(struct bkd_worker *w, struct bkd_conn *c, int res)
{
	c->notify_inflight = false;
	if (res < 0 && res != -ECANCELED)
		bkd_dbg("conn %u: eventfd write: %s", c->id, strerror(-res));
	if (c->notify_owed && !c->torn)
		notify(w, c);
}
