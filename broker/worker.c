/*
 * worker.c - worker threads (DESIGN.md 5, 6).  Each owns an io_uring and a
 * set of connections; it takes at most BKD_WORKER_BUDGET entries per
 * connection per round, runs tasks, publishes completions and queues the
 * client wake-ups as SQEs on its own ring (batched with everything else).
 * When a round finds nothing it spins for --spin-us, then sleeps in
 * io_uring_enter with one wake request armed per connection (FUTEX_WAIT on
 * the SQ's wake_seq, or a read of the connection's eventfd) plus a read of
 * its inbox eventfd.  No timer runs while idle; the only timer is the 10 ms
 * retry armed while a client leaves completions unreaped (backlog).
 */
#include "worker.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "task.h"
#include "uring_futex.h"

#define RING_ENTRIES 1024u
#define RING_CQ_ENTRIES 16384u
#define REAP_MAX 512u
#define BACKLOG_RETRY_NS 10000000LL

static _Thread_local struct bkd_worker *tls_worker;
static const uint64_t one_u64 = 1; /* written to client eventfds; read-only for the kernel */

#define CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

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

bool bkd_worker_is_current(const struct bkd_worker *w)
{
	return tls_worker == w;
}

void bkd_worker_post(struct bkd_worker *w, struct bkd_inbox_item *it)
{
	it->next = NULL;
	pthread_mutex_lock(&w->lock);
	if (w->in_tail)
		w->in_tail->next = it;
	else
		w->in_head = it;
	w->in_tail = it;
	pthread_mutex_unlock(&w->lock);
	/* Release: a worker that sees the flag finds the item under the lock anyway; the flag only avoids
	 * taking the lock on every loop turn. */
	atomic_store_explicit(&w->in_pending, true, memory_order_release);
	uint64_t one = 1;
	if (write(w->inbox_efd, &one, sizeof(one)) != sizeof(one))
		bkd_err("worker %u: inbox eventfd write failed: %s", w->idx, strerror(errno));
}

struct io_uring_sqe *bkd_worker_sqe(struct bkd_worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
	if (!sqe) {
		int r = io_uring_submit(&w->ring);
		if (r < 0)
			bkd_err("worker %u: io_uring_submit: %s", w->idx, strerror(-r));
		sqe = io_uring_get_sqe(&w->ring);
	}
	if (sqe)
		w->sqes_queued++;
	return sqe;
}

void bkd_worker_mark_dirty(struct bkd_worker *w, struct bkd_conn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	c->dirty_next = w->dirty;
	w->dirty = c;
}

void bkd_worker_conn_check_done(struct bkd_worker *w, struct bkd_conn *c)
{
	/* Deferred to a safe point of the loop (finish_torn): we may be deep inside a round over conns. */
	(void)w;
	(void)c;
}

/* ---- connection list ------------------------------------------------------ */

static void conn_link(struct bkd_worker *w, struct bkd_conn *c)
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

static void cancel_conn_tasks(struct bkd_conn *c)
{
	for (uint32_t s = 0; s < c->cr.v.geo.nslots; s++)
		if (c->tasks[s])
			bkd_task_cancel(c->tasks[s]);
}

/* Stop serving c: cancel its tasks and its wake request.  Idempotent. */
static void conn_tear(struct bkd_worker *w, struct bkd_conn *c)
{
	if (!c->torn) {
		c->torn = true;
		cancel_conn_tasks(c);
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
	conn_tear(w, c);
	c->drop_item.type = BKD_IN_CONN_DROP;
	c->drop_item.ptr = c;
	bkd_control_post(w->b, &c->drop_item);
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
static void finish_torn(struct bkd_worker *w)
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
			c->done_item.type = BKD_IN_CONN_DONE;
			c->done_item.ptr = c;
			bkd_control_post(w->b, &c->done_item);
		}
		c = next;
	}
}

/* ---- inbox ------------------------------------------------------------------ */

static void arm_inbox(struct bkd_worker *w)
{
	if (w->inbox_armed)
		return;
	struct io_uring_sqe *sqe = bkd_worker_sqe(w);
	if (!sqe)
		return;
	io_uring_prep_read(sqe, w->inbox_efd, &w->inbox_buf, sizeof(w->inbox_buf), 0);
	io_uring_sqe_set_data(sqe, &w->inbox_ud);
	w->inbox_armed = true;
}

static void handle_item(struct bkd_worker *w, struct bkd_inbox_item *it)
{
	struct bkd_conn *c = it->ptr;
	switch (it->type) {
	case BKD_IN_ADD_CONN:
		conn_link(w, c);
		if (w->draining)
			atomic_store_explicit(&c->region.v.hdr->broker_state, BK_BROKER_DRAINING, memory_order_release);
		break;
	case BKD_IN_TEARDOWN:
		c->teardown_received = true;
		conn_tear(w, c);
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
		for (struct bkd_conn *x = w->conns; x; x = x->wnext)
			cancel_conn_tasks(x);
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
	if (!atomic_exchange_explicit(&w->in_pending, false, memory_order_acquire))
		return false;
	pthread_mutex_lock(&w->lock);
	struct bkd_inbox_item *it = w->in_head;
	w->in_head = w->in_tail = NULL;
	pthread_mutex_unlock(&w->lock);
	while (it) {
		struct bkd_inbox_item *next = it->next; /* the handler may free or repost it */
		handle_item(w, it);
		it = next;
	}
	return true;
}

/* ---- the rings of the connections ------------------------------------------ */

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

static bool run_round(struct bkd_worker *w)
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

/*
 * A wake-up or notify request whose success needs no handling: with
 * CQE_SKIP_SUCCESS only a failure posts a CQE, so a worker that queues a
 * client wake-up and then sleeps is not woken again by that wake-up's own
 * completion (one io_uring_enter per sleeping round trip instead of two).
 */
static void fire_and_forget(struct bkd_worker *w, struct io_uring_sqe *sqe)
{
	if (w->cqe_skip)
		sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

static void flush_dirty(struct bkd_worker *w)
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
				fire_and_forget(w, sqe);
			} else {
				bk_futex_wake(&c->cr.v.cq_ctl->wake_seq, INT32_MAX);
			}
		}
		if ((r & BKD_FLUSH_NOTIFY_FD) && c->client_efd >= 0) {
			struct io_uring_sqe *sqe = bkd_worker_sqe(w);
			if (sqe) {
				io_uring_prep_write(sqe, c->client_efd, &one_u64, sizeof(one_u64), 0);
				io_uring_sqe_set_data64(sqe, 0);
				fire_and_forget(w, sqe);
			} else if (write(c->client_efd, &one_u64, sizeof(one_u64)) < 0) {
				bkd_dbg("conn %u: eventfd write: %s", c->id, strerror(errno));
			}
		}
	}
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
		struct bkd_conn *c = CONTAINER_OF(ud, struct bkd_conn, wait_ud);
		c->wait_armed = false;
		if (res < 0 && res != -EAGAIN && res != -ECANCELED && res != -EINTR)
			bkd_warn("conn %u: wake-up request failed: %s", c->id, strerror(-res));
		break;
	}
	case BKD_UD_TASK_OP: {
		struct bkd_op *op = CONTAINER_OF(ud, struct bkd_op, ud);
		if (op->type == BKD_OPT_TIMEOUT && res == -ETIME)
			res = 0; /* module.h: a timer that expired reports 0 */
		bkd_task_op_done(op, res);
		break;
	}
	case BKD_UD_BACKLOG_TIMER:
		w->backlog_armed = false;
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

static void arm_conn_wait(struct bkd_worker *w, struct bkd_conn *c, uint32_t seq)
{
	struct io_uring_sqe *sqe = bkd_worker_sqe(w);
	if (!sqe)
		return;
	if (c->wake_efd >= 0)
		io_uring_prep_read(sqe, c->wake_efd, &c->wake_buf, sizeof(c->wake_buf), 0);
	else
		bkd_prep_futex_wait(sqe, &c->cr.v.sq_ctl->wake_seq, seq);
	io_uring_sqe_set_data(sqe, &c->wait_ud);
	c->wait_armed = true;
}

/* New submissions or inbox items wait (single reads; the caller acts on them in its next turn). */
static bool work_waiting(struct bkd_worker *w)
{
	if (atomic_load_explicit(&w->in_pending, memory_order_acquire))
		return true;
	for (struct bkd_conn *c = w->conns; c; c = c->wnext)
		if (!c->torn && bkd_conn_rings_sq_pending(&c->cr))
			return true;
	return false;
}

static void worker_sleep(struct bkd_worker *w)
{
	bool backlog = false;
	for (struct bkd_conn *c = w->conns; c; c = c->wnext) {
		if (c->torn)
			continue;
		if (bkd_conn_rings_backlog(&c->cr))
			backlog = true;
		/* Raise need_wakeup, then sample wake_seq (ring.h): a submission after this either shows up in
		 * the re-check below or bumps wake_seq and wakes the armed request. */
		uint32_t seq = bkd_conn_rings_sleep_prepare(&c->cr);
		c->sleeping = true;
		/* An already armed request stays valid: any wake since it was queued completes it. */
		if (!c->wait_armed)
			arm_conn_wait(w, c, seq);
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
		arm_inbox(w);
		int r = io_uring_submit_and_wait(&w->ring, 1);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
			bkd_err("worker %u: io_uring_submit_and_wait: %s", w->idx, strerror(-r));
		w->sqes_queued = 0;
	}
	for (struct bkd_conn *c = w->conns; c; c = c->wnext) {
		if (c->sleeping && !c->torn) {
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

static void *worker_main(void *arg)
{
	struct bkd_worker *w = arg;
	tls_worker = w;
	int r = ring_init(w);
	if (r < 0) {
		started(w, r);
		return NULL;
	}
	started(w, 0);
	w->inbox_ud.kind = BKD_UD_INBOX;
	w->backlog_ud.kind = BKD_UD_BACKLOG_TIMER;
	const int64_t spin_ns = (int64_t)w->b->opt.spin_us * 1000;
	int64_t idle_since = 0;
	unsigned idle_turns = 0;

	while (!w->stopping) {
		bool busy = drain_inbox(w);
		busy |= run_round(w);
		flush_dirty(w);
		arm_inbox(w);
		if (need_enter(w)) {
			/*
			 * Sleep-at-once mode (--spin-us 0): when the turn left no work
			 * behind and no completion to reap, worker_sleep() submits the
			 * queued SQEs (client wake-ups) together with its wait, in one
			 * io_uring_enter.
			 */
			if (spin_ns == 0 && !io_uring_cq_ready(&w->ring) && !work_waiting(w)) {
				finish_torn(w);
				worker_sleep(w);
				continue;
			}
			r = io_uring_submit_and_get_events(&w->ring);
			if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
				bkd_err("worker %u: io_uring_submit: %s", w->idx, strerror(-r));
			w->sqes_queued = 0;
		}
		busy |= reap(w) > 0;
		flush_dirty(w);
		finish_torn(w);
		if (busy) {
			idle_since = 0;
			idle_turns = 0;
			continue;
		}
		if (spin_ns > 0) {
			/* The clock is read every 16 idle turns: reading it every turn was ~8% of a busy brokerd. */
			if ((++idle_turns & 15) != 0)
				continue;
			int64_t now = bk_now_ns();
			if (!idle_since)
				idle_since = now;
			if (now - idle_since < spin_ns)
				continue;
		}
		idle_since = 0;
		idle_turns = 0;
		worker_sleep(w);
	}
	/* Exiting: the ring's teardown cancels whatever is still in flight. */
	io_uring_queue_exit(&w->ring);
	bkd_task_cache_drop(w);
	return NULL;
}

int bkd_worker_start(struct bkd_broker *b, struct bkd_worker *w, unsigned idx)
{
	memset(w, 0, sizeof(*w));
	w->b = b;
	w->idx = idx;
	w->start_rc = 1;
	w->inbox_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->inbox_efd < 0)
		return -errno;
	pthread_mutex_init(&w->lock, NULL);
	pthread_mutex_init(&w->start_lock, NULL);
	pthread_cond_init(&w->start_cond, NULL);
	int r = pthread_create(&w->thread, NULL, worker_main, w);
	if (r) {
		close(w->inbox_efd);
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
		close(w->inbox_efd);
		w->inbox_efd = -1;
	}
	return r;
}

void bkd_worker_join(struct bkd_worker *w)
{
	if (!w->started)
		return;
	w->stop_item.type = BKD_IN_STOP;
	bkd_worker_post(w, &w->stop_item);
	pthread_join(w->thread, NULL);
	w->started = false;
	close(w->inbox_efd);
	w->inbox_efd = -1;
	pthread_mutex_destroy(&w->lock);
	pthread_mutex_destroy(&w->start_lock);
	pthread_cond_destroy(&w->start_cond);
}
