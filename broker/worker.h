// SPDX-License-Identifier: MIT
/*
 * worker.h - a worker thread: its own io_uring, an inbox, the connections it
 * owns, and the loop that drains their submission rings fairly, runs tasks
 * and sleeps only inside io_uring_enter (docs/ARCHITECTURE.md, "Inside brokerd").
 */
#ifndef BROKER_WORKER_H
#define BROKER_WORKER_H

#include <liburing.h>
#include <pthread.h>
#include <stdalign.h>

#include "brokerd.h"
#include "freelist.h"
#include "lanes.h"
#include "registry_refs.h"
#include "spin.h"
#include "timers.h"

struct bkd_lat_worker;

/* Entries taken from one connection's SQ per turn, so a flooding client cannot starve the others. */
#define BKD_WORKER_BUDGET 64u
/* ...and argument + result bytes: the entry that crosses this ends the connection's turn. */
#define BKD_WORKER_BUDGET_BYTES (256u << 10)
/* A round stops early after this long; the connections it did not reach go first in the next. */
#define BKD_ROUND_BUDGET_NS 2000000LL
/* Per turn: slots an incremental cancel visits, and timers fired (docs/ARCHITECTURE.md, "Incremental teardown"). */
#define BKD_CANCEL_BUDGET 2048u
#define BKD_TIMER_BUDGET 1024u
#define BKD_TIMER_BUDGET_NS 500000LL
/* A connection with no entries for this long leaves the ready list (parks) with its wake request armed. */
#define BKD_PARK_NS 200000LL

/*
 * Task counters of one worker.  Only that worker writes them, with a relaxed
 * load + store (no locked read-modify-write on the hot path); other threads
 * read them with bkd_broker_task_totals().  done is stored with release after
 * started was stored, so a reader that loads done (acquire) and then started
 * never sees more tasks done than started.
 */
struct bkd_task_counters {
	_Atomic uint64_t started;
	_Atomic uint64_t done;
	_Atomic uint64_t failed;
};

struct bkd_worker {
	struct bkd_broker *b;
	unsigned idx;
	pthread_t thread;
	bool started;
	struct io_uring ring;

	struct bkd_inbox inbox; /* any thread posts, the worker drains */
	_Atomic uint32_t nconns; /* for least-loaded placement */
	_Atomic bool idle; /* asleep in io_uring_enter: a target for balancing */
	_Atomic uint64_t migrated; /* connections handed to another worker */
	unsigned migrate_skip; /* alternates: every second eligible connection stays */
	struct bkd_refs refs; /* module references of this turn (registry_refs.h) */

	/* start-up hand-shake with the main thread */
	pthread_mutex_t start_lock;
	pthread_cond_t start_cond;
	int start_rc; /* 1 while starting, then 0 or -errno */
	unsigned ring_flags; /* IORING_SETUP_* the kernel accepted */
	bool cqe_skip; /* IOSQE_CQE_SKIP_SUCCESS is supported */

	/* worker-private */
	uint64_t inbox_buf;
	struct bkd_ud inbox_ud;
	bool inbox_armed;
	struct bkd_conn *conns, *conns_tail;
	unsigned nlinked; /* connections in that list */
	/* Only connections with work are visited (docs/ARCHITECTURE.md, "Only connections with work"): one
	 * intrusive list today, one per priority lane later. */
	struct bkd_conn *ready_head, *ready_tail;
	unsigned nready;
	struct bkd_conn *tlist; /* connections cancelling their tasks or torn down */
	int64_t now; /* CLOCK_MONOTONIC at the start of this turn */
	struct bkd_timers timers; /* host->timeout entries (timers.h) */
	struct bkd_ud timer_ud;
	bool timer_armed;
	int64_t timer_armed_at;
	struct __kernel_timespec timer_ts, timer_upd_ts;
	struct bkd_conn *dirty; /* connections with completions to flush */
	struct bkd_ud backlog_ud;
	bool backlog_armed;
	struct __kernel_timespec backlog_ts;
	bool draining, stopping;
	struct bkd_spin spin; /* when to busy-poll before sleeping (spin.h) */
	unsigned sqes_queued; /* SQEs prepared since the last submit */
	struct bk_sqe fetch_buf[BKD_WORKER_BUDGET];
	struct bkd_lanes lanes; /* taken tasks waiting to start, by priority (lanes.h) */
	/* Free objects for reuse (task.c, freelist.h): tasks, operations, argument copies. */
	struct bkd_freelist task_cache, op_cache, arg_cache;
	_Atomic(struct bkd_lat_worker *) lat; /* latency accounting (latency.h), made on first use */

	/* Own cache line: written on every task by this worker, read by the control thread. */
	alignas(64) struct bkd_task_counters tc;

	struct bkd_inbox_item drain_item, cancel_item, stop_item;
};

/* Create the thread and its ring; returns once the ring exists (0) or failed (-errno). */
int bkd_worker_start(struct bkd_broker *b, struct bkd_worker *w, unsigned idx);
/* Stop and join every started worker of ws[0..n). */
void bkd_workers_join(struct bkd_worker *ws, unsigned n);

/* ---- for task.c and host_api.c (worker thread only) ---------------------- */

/* A free SQE, submitting queued ones first if the SQ is full; NULL only if the kernel refuses them. */
struct io_uring_sqe *bkd_worker_sqe(struct bkd_worker *w);
/* conn has completions to publish. */
void bkd_worker_mark_dirty(struct bkd_worker *w, struct bkd_conn *c);
/* conn has work: put it on the ready list (idempotent; never for a torn conn). */
void bkd_worker_ready(struct bkd_worker *w, struct bkd_conn *c);
/* Take conn off the ready list (idempotent). */
void bkd_worker_unready(struct bkd_worker *w, struct bkd_conn *c);
/* True on the worker thread w. */
bool bkd_worker_is_current(const struct bkd_worker *w);
/* The calling thread is w's (worker.c, at thread start). */
void bkd_worker_set_current(struct bkd_worker *w);
/* A wake-up or notify SQE whose success needs no CQE (IOSQE_CQE_SKIP_SUCCESS where supported). */
void bkd_worker_fire_and_forget(struct bkd_worker *w, struct io_uring_sqe *sqe);

/* Count a task taken up / finished (worker thread only). */
static inline void bkd_worker_count_start(struct bkd_worker *w)
{
	uint64_t n = atomic_load_explicit(&w->tc.started, memory_order_relaxed);
	atomic_store_explicit(&w->tc.started, n + 1, memory_order_relaxed);
}

static inline void bkd_worker_count_done(struct bkd_worker *w, int status)
{
	if (status < 0) {
		uint64_t f = atomic_load_explicit(&w->tc.failed, memory_order_relaxed);
		atomic_store_explicit(&w->tc.failed, f + 1, memory_order_relaxed);
	}
	uint64_t n = atomic_load_explicit(&w->tc.done, memory_order_relaxed);
	/* Release: orders the earlier store of started (see struct bkd_task_counters). */
	atomic_store_explicit(&w->tc.done, n + 1, memory_order_release);
}

/* Sums over all workers (any thread). */
void bkd_broker_task_totals(struct bkd_broker *b, uint64_t *done, uint64_t *failed, uint64_t *inflight);
/* Connections the workers handed to one another since start (balance), over every worker. */
uint64_t bkd_broker_migrations(struct bkd_broker *b);

#endif /* BROKER_WORKER_H */
