// SPDX-License-Identifier: MIT
/*
 * task.h - one running task (a CALL taken from a connection's SQ) and the
 * private records of the operations it started through the host API.
 *
 * A task is freed only when it is completed AND no operation is pending, so
 * a late io_uring completion or offload result never touches freed memory.
 * Worker thread only, except bk_task.cancelled and the offload fields noted.
 */
#ifndef BROKER_TASK_H
#define BROKER_TASK_H

#include <linux/openat2.h>
#include <linux/time_types.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "brokerd.h"
#include "offload.h"
#include "timers.h"

/* Arguments up to this size live inside the task object (no allocation per task). */
#define BKD_TASK_ARG_INLINE 64u
/* Free task objects a worker keeps for reuse, beyond which they go back to malloc. */
#define BKD_TASK_CACHE_MAX 4096u
/* Free operations and argument buffers a worker keeps (freelist.h): about 220 KiB and 256 KiB at most. */
#define BKD_OP_CACHE_MAX 1024u
#define BKD_ARG_CACHE_MAX 64u
/* Copies of arguments above this come from the worker's BKD_ARG_COPY_MAX buffers; up to it, glibc's thread
 * cache serves them. */
#define BKD_ARG_POOL_MIN 1024u

enum bkd_op_type {
	BKD_OPT_IO = 1, /* read/write/openat/close: cancelled with IORING_OP_ASYNC_CANCEL */
	BKD_OPT_TIMEOUT, /* an entry of the worker's timer heap (timers.h); cancelled by moving it to "now" */
	BKD_OPT_OFFLOAD, /* runs on the offload pool; cannot be interrupted */
	BKD_OPT_CHILD, /* a child task (task_tree.c): cancelled by cancelling the child */
};

/* Depth of child tasks below a client's task (host->call, module.h). */
#define BKD_TASK_DEPTH_MAX 16u

struct bkd_op {
	struct bkd_ud ud; /* BKD_UD_TASK_OP; its address is the io_uring user_data */
	uint8_t type;
	bool cancel_sent;
	uint16_t personality; /* io_uring personality of the task's caller, 0: brokerd's own (personality.h) */
	bool linked; /* has a linked timeout (host->link_timeout): its -ECANCELED is -ETIMEDOUT */
	bool owns_fd; /* socket/accept: the descriptor it returns is the task's (task_fds.c) */
	struct bk_task *task;
	bk_io_cb cb;
	void *cb_ud;
	int (*filter)(int res); /* applied to the result before cb (an open's procfs check, host_api.c) */
	struct open_how how; /* IORING_OP_OPENAT2 reads it at submission */
	struct bkd_op *next, *prev; /* the task's pending ops */
	struct __kernel_timespec ts; /* a linked timeout (host_op.c) */
	struct bkd_timer timer; /* BKD_OPT_TIMEOUT */
	/* offload: work runs on a pool thread, which writes result and posts item to the task's worker */
	bk_work_fn work;
	const struct bkd_caller *caller; /* whose credentials the pool thread takes for the work (creds.h) */
	int result; /* offload: work's return; child: its result length or -errno */
	struct bk_task *child; /* BKD_OPT_CHILD */
	struct bkd_work work_item;
	struct bkd_inbox_item item;
};

struct bk_task {
	struct bkd_worker *w;
	struct bkd_conn *conn;
	uint32_t slot, gen;
	struct bkd_fn_ref ref;
	const uint8_t *arg;
	size_t arg_len;
	uint8_t *arg_copy;
	bool arg_pooled; /* arg_copy is one of the worker's BKD_ARG_COPY_MAX buffers (task.c) */
	uint8_t *res;
	size_t res_cap;
	bool completed;
	bool timed_out; /* its deadline passed: it completes with -ETIMEDOUT */
	bool has_job_id; /* job_id holds the BK_SQE_F_JOB_ID prefix of the argument */
	uint8_t prio; /* its lane, BK_SQE_PRIO_* (lanes.h) */
	uint64_t deadline; /* absolute CLOCK_MONOTONIC ns, 0: none */
	struct bkd_timer deadline_timer; /* queued from its start to its completion when deadline != 0 */
	struct bk_task *lane_next; /* taken, not yet started (lanes.h) */
	int final_status; /* the status it completed with, for bkd_registry_release */
	unsigned running; /* inside the handler or a callback: do not free */
	_Atomic int cancelled; /* read by offloaded work through host->cancelled */
	unsigned pending_ops;
	struct bkd_op *ops;
	/* A child task (task_tree.c): the parent's op that ends when this task is freed; NULL for a client's. */
	struct bkd_op *parent_op;
	uint32_t depth; /* 0 for a client's task, parent's + 1 for a child */
	uint64_t link_ns; /* host->link_timeout for the next operation, 0: none */
	int *fds; /* descriptors the task owns (task_fds.c), closed when it is freed */
	uint32_t nfds, fds_cap;
	int64_t lat_ns[2]; /* latency.c: taken off the SQ, handler started (timed tasks) */
	bool lat_timed; /* latency_hooks.h: this task's times are sampled */
	struct bkd_lat_set *lat_set[2]; /* latency.c: its function's and its connection's sets */
	/* Small arguments are copied here instead of into a malloc'd arg_copy; last members: not zeroed on reuse. */
	uint8_t arg_inline[BKD_TASK_ARG_INLINE];
	char job_id[BK_JOB_ID_LEN + 1]; /* BK_SQE_F_JOB_ID: what came before the argument (host->job_id) */
};

/*
 * Count one more piece of in-flight work (a child task, say) against t's
 * connection's cap, as every task counts (docs/ARCHITECTURE.md, "In-flight
 * caps"): 0, or -EBUSY over the cap.  Each success is undone by exactly one
 * bkd_task_uncharge, on t's worker; the connection is not freed before.
 */
int bkd_task_charge(struct bk_task *t);
void bkd_task_uncharge(struct bk_task *t);

/* Fire due timers of w's heap (at most max): each op's callback gets 0, or -ECANCELED when cancelled. */
unsigned bkd_task_timers_fire(struct bkd_worker *w, int64_t now, unsigned max);

/* Free the worker's cache of task objects (worker exit). */
void bkd_task_cache_drop(struct bkd_worker *w);

/* Take one validated CALL entry of conn into the worker's lanes (or complete it at once with an error). */
void bkd_task_take(struct bkd_worker *w, struct bkd_conn *c, const struct bk_sqe *e);
/* Start one round's worth of the lanes' tasks (lanes.h); true if some are left for the next round. */
bool bkd_task_run_lanes(struct bkd_worker *w);
/* Cancel: pending ops are cancelled; the module completes with an error, forced to -ECANCELED. */
void bkd_task_cancel(struct bk_task *t);
/* Complete (host->complete); checks that it happens once. */
void bkd_task_complete(struct bk_task *t, int status, size_t len);

/* Allocate an op record and link it to the task (pending). NULL on ENOMEM. */
struct bkd_op *bkd_task_op_new(struct bk_task *t, enum bkd_op_type type, bk_io_cb cb, void *ud);
/* Unlink and free an op that was never started. */
void bkd_task_op_abort(struct bkd_op *op);
/* An op finished with res: run its callback, then free what is no longer needed. */
void bkd_task_op_done(struct bkd_op *op, int res);
/* Run t's handler (ref.handler) and turn what it returns into one completion; t may be freed on return. */
void bkd_task_run_handler(struct bk_task *t);

#endif /* BROKER_TASK_H */
