// SPDX-License-Identifier: MIT
/*
 * remote_call.c - a task of a remote function (docs/CLUSTER.md): the handler
 * hands the argument, the deadline and the lane to brokerd-cluster.so and
 * leaves an offload-type op pending; the object's call_done (a NATS or timer
 * thread) stores the reply in the op and posts it to the task's worker inbox
 * like an offload result (docs/ARCHITECTURE.md, "Layers of brokerd"), so the
 * task completes on its worker and no other thread touches its rings.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "log.h"
#include "task.h"
#include "worker.h"

/* The reply, carried from the thread that got it to the worker. */
struct reply {
	size_t len;
	uint8_t data[];
};

/* On the task's worker: the reply's bytes into the result buffer, and the completion. */
static void remote_cb(bk_task *t, int res, void *ud)
{
	struct reply *rp = ud;
	if (res == 0 && rp) {
		size_t n = rp->len < t->res_cap ? rp->len : t->res_cap;
		memcpy(t->res, rp->data, n);
		bkd_task_complete(t, 0, rp->len); /* more than res_cap: -ENOBUFS with the size needed */
	} else {
		bkd_task_complete(t, res < 0 ? res : -EIO, 0);
	}
	free(rp);
}

static int send_call(bk_task *t, struct bkd_remote_fn *rf, uint32_t flags)
{
	struct bkd_cluster *cl = t->w->b->cluster;
	struct bkd_op *op = bkd_task_op_new(t, BKD_OPT_OFFLOAD, remote_cb, NULL);
	if (!op)
		return -ENOMEM;
	struct bkd_cluster_call c = {
		.token = op,
		.name = rf->name,
		.arg = t->arg,
		.arg_len = t->arg_len,
		.deadline = t->deadline,
		.flags = flags,
		.prio = t->prio,
	};
	int r = cl->ops->call(cl->ctx, &c);
	if (r < 0) {
		bkd_task_op_abort(op);
		return r;
	}
	return BK_TASK_PENDING;
}

int bkd_remote_handler(bk_task *t, const bk_host_api *host, void *state)
{
	(void)host;
	struct bkd_remote_fn *rf = state;
	return send_call(t, rf, rf->flags);
}

int bkd_remote_job_handler(bk_task *t, const bk_host_api *host, void *state)
{
	(void)host;
	return send_call(t, state, BKD_CLUSTER_JOB);
}

/* Any thread, once per call: the op is ours until the worker takes it from its inbox. */
void bkd_remote_call_done(void *token, int status, const void *res, size_t len)
{
	struct bkd_op *op = token;
	struct reply *rp = NULL;
	if (status == 0) {
		rp = malloc(sizeof(*rp) + len);
		if (rp) {
			rp->len = len;
			if (len)
				memcpy(rp->data, res, len);
		} else {
			status = -ENOMEM;
		}
	}
	op->cb_ud = rp;
	op->result = status;
	/* The inbox's mutex orders these stores before the worker's reads (inbox.h). */
	bkd_inbox_post(&op->task->w->inbox, &op->item, BKD_IN_OFFLOAD_DONE, op);
}
