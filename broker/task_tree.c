// SPDX-License-Identifier: MIT
/*
 * task_tree.c - child tasks (task_tree.h; docs/ARCHITECTURE.md, "Tasks that
 * call tasks").  A child is a task object like a client's, with no slot:
 * its parent holds it as a pending op of type BKD_OPT_CHILD, so
 *   - the parent cannot be freed, nor be "stuck", while a child lives;
 *   - cancelling the parent cancels the child (task.c, bkd_task_cancel),
 *     and through it the child's own operations and children;
 *   - the child's completion is recorded in that op, and the op ends (the
 *     parent's callback runs) when the child is freed, i.e. after its own
 *     operations finished (task.c, task_free_if_done).
 * The child shares its parent's module reference (the parent outlives it).
 *
 * The child's handler does not run inside host->call: a NOP on the ring
 * starts it, so a child that completes at once cannot run the parent's
 * callback before host->call has returned to the module.
 */
#include "task_tree.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host_op.h"
#include "task.h"
#include "worker.h"

/* The NOP's completion (a callback of the parent): run the child, or end it if the parent was cancelled. */
static void child_launch(bk_task *parent, int res, void *ud)
{
	struct bk_task *child = ud;
	if (res < 0 || atomic_load_explicit(&parent->cancelled, memory_order_relaxed) ||
	    atomic_load_explicit(&child->cancelled, memory_order_relaxed)) {
		atomic_store_explicit(&child->cancelled, 1, memory_order_relaxed);
		bkd_task_complete(child, -ECANCELED, 0); /* freed at once: no handler ran, nothing is pending */
		return;
	}
	bkd_task_run_handler(child);
}

static int check_call(bk_task *p, bk_handler_fn fn, const void *arg, size_t len, void *res, size_t cap)
{
	if (!bkd_worker_is_current(p->w))
		return -EPERM;
	if (!fn || (len && !arg) || (cap && !res) || cap > INT32_MAX || len > UINT32_MAX)
		return -EINVAL;
	if (p->completed)
		return -EINVAL;
	if (atomic_load_explicit(&p->cancelled, memory_order_relaxed))
		return -ECANCELED;
	if (p->depth >= BKD_TASK_DEPTH_MAX)
		return -ELOOP;
	if (p->conn->children >= BKD_CHILDREN_PER_CONN)
		return -EAGAIN;
	return 0;
}

/* A child object of p: its own copy of the argument, p's module, fn as its handler. */
static struct bk_task *child_new(bk_task *p, bk_handler_fn fn, const void *arg, size_t len, void *res, size_t cap)
{
	struct bk_task *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	if (len <= BKD_TASK_ARG_INLINE) {
		c->arg = c->arg_inline;
	} else {
		c->arg_copy = malloc(len);
		if (!c->arg_copy) {
			free(c);
			return NULL;
		}
		c->arg = c->arg_copy;
	}
	if (len)
		memcpy(c->arg_inline != c->arg ? c->arg_copy : c->arg_inline, arg, len);
	c->arg_len = len;
	c->w = p->w;
	c->conn = p->conn;
	c->slot = UINT32_MAX; /* no slot: task.c's completion goes to parent_op instead */
	c->ref = p->ref;
	c->ref.handler = fn;
	c->res = res;
	c->res_cap = cap;
	c->depth = p->depth + 1;
	c->prio = p->prio; /* its lane is its parent's (lanes.h), though it starts from the ring, not a lane */
	return c;
}

int bkd_task_call(bk_task *p, bk_handler_fn fn, const void *arg, size_t len, void *res, size_t cap, bk_io_cb cb,
		  void *ud)
{
	int r = check_call(p, fn, arg, len, res, cap);
	if (r < 0)
		return r;
	struct bk_task *c = child_new(p, fn, arg, len, res, cap);
	if (!c)
		return -ENOMEM;
	struct bkd_op *launch;
	struct io_uring_sqe *sqe;
	r = bkd_hop_begin(p, BKD_OPT_IO, false, child_launch, c, &launch, &sqe);
	if (r < 0) {
		free(c->arg_copy);
		free(c);
		return r;
	}
	struct bkd_op *op = bkd_task_op_new(p, BKD_OPT_CHILD, cb, ud);
	if (!op) {
		/* The NOP's SQE is taken: let it run, as a launch that finds the child already ended. */
		io_uring_prep_nop(sqe);
		bkd_hop_commit(launch, sqe);
		launch->cb = NULL;
		free(c->arg_copy);
		free(c);
		return -ENOMEM;
	}
	op->child = c;
	c->parent_op = op;
	p->conn->children++; /* uncharged when the child is freed (task.c) */
	bkd_worker_count_start(p->w);
	io_uring_prep_nop(sqe);
	/* A link timeout meant for the module's next operation must not ride on the NOP. */
	uint64_t link = p->link_ns;
	p->link_ns = 0;
	bkd_hop_commit(launch, sqe);
	p->link_ns = link;
	return 0;
}
