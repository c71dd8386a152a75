// SPDX-License-Identifier: MIT
/*
 * worker.c - the worker thread's loop (docs/ARCHITECTURE.md, "Inside brokerd").
 * Each worker owns an io_uring and a set of connections; per turn it drains
 * its inbox, runs one fair round over its connections (worker_conns.c),
 * publishes completions and queues the client wake-ups as SQEs on its own
 * ring (batched with everything else), and reaps its CQEs.
 * Rounds visit only the ready list (docs/ARCHITECTURE.md, "Only connections
 * with work"): a connection idle for a while parks with its wake request
 * armed (FUTEX_WAIT on the SQ's wake_seq, or a read of its eventfd), whose
 * completion puts it back.  When a round finds nothing it spins (spin.c),
 * then parks the rest and sleeps in io_uring_enter, with a read of its inbox
 * eventfd, one timeout for its timer heap's earliest deadline ("Timers") and
 * the 10 ms retry armed while a client leaves completions unreaped (backlog).
 */
#include "worker.h"

#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_include) && __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define UNDER_VALGRIND() RUNNING_ON_VALGRIND
#else
#define UNDER_VALGRIND() 0
#endif

#include "latency.h"
#include "log.h"
#include "task.h"
#include "spin.h"
#include "uring_futex.h"
#include "worker_conns.h"

/*
 * Every worker's io_uring is resident memory of brokerd (64 B an SQE, 16 B a CQE, all of it touched as
 * the rings go round): 1024/16384 entries were 324 KiB a worker, 61 % of brokerd's own anonymous and
 * shared memory with 10 fleet apps.  A full SQ is submitted and refilled (worker_ring.c); a full CQ
 * keeps its overflow in the kernel (IORING_FEAT_NODROP) until the next reap, so bursts beyond these
 * sizes cost a flush, not a completion.
 */
#define RING_ENTRIES 512u
#define RING_CQ_ENTRIES 4096u
#define REAP_MAX 512u
#define BACKLOG_RETRY_NS 10000000LL


void bkd_broker_task_totals(struct bkd_broker *b, uint64_t *done, uint64_t *failed, uint64_t *inflight)
{
	uint64_t d = 0, f = 0, s = 0;
	for (unsigned i = 0; i < b->nworkers; i++) {
		struct bkd_task_counters *tc = &b->workers[i].tc;
		/* done first (acquire), then started: pairs with bkd_worker_count_done, so started >= done. */
		uint64_t wd = atomic_load_explicit(&tc->done, memory_order_acquire);
		d += wd;
		f += atomic_load_explicit(&tc->failed, memory_order_relaxed);
		s += atomic_load_explicit(&tc->started, memory_order_relaxed);
	}
	if (done)
		*done = d;
	if (failed)
		*failed = f;
	if (inflight)
		*inflight = s - d;
}

uint64_t bkd_broker_migrations(struct bkd_broker *b)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < b->nworkers; i++)
		n += atomic_load_explicit(&b->workers[i].migrated, memory_order_relaxed); /* a count: orders nothing */
	return n;
}

/* ---- inbox ------------------------------------------------------------------ */

static void arm_inbox(struct bkd_worker *w)
{
	if (w->inbox_armed)
		return;
	struct io_uring_sqe *sqe = bkd_worker_sqe(w);
	if (!sqe)
		return;
	io_uring_prep_read(sqe, w->inbox.efd, &w->inbox_buf, sizeof(w->inbox_buf), 0);
	io_uring_sqe_set_data(sqe, &w->inbox_ud);
	w->inbox_armed = true;
}

static void handle_item(struct bkd_worker *w, struct bkd_inbox_item *it)
{
	struct bkd_conn *c = it->ptr;
	switch (it->type) {
	case BKD_IN_ADD_CONN:
		bkd_wconn_link(w, c);
		if (w->draining)
		{
			/* Only from running: a teardown that overtook this hand-over already said GONE. */
			uint32_t running = BK_BROKER_RUNNING;
			atomic_compare_exchange_strong_explicit(&c->region.v.hdr->broker_state, &running,
								BK_BROKER_DRAINING, memory_order_release,
								memory_order_relaxed);
		}
		break;
	case BKD_IN_TEARDOWN:
		/* Acquire: pairs with the release of a hand-over, so what the other owner did to c is seen. */
		if (bkd_conn_worker(c) != w) {
			/* We handed c on after the control thread read its owner.  The new owner may see this before
			 * its ADD (migrate stores the owner first): it then tears c down as soon as c arrives. */
			bkd_inbox_post(&bkd_conn_worker(c)->inbox, it, BKD_IN_TEARDOWN, c);
			break;
		}
		c->teardown_received = true;
		bkd_wconn_tear(w, c);
		break;
	case BKD_IN_OFFLOAD_DONE: {
		struct bkd_op *op = it->ptr;
		bkd_task_op_done(op, op->result);
		break;
	}
	case BKD_IN_DRAIN:
		w->draining = true;
		break;
	case BKD_IN_CANCEL_ALL:
		/* Once, at the end of the grace period; the cancels themselves go a budget per turn. */
		for (struct bkd_conn *x = w->conns; x; x = x->wnext)
			if (!x->torn)
				bkd_wconn_cancel_tasks(w, x);
		break;
	case BKD_IN_STOP:
		w->stopping = true;
		break;
	default:
		bkd_err("worker %u: unexpected inbox message %d", w->idx, (int)it->type);
	}
}

static bool drain_inbox(struct bkd_worker *w)
{
	struct bkd_inbox_item *it = bkd_inbox_take(&w->inbox);
	if (!it)
		return false;
	while (it) {
		struct bkd_inbox_item *next = it->next; /* the handler may free or repost it */
		handle_item(w, it);
		it = next;
	}
	return true;
}

/* ---- io_uring completions ---------------------------------------------------- */

static void handle_cqe(struct bkd_worker *w, uint64_t data, int res)
{
	if (data == 0) {
		/* Fire-and-forget requests (wakes, notifies, cancels); a cancel that found nothing is normal. */
		if (res < 0 && res != -ENOENT && res != -EALREADY && res != -ECANCELED)
			bkd_dbg("worker %u: background request failed: %s", w->idx, strerror(-res));
		return;
	}
	struct bkd_ud *ud = (struct bkd_ud *)(uintptr_t)data;
	switch (ud->kind) {
	case BKD_UD_INBOX:
		w->inbox_armed = false;
		if (res < 0 && res != -ECANCELED)
			bkd_err("worker %u: inbox read failed: %s", w->idx, strerror(-res));
		break;
	case BKD_UD_CONN_WAIT: {
		struct bkd_conn *c = BKD_CONTAINER_OF(ud, struct bkd_conn, wait_ud);
		c->wait_armed = false;
		c->wait_cancel_sent = false; /* a later request may need cancelling again (teardown, balance) */
		if (res < 0 && res != -EAGAIN && res != -ECANCELED && res != -EINTR)
			bkd_warn("conn %u: wake-up request failed: %s", c->id, strerror(-res));
		bkd_wconn_wait_done(w, c); /* last: c may go to another worker */
		break;
	}
	case BKD_UD_TASK_OP: {
		struct bkd_op *op = BKD_CONTAINER_OF(ud, struct bkd_op, ud);
		bkd_task_op_done(op, res);
		break;
	}
	case BKD_UD_BACKLOG_TIMER:
		w->backlog_armed = false;
		break;
	case BKD_UD_TIMER:
		w->timer_armed = false; /* the due entries fire on this turn's clock */
		break;
	case BKD_UD_NOTIFY:
		bkd_wconn_notify_done(w, BKD_CONTAINER_OF(ud, struct bkd_conn, notify_ud), res);
		break;
	default:
		bkd_err("worker %u: completion with unknown user_data kind %u", w->idx, ud->kind);
	}
}

static unsigned reap(struct bkd_worker *w)
{
	unsigned n = 0;
	struct io_uring_cqe *cqe;
	/* Cheap inline look first: io_uring_peek_cqe is an out-of-line liburing call (~4% of a busy worker).
	 * Deferred task work that would produce CQEs was already run by need_enter()'s io_uring_enter. */
	if (!io_uring_cq_ready(&w->ring))
		return 0;
	while (n < REAP_MAX && io_uring_peek_cqe(&w->ring, &cqe) == 0) {
		uint64_t data = cqe->user_data;
		int res = cqe->res;
		io_uring_cqe_seen(&w->ring, cqe);
		handle_cqe(w, data, res);
		n++;
	}
	return n;
}

/* ---- sleeping ------------------------------------------------------------------ */

/* New submissions or inbox items wait (single reads; the caller acts on them in its next turn). */
static bool work_waiting(struct bkd_worker *w)
{
	if (bkd_inbox_pending(&w->inbox) || w->lanes.queued)
		return true; /* taken tasks a round did not start yet (lanes.h) */
	/* Parked connections need no look: their armed wake request completes when they submit. */
	for (struct bkd_conn *c = w->ready_head; c; c = c->rnext)
		if (bkd_conn_rings_sq_pending(&c->cr))
			return true;
	return false;
}

/*
 * The one io_uring timeout over the timer heap (docs/ARCHITECTURE.md,
 * "Timers"): armed for the earliest deadline, moved earlier in place
 * (IORING_TIMEOUT_UPDATE) when an earlier entry came; one armed later than
 * needed only wakes the worker early, which re-arms.
 */
static void arm_timer(struct bkd_worker *w)
{
	int64_t next = bkd_timers_next(&w->timers);
	if (next == INT64_MAX || (w->timer_armed && w->timer_armed_at <= next))
		return;
	struct io_uring_sqe *sqe = bkd_worker_sqe(w);
	if (!sqe)
		return;
	struct __kernel_timespec *ts = w->timer_armed ? &w->timer_upd_ts : &w->timer_ts;
	int64_t at = next < 0 ? 0 : next;
	ts->tv_sec = at / 1000000000LL;
	ts->tv_nsec = at % 1000000000LL;
	if (w->timer_armed) {
		/* If the timeout fired meanwhile this finds nothing (-ENOENT, ignored): its CQE re-arms. */
		io_uring_prep_timeout_update(sqe, ts, (uint64_t)(uintptr_t)&w->timer_ud, IORING_TIMEOUT_ABS);
		io_uring_sqe_set_data64(sqe, 0);
		bkd_worker_fire_and_forget(w, sqe);
	} else {
		io_uring_prep_timeout(sqe, ts, 0, IORING_TIMEOUT_ABS);
		io_uring_sqe_set_data(sqe, &w->timer_ud);
		w->timer_armed = true;
	}
	w->timer_armed_at = next;
}

/*
 * Submit and sleep until a completion.  valgrind (3.19) keeps its big lock
 * across io_uring_enter, so under it a wait stops every other thread of
 * brokerd: there the worker submits, yields (valgrind's threads take turns
 * at a yield) and comes back to sleep again, a busy poll (docs/TESTING.md,
 * "Instruction counts").
 */
static int ring_wait(struct bkd_worker *w)
{
	if (!UNDER_VALGRIND())
		return io_uring_submit_and_wait(&w->ring, 1);
	int r = io_uring_submit_and_get_events(&w->ring);
	sched_yield();
	return r < 0 ? r : 0;
}

static void worker_sleep(struct bkd_worker *w)
{
	bkd_refs_flush(&w->refs); /* a hold kept over a sleep would keep its module from draining */
	bool backlog = false;
	for (struct bkd_conn *c = w->ready_head, *next; c; c = next) {
		next = c->rnext; /* c may leave the list */
		if (bkd_conn_rings_backlog(&c->cr)) {
			/* Stays ready (its flush is retried), but a submission must still wake us. */
			backlog = true;
			bkd_wconn_sleep_prepare(w, c);
		} else {
			bkd_wconn_park(w, c); /* false: entries came, seen by the re-check below */
		}
	}
	if (!work_waiting(w)) {
		if (backlog && !w->backlog_armed) {
			struct io_uring_sqe *sqe = bkd_worker_sqe(w);
			if (sqe) {
				w->backlog_ts.tv_sec = 0;
				w->backlog_ts.tv_nsec = BACKLOG_RETRY_NS;
				io_uring_prep_timeout(sqe, &w->backlog_ts, 0, 0);
				io_uring_sqe_set_data(sqe, &w->backlog_ud);
				w->backlog_armed = true;
			}
		}
		arm_timer(w);
		arm_inbox(w);
		atomic_store_explicit(&w->idle, true, memory_order_relaxed);
		int r = ring_wait(w);
		atomic_store_explicit(&w->idle, false, memory_order_relaxed);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
			bkd_err("worker %u: io_uring_submit_and_wait: %s", w->idx, strerror(-r));
		w->sqes_queued = 0;
	}
	for (struct bkd_conn *c = w->ready_head; c; c = c->rnext) {
		if (c->sleeping) {
			bkd_conn_rings_sleep_finish(&c->cr);
			c->sleeping = false;
		}
	}
}

/* ---- the thread ------------------------------------------------------------------- */

static int ring_init(struct bkd_worker *w)
{
	/* TASKRUN_FLAG makes the kernel tell us (IORING_SQ_TASKRUN) when deferred completions wait, so the loop
	 * can skip io_uring_enter when there is nothing to submit and nothing to run (need_enter()). */
	static const unsigned tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_SINGLE_ISSUER,
		0,
	};
	int r = -EINVAL;
	for (unsigned i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		struct io_uring_params p;
		memset(&p, 0, sizeof(p));
		p.flags = tries[i] | IORING_SETUP_CQSIZE;
		p.cq_entries = RING_CQ_ENTRIES;
		r = io_uring_queue_init_params(RING_ENTRIES, &w->ring, &p);
		if (r == 0) {
			w->ring_flags = tries[i];
			w->cqe_skip = (p.features & IORING_FEAT_CQE_SKIP) != 0;
			return 0;
		}
		if (r != -EINVAL)
			break; /* not a flag problem (ENOMEM, EPERM...): no point in trying fewer flags */
	}
	return r;
}

/*
 * Must this loop turn enter the kernel?  Yes when SQEs wait to be submitted;
 * with TASKRUN_FLAG only when the kernel flags pending task work or a CQ
 * overflow; without it we cannot know, so always.  This keeps a busy worker
 * that only moves ring entries at ~0 syscalls per task (broker-bench).
 */
static bool need_enter(struct bkd_worker *w)
{
	if (io_uring_sq_ready(&w->ring))
		return true;
	if (!(w->ring_flags & IORING_SETUP_TASKRUN_FLAG))
		return true;
	unsigned kflags = IO_URING_READ_ONCE(*w->ring.sq.kflags);
	return (kflags & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) != 0;
}

static void started(struct bkd_worker *w, int rc)
{
	pthread_mutex_lock(&w->start_lock);
	w->start_rc = rc;
	pthread_cond_signal(&w->start_cond);
	pthread_mutex_unlock(&w->start_lock);
}

/* Spin policy (spin.h): every live client of this worker sleeps on its CQ or waits in its event loop. */
static bool clients_all_asleep(void *arg)
{
	struct bkd_worker *w = arg;
	/* Parked clients need no look: a submission of theirs completes a request armed on our ring. */
	for (struct bkd_conn *c = w->ready_head; c; c = c->rnext) {
		/* Client-written hints, read once each; a wrong guess costs a spin or a wake-up, nothing else. */
		const struct bk_ring_ctl *cq = c->cr.v.cq_ctl;
		if (!atomic_load_explicit(&cq->need_wakeup, memory_order_relaxed) &&
		    !atomic_load_explicit(&cq->notify_armed, memory_order_relaxed))
			return false;
	}
	return true;
}

/*
 * The turn leaves nothing behind (no SQE entry waiting, no CQE to reap): if
 * the spin policy would not spin now, sleep at once, so that the queued SQEs
 * (client wake-ups) go to the kernel together with the wait, in one
 * io_uring_enter.  True if it slept.
 */
static bool sleep_at_once(struct bkd_worker *w, bool busy)
{
	/* A stop taken from the inbox this turn: leave the loop; nobody would wake us again. */
	if (w->stopping || io_uring_cq_ready(&w->ring) || work_waiting(w) || bkd_timers_next(&w->timers) <= w->now)
		return false;
	if (busy)
		bkd_spin_busy(&w->spin);
	/*
	 * Mid-way through a spinning idle period: leave the turn to the loop's
	 * own bkd_spin_idle, after the submit.  Asking here too made every turn
	 * of a polite spin yield twice, once before the queued wake-ups went to
	 * the kernel.
	 */
	if (bkd_spin_spinning(&w->spin, w->now))
		return false;
	if (bkd_spin_idle(&w->spin, clients_all_asleep, w))
		return false;
	if (bkd_wconn_step_torn(w))
		return false; /* cancels left for the next turn */
	worker_sleep(w);
	return true;
}

static void *worker_main(void *arg)
{
	struct bkd_worker *w = arg;
	bkd_worker_set_current(w);
	int r = ring_init(w);
	if (r < 0) {
		started(w, r);
		return NULL;
	}
	started(w, 0);
	w->inbox_ud.kind = BKD_UD_INBOX;
	w->backlog_ud.kind = BKD_UD_BACKLOG_TIMER;
	w->timer_ud.kind = BKD_UD_TIMER;
	w->now = bk_now_ns();
	bkd_spin_init(&w->spin, (int64_t)w->b->opt.spin_us * 1000, w->b->opt.spin_policy);
	bkd_refs_init(&w->refs, w->b->reg);

	while (!w->stopping) {
		w->now = bk_now_ns();
		bool busy = drain_inbox(w);
		busy |= bkd_task_timers_fire(w, w->now, BKD_TIMER_BUDGET) > 0;
		busy |= bkd_wconn_run_round(w);
		/* Once a turn, not per task (registry_refs.h); module statistics lag by at most this turn. */
		bkd_refs_flush(&w->refs);
		bkd_wconn_flush_dirty(w);
		arm_inbox(w);
		if (need_enter(w)) {
			if (sleep_at_once(w, busy))
				continue;
			r = io_uring_submit_and_get_events(&w->ring);
			if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
				bkd_err("worker %u: io_uring_submit: %s", w->idx, strerror(-r));
			w->sqes_queued = 0;
		}
		busy |= reap(w) > 0;
		bkd_refs_flush(&w->refs);
		bkd_wconn_flush_dirty(w);
		busy |= bkd_wconn_step_torn(w);
		if (busy) {
			bkd_spin_busy(&w->spin);
			continue;
		}
		if (bkd_spin_idle(&w->spin, clients_all_asleep, w))
			continue;
		worker_sleep(w);
	}
	/* Exiting: the ring's teardown cancels whatever is still in flight. */
	io_uring_queue_exit(&w->ring);
	bkd_refs_flush(&w->refs); /* normally empty already: every way out of the loop passed a flush */
	bkd_timers_fini(&w->timers);
	bkd_task_cache_drop(w);
	bkd_lat_worker_free(w);
	bkd_spin_fini(&w->spin);
	return NULL;
}

int bkd_worker_start(struct bkd_broker *b, struct bkd_worker *w, unsigned idx)
{
	memset(w, 0, sizeof(*w));
	w->b = b;
	w->idx = idx;
	w->start_rc = 1;
	int r = bkd_inbox_init(&w->inbox);
	if (r < 0)
		return r;
	pthread_mutex_init(&w->start_lock, NULL);
	pthread_cond_init(&w->start_cond, NULL);
	r = pthread_create(&w->thread, NULL, worker_main, w);
	if (r) {
		bkd_inbox_fini(&w->inbox);
		return -r;
	}
	w->started = true;
	pthread_mutex_lock(&w->start_lock);
	while (w->start_rc == 1)
		pthread_cond_wait(&w->start_cond, &w->start_lock);
	r = w->start_rc;
	pthread_mutex_unlock(&w->start_lock);
	if (r < 0) {
		pthread_join(w->thread, NULL);
		w->started = false;
		bkd_inbox_fini(&w->inbox);
	}
	return r;
}

void bkd_workers_join(struct bkd_worker *ws, unsigned n)
{
	/* In three passes: a worker still running may post to another (a hand-over, a forwarded teardown), so
	 * no inbox is finalised before every thread has left its loop. */
	for (unsigned i = 0; i < n; i++)
		if (ws[i].started)
			bkd_inbox_post(&ws[i].inbox, &ws[i].stop_item, BKD_IN_STOP, NULL);
	for (unsigned i = 0; i < n; i++)
		if (ws[i].started)
			pthread_join(ws[i].thread, NULL);
	for (unsigned i = 0; i < n; i++) {
		if (!ws[i].started)
			continue;
		ws[i].started = false;
		bkd_inbox_fini(&ws[i].inbox);
		pthread_mutex_destroy(&ws[i].start_lock);
		pthread_cond_destroy(&ws[i].start_cond);
	}
}
