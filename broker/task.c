// SPDX-License-Identifier: MIT
/*
 * task.c - life of a task: routing a CALL to its module, the argument copy,
 * completion (exactly once), cancellation, and the op records of the async
 * work a handler started.  Worker thread only.
 *
 * Invariant: a task object lives while it is in flight, while one of its ops
 * is pending, or while its handler/callback runs; it is freed when none of
 * these holds.  A task that is still in flight with nothing pending can never
 * complete, so that case is caught right after each handler and callback and
 * completed with -EIO (a module bug, logged).
 */
#include "task.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "cluster.h"
#include "lanes.h"
#include "latency_hooks.h"
#include "log.h"
#include "task_fds.h"
#include "worker.h"

/*
 * Task objects, operations and argument copies are recycled through
 * per-worker caches (freelist.h): a malloc/calloc/free pair per task was
 * ~10% of brokerd's time at full throughput (perf).
 */
/* A recycled task starts zeroed up to arg_inline (the inline argument is written before it is read). */
static struct bk_task *task_alloc(struct bkd_worker *w)
{
	struct bk_task *t = bkd_freelist_get(&w->task_cache, sizeof(*t));
	if (!t)
		return calloc(1, sizeof(*t));
	bkd_zero64(t, offsetof(struct bk_task, arg_inline));
	return t;
}

static void task_recycle(struct bkd_worker *w, struct bk_task *t)
{
	if (t->arg_pooled)
		bkd_freelist_put(&w->arg_cache, t->arg_copy, BKD_ARG_COPY_MAX, BKD_ARG_CACHE_MAX);
	else if (t->arg_copy) /* most arguments live inside the task: no call into free per task */
		free(t->arg_copy);
	bkd_freelist_put(&w->task_cache, t, sizeof(*t), BKD_TASK_CACHE_MAX);
}

void bkd_task_cache_drop(struct bkd_worker *w)
{
	bkd_freelist_drop(&w->task_cache, sizeof(struct bk_task));
	bkd_freelist_drop(&w->op_cache, sizeof(struct bkd_op));
	bkd_freelist_drop(&w->arg_cache, BKD_ARG_COPY_MAX);
}

static void task_free_if_done(struct bk_task *t)
{
	if (!t->completed || t->pending_ops || t->running)
		return;
	struct bkd_conn *c = t->conn;
	if (t->fds)
		bkd_task_fds_close(t); /* nothing of t is pending: no operation still uses them */
	if (t->parent_op) {
		/* A child (task_tree.c): the module reference is its parent's; the parent's op ends now. */
		struct bkd_op *op = t->parent_op;
		c->children--;
		task_recycle(t->w, t);
		bkd_task_op_done(op, op->result);
		return;
	}
	/*
	 * The module reference is dropped only here, when no handler or callback
	 * of the task is on the stack: the last release of a draining module
	 * lets the control thread dlclose it, and complete() is called from
	 * module code that must still be mapped when it returns.
	 */
	struct bkd_worker *w = t->w;
	bkd_refs_release(&w->refs, &t->ref, t->final_status);
	task_recycle(w, t); /* t may be freed: not read after this */
	/* A torn conn with none left is handed back by the worker loop (bkd_wconn_step_torn). */
	c->ntasks--;
}

/* Count a completion that never got a task object (unknown function, no memory, shutting down). */
static void complete_direct(struct bkd_worker *w, struct bkd_conn *c, uint32_t slot, int status)
{
	if (bkd_conn_rings_complete(&c->cr, slot, status, 0) < 0) {
		bkd_err("conn %u: completing slot %u failed (not in flight)", c->id, slot);
		return;
	}
	bkd_worker_count_start(w);
	bkd_worker_count_done(w, status);
	if (status < 0)
		atomic_fetch_add_explicit(&c->errors, 1, memory_order_relaxed);
	bkd_worker_mark_dirty(w, c);
}

static bool ranges_overlap(uint32_t a_off, uint32_t a_len, uint32_t b_off, uint32_t b_len)
{
	if (!a_len || !b_len)
		return false;
	return (uint64_t)a_off < (uint64_t)b_off + b_len && (uint64_t)b_off < (uint64_t)a_off + a_len;
}

/* After the handler or a callback: a task with no way left to complete is a module bug. */
static void check_stuck(struct bk_task *t, const char *where)
{
	if (t->completed || t->pending_ops)
		return;
	bkd_log(BK_LOG_ERROR, "module %s: task (conn %u slot %u) left pending with no operation after %s; failing it",
	       bkd_registry_module_name(&t->ref), t->conn->id, t->slot, where);
	bkd_task_complete(t, -EIO, 0);
}

/* The cap on c's in-flight work: its slots (so a uid's reservation bounds its sum), and the flag. */
static bool over_cap(const struct bkd_worker *w, const struct bkd_conn *c)
{
	uint32_t cap = c->cr.v.geo.nslots;
	uint32_t flag = w->b->opt.max_inflight_per_conn;
	if (flag && flag < cap)
		cap = flag;
	/* Child tasks (task_tree.c) have their own bound too, and count here as well. */
	return (uint64_t)c->ntasks + c->charges + c->children >= cap;
}

int bkd_task_charge(struct bk_task *t)
{
	struct bkd_conn *c = t->conn;
	if (over_cap(t->w, c))
		return -EBUSY;
	c->charges++;
	return 0;
}

void bkd_task_uncharge(struct bk_task *t)
{
	if (t->conn->charges == 0) {
		bkd_err("conn %u: uncharge without a charge (broker bug)", t->conn->id);
		return;
	}
	t->conn->charges--;
}

/* The module reference for entry e, or false after completing it directly (shutting down, over the cap,
 * unknown, refused). */
static bool route(struct bkd_worker *w, struct bkd_conn *c, const struct bk_sqe *e, struct bkd_fn_ref *ref)
{
	struct bkd_broker *b = w->b;
	if (w->draining) {
		complete_direct(w, c, e->slot, -ESHUTDOWN);
		return false;
	}
	/* Tasks still alive after completing (ops pending) and charged work count too: the slots alone do
	 * not bound them (client.h, bk_submit: -EBUSY). */
	if (over_cap(w, c)) {
		complete_direct(w, c, e->slot, -EBUSY);
		return false;
	}
	int r = bkd_remote_is_id(e->fn) || (e->flags & BK_SQE_F_DURABLE) ? bkd_remote_acquire(b, e->fn, e->flags, ref)
									 : bkd_refs_acquire(&w->refs, e->fn, ref);
	if (r < 0) {
		complete_direct(w, c, e->slot, r);
		return false;
	}
	/* Function ids are small numbers: a client may name one without a lookup, so the rule is checked here. */
	if (!bkd_access_allows(ref->access, c->caller)) {
		bkd_refs_release(&w->refs, ref, -EACCES);
		complete_direct(w, c, e->slot, -EACCES);
		return false;
	}
	return true;
}

/* The task's argument: inside the task, a private copy, or (large, zero copy) a view of the arena. */
static int take_arg(struct bkd_worker *w, struct bk_task *t, struct bkd_conn *c, const struct bk_sqe *e)
{
	/* conn_rings validated both ranges against the arena. */
	const uint8_t *src = bkd_conn_rings_arena(&c->cr, e->arg_off);
	if (e->arg_len <= BKD_TASK_ARG_INLINE) {
		/* A private copy: a client rewriting its argument mid-task hurts only itself. */
		memcpy(t->arg_inline, src, e->arg_len);
		t->arg = t->arg_inline;
	} else if (e->arg_len <= BKD_ARG_COPY_MAX) {
		if (e->arg_len > BKD_ARG_POOL_MIN) {
			t->arg_copy = bkd_freelist_get(&w->arg_cache, BKD_ARG_COPY_MAX);
			if (!t->arg_copy)
				t->arg_copy = malloc(BKD_ARG_COPY_MAX);
			t->arg_pooled = t->arg_copy != NULL;
		} else {
			t->arg_copy = malloc(e->arg_len);
		}
		if (!t->arg_copy)
			return -ENOMEM;
		memcpy(t->arg_copy, src, e->arg_len);
		t->arg = t->arg_copy;
	} else if (ranges_overlap(e->arg_off, e->arg_len, e->res_off, e->res_cap)) {
		/* The result would overwrite a zero-copy argument under the module: refused, never a giant copy
		 * (docs/ARCHITECTURE.md, "Bounded copies"). */
		return -EINVAL;
	} else {
		t->arg = src;
	}
	return 0;
}

/* BK_SQE_F_JOB_ID: the job id before the argument, kept NUL-terminated for host->job_id (docs/CLUSTER.md). */
static int take_job_id(struct bk_task *t)
{
	if (t->arg_len < BK_JOB_ID_LEN)
		return -EINVAL;
	memcpy(t->job_id, t->arg, BK_JOB_ID_LEN);
	t->job_id[BK_JOB_ID_LEN] = '\0';
	t->has_job_id = true;
	t->arg += BK_JOB_ID_LEN;
	t->arg_len -= BK_JOB_ID_LEN;
	return 0;
}

/* What the handler returned, made into exactly one completion (now or later). */
static void handler_returned(struct bk_task *t, int rc)
{
	if (rc == BK_TASK_DONE) {
		if (!t->completed) {
			bkd_log(BK_LOG_ERROR, "module %s: handler returned DONE without completing; failing the task",
			       bkd_registry_module_name(&t->ref));
			bkd_task_complete(t, -EIO, 0);
		}
	} else if (rc == BK_TASK_PENDING) {
		check_stuck(t, "the handler");
	} else if (rc < 0) {
		if (!t->completed)
			bkd_task_complete(t, rc, 0);
	} else if (!t->completed) {
		bkd_log(BK_LOG_ERROR, "module %s: handler returned %d (not DONE/PENDING/-errno); failing the task",
		       bkd_registry_module_name(&t->ref), rc);
		bkd_task_complete(t, -EIO, 0);
	}
}

/* Take one validated CALL entry: a task object queued in its lane, or a direct completion. */
void bkd_task_take(struct bkd_worker *w, struct bkd_conn *c, const struct bk_sqe *e)
{
	struct bk_task *t = task_alloc(w);
	if (!t) {
		complete_direct(w, c, e->slot, -ENOMEM);
		return;
	}
	/* Straight into the task: a copy of a reference just written field by field is loaded 16 bytes at a
	 * time, which the store buffer cannot forward (a stall per task). */
	if (!route(w, c, e, &t->ref)) {
		task_recycle(w, t);
		return;
	}
	t->w = w;
	t->conn = c;
	t->slot = e->slot;
	t->gen = e->gen;
	t->res = bkd_conn_rings_arena(&c->cr, e->res_off);
	t->res_cap = e->res_cap;
	t->arg_len = e->arg_len;
	/* conn_rings refused lane 3 and unknown flags. */
	t->prio = e->flags & BK_SQE_PRIO_MASK;
	if (e->flags & BK_SQE_F_DEADLINE)
		t->deadline = bkd_conn_rings_deadline(&c->cr, e->slot);
	bkd_timer_init(&t->deadline_timer); /* zeroed memory would claim heap position 0 */
	int r = take_arg(w, t, c, e);
	if (r == 0 && (e->flags & BK_SQE_F_JOB_ID))
		r = take_job_id(t);
	if (r < 0) {
		bkd_refs_release(&w->refs, &t->ref, r);
		task_recycle(w, t);
		complete_direct(w, c, e->slot, r);
		return;
	}
	c->tasks[e->slot] = t;
	c->ntasks++;
	if (c->ntasks > c->ntasks_peak)
		c->ntasks_peak = c->ntasks;
	bkd_worker_count_start(w);
	bkd_lat_taken(w, t);
	bkd_lanes_push(&w->lanes, t);
}

/* Run the handler of a task taken from a lane, unless it ended while queued. */
/* A started task's deadline is an entry of its worker's timer heap (docs/ARCHITECTURE.md, "Deadlines"). */
static int arm_deadline(struct bkd_worker *w, struct bk_task *t)
{
	t->deadline_timer.kind = BKD_TIMER_DEADLINE;
	int64_t when = t->deadline > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)t->deadline;
	return bkd_timers_add(&w->timers, &t->deadline_timer, when);
}

/* The deadline passed while t runs: cancel what it started; it completes -ETIMEDOUT when the module ends it. */
static void deadline_passed(struct bk_task *t)
{
	t->timed_out = true;
	bkd_task_cancel(t);
}

static void task_start(struct bkd_worker *w, struct bk_task *t)
{
	int why = 0;
	if (atomic_load_explicit(&t->cancelled, memory_order_relaxed))
		why = -ECANCELED; /* a CANCEL, or its connection went away, while it was queued */
	else if (w->draining)
		why = -ESHUTDOWN;
	else if (t->deadline && (uint64_t)bk_now_ns() >= t->deadline)
		why = -ETIMEDOUT;
	else if (t->deadline && arm_deadline(w, t) < 0)
		why = -ENOMEM;
	if (why) {
		t->timed_out = why == -ETIMEDOUT;
		bkd_task_complete(t, why, 0);
		return;
	}
	bkd_task_run_handler(t);
}

void bkd_task_run_handler(struct bk_task *t)
{
	/* running stays raised until the result is handled: a completion in between must not free t. */
	t->running++;
	bkd_lat_start(t->w, t);
	handler_returned(t, t->ref.handler(t, t->w->b->host, t->ref.state));
	t->running--;
	task_free_if_done(t);
}

bool bkd_task_run_lanes(struct bkd_worker *w)
{
	if (!w->lanes.queued)
		return false;
	unsigned take[BKD_LANES];
	bkd_lanes_plan(&w->lanes, BKD_LANES_ROUND, take);
	static const unsigned order[BKD_LANES] = {BK_SQE_PRIO_INTERACTIVE, BK_SQE_PRIO_NORMAL, BK_SQE_PRIO_BACKGROUND};
	/* Handlers may be slow (an upper of 500 MiB): the round also ends after BKD_ROUND_BUDGET_NS, read
	 * every 16 starts or 64 KiB of arguments and results; the lanes keep what it did not start, in order. */
	/* One task alone needs no clock (the loop ends after it): a client of single round trips would pay a
	 * 25 ns read per task. */
	int64_t t0 = w->lanes.queued > 1 ? bk_now_ns() : 0;
	unsigned started = 0;
	uint64_t bytes = 0;
	for (unsigned k = 0; k < BKD_LANES; k++) {
		for (unsigned i = 0; i < take[order[k]]; i++) {
			struct bk_task *t = bkd_lanes_pop(&w->lanes, order[k]);
			if (!t)
				break;
			bytes += t->arg_len + t->res_cap; /* read first: t may be freed by its start */
			task_start(w, t);
			if ((++started % 16 == 0 || bytes >= (64u << 10)) && bk_now_ns() - t0 > BKD_ROUND_BUDGET_NS)
				return w->lanes.queued != 0;
			if (bytes >= (64u << 10))
				bytes = 0;
		}
	}
	return w->lanes.queued != 0;
}

void bkd_task_complete(struct bk_task *t, int status, size_t len)
{
	if (!bkd_worker_is_current(t->w)) {
		/* Completing from an offload thread would race the worker on the rings. */
		bkd_log(BK_LOG_ERROR, "module %s: complete() called off the worker thread; ignored",
		       bkd_registry_module_name(&t->ref));
		return;
	}
	if (t->completed) {
		bkd_log(BK_LOG_ERROR, "module %s: task completed twice; second completion ignored",
		       bkd_registry_module_name(&t->ref));
		return;
	}
	struct bkd_conn *c = t->conn;
	if (t->deadline)
		bkd_timers_del(&t->w->timers, &t->deadline_timer); /* t may be freed below: out of the heap first */
	if (status > 0)
		status = -EIO; /* positive statuses are not part of the protocol */
	uint32_t res_len;
	if (status == 0 && len > t->res_cap) {
		status = -ENOBUFS;
		res_len = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
	} else {
		res_len = (uint32_t)(len > t->res_cap ? t->res_cap : len);
	}
	if (t->timed_out)
		status = -ETIMEDOUT; /* the deadline cancelled it: whatever the module says now is late */
	else if (status < 0 && atomic_load_explicit(&t->cancelled, memory_order_relaxed))
		status = -ECANCELED;
	if (status < 0)
		res_len = status == -ENOBUFS ? res_len : 0;
	bkd_lat_done(t->w, t, status);
	t->completed = true;
	t->final_status = status; /* counted against the module when the task is freed */
	bkd_worker_count_done(t->w, status);
	if (t->parent_op) {
		/* A child: its parent's callback gets this once the child is freed (task_free_if_done). */
		t->parent_op->result = status < 0 ? status : (int)res_len;
		task_free_if_done(t);
		return;
	}
	c->tasks[t->slot] = NULL;
	if (bkd_conn_rings_complete(&c->cr, t->slot, status, res_len) < 0)
		bkd_err("conn %u: slot %u not in flight at completion (broker bug)", c->id, t->slot);
	bkd_lat_published(t->w, t, status);
	bkd_worker_mark_dirty(t->w, c);
	if (status < 0)
		atomic_fetch_add_explicit(&c->errors, 1, memory_order_relaxed);
	task_free_if_done(t);
}

void bkd_task_cancel(struct bk_task *t)
{
	if (t->completed || atomic_load_explicit(&t->cancelled, memory_order_relaxed))
		return;
	atomic_store_explicit(&t->cancelled, 1, memory_order_relaxed);
	for (struct bkd_op *op = t->ops; op; op = op->next) {
		if (op->type == BKD_OPT_CHILD) {
			bkd_task_cancel(op->child); /* its own operations and children, depth-first */
			continue;
		}
		if (op->cancel_sent || op->type == BKD_OPT_OFFLOAD)
			continue; /* offloaded work sees host->cancelled() and finishes on its own */
		if (op->type == BKD_OPT_TIMEOUT) {
			/* O(log n) in user space, no kernel walk: the heap fires it on the worker's next turn. */
			bkd_timers_move(&t->w->timers, &op->timer, INT64_MIN);
			op->cancel_sent = true;
			continue;
		}
		struct io_uring_sqe *sqe = bkd_worker_sqe(t->w);
		if (!sqe) {
			bkd_err("no SQE to cancel an operation; it will finish on its own");
			break;
		}
		io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op, 0);
		io_uring_sqe_set_data64(sqe, 0); /* the result of a cancel request itself is not needed */
		op->cancel_sent = true;
	}
}

struct bkd_op *bkd_task_op_new(struct bk_task *t, enum bkd_op_type type, bk_io_cb cb, void *ud)
{
	struct bkd_op *op = bkd_freelist_get(&t->w->op_cache, sizeof(*op));
	if (op)
		bkd_zero64(op, sizeof(*op));
	else if (!(op = calloc(1, sizeof(*op))))
		return NULL;
	op->ud.kind = BKD_UD_TASK_OP;
	op->type = (uint8_t)type;
	op->task = t;
	op->cb = cb;
	op->cb_ud = ud;
	bkd_timer_init(&op->timer);
	op->next = t->ops;
	if (t->ops)
		t->ops->prev = op;
	t->ops = op;
	t->pending_ops++;
	return op;
}

static void op_unlink(struct bkd_op *op)
{
	struct bk_task *t = op->task;
	if (op->prev)
		op->prev->next = op->next;
	else
		t->ops = op->next;
	if (op->next)
		op->next->prev = op->prev;
	t->pending_ops--;
}

void bkd_task_op_abort(struct bkd_op *op)
{
	op_unlink(op);
	bkd_freelist_put(&op->task->w->op_cache, op, sizeof(*op), BKD_OP_CACHE_MAX);
}

void bkd_task_op_done(struct bkd_op *op, int res)
{
	struct bk_task *t = op->task;
	bk_io_cb cb = op->cb;
	void *ud = op->cb_ud;
	if (op->filter)
		res = op->filter(res);
	if (op->linked && res == -ECANCELED && !op->cancel_sent)
		res = -ETIMEDOUT; /* its linked timeout fired, not a cancel of the task */
	if (op->owns_fd && res >= 0)
		res = bkd_task_fd_track(t, res);
	op_unlink(op);
	bkd_freelist_put(&t->w->op_cache, op, sizeof(*op), BKD_OP_CACHE_MAX);
	t->running++;
	if (cb)
		cb(t, res, ud);
	check_stuck(t, "a callback");
	t->running--;
	task_free_if_done(t);
}

unsigned bkd_task_timers_fire(struct bkd_worker *w, int64_t now, unsigned max)
{
	unsigned n = 0;
	struct bkd_timer *tm;
	while (n < max && (tm = bkd_timers_pop_due(&w->timers, now)) != NULL) {
		if (tm->kind == BKD_TIMER_DEADLINE) {
			deadline_passed(BKD_CONTAINER_OF(tm, struct bk_task, deadline_timer));
		} else {
			struct bkd_op *op = BKD_CONTAINER_OF(tm, struct bkd_op, timer);
			/* module.h: a timer that expired reports 0. */
			bkd_task_op_done(op, op->cancel_sent ? -ECANCELED : 0);
		}
		/* A callback may be slow: the clock is read every 64, and a turn fires for at most 500 us. */
		if (++n % 64 == 0 && bk_now_ns() - now > BKD_TIMER_BUDGET_NS)
			break;
	}
	return n;
}
