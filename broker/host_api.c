// SPDX-License-Identifier: MIT
/*
 * host_api.c - the services modules call (module.h): argument and result
 * buffers, completion, io_uring operations on the worker's own ring, the
 * offload pool and logging.  Every entry point except arg/cancelled/log runs
 * on the task's worker thread.
 */
#include "host_api.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "log.h"
#include "offload.h"
#include "task.h"
#include "worker.h"

static const void *h_arg(bk_task *t, size_t *len)
{
	if (len)
		*len = t->arg_len;
	return t->arg;
}

static void *h_result(bk_task *t, size_t *cap)
{
	if (cap)
		*cap = t->res_cap;
	return t->res;
}

static void h_complete(bk_task *t, int status, size_t len)
{
	bkd_task_complete(t, status, len);
}

static int h_cancelled(bk_task *t)
{
	return atomic_load_explicit(&t->cancelled, memory_order_relaxed);
}

/*
 * Common start of an io op.  A cancelled task may only close (so that a
 * module can always release its fds); anything else is refused.
 */
static int op_begin(bk_task *t, enum bkd_op_type type, bool allow_cancelled, bk_io_cb cb, void *ud,
		    struct bkd_op **opp, struct io_uring_sqe **sqep)
{
	if (!bkd_worker_is_current(t->w))
		return -EPERM;
	if (!allow_cancelled && atomic_load_explicit(&t->cancelled, memory_order_relaxed))
		return -ECANCELED;
	struct bkd_op *op = bkd_task_op_new(t, type, cb, ud);
	if (!op)
		return -ENOMEM;
	struct io_uring_sqe *sqe = bkd_worker_sqe(t->w);
	if (!sqe) {
		bkd_task_op_abort(op);
		return -EBUSY;
	}
	*opp = op;
	*sqep = sqe;
	return 0;
}

static void op_commit(struct bkd_op *op, struct io_uring_sqe *sqe)
{
	io_uring_sqe_set_data(sqe, &op->ud);
}

static int h_read(bk_task *t, int fd, void *buf, uint32_t len, uint64_t offset, bk_io_cb cb, void *ud)
{
	struct bkd_op *op;
	struct io_uring_sqe *sqe;
	int r = op_begin(t, BKD_OPT_IO, false, cb, ud, &op, &sqe);
	if (r < 0)
		return r;
	io_uring_prep_read(sqe, fd, buf, len, offset);
	op_commit(op, sqe);
	return 0;
}

static int h_write(bk_task *t, int fd, const void *buf, uint32_t len, uint64_t offset, bk_io_cb cb, void *ud)
{
	struct bkd_op *op;
	struct io_uring_sqe *sqe;
	int r = op_begin(t, BKD_OPT_IO, false, cb, ud, &op, &sqe);
	if (r < 0)
		return r;
	io_uring_prep_write(sqe, fd, buf, len, offset);
	op_commit(op, sqe);
	return 0;
}

static int h_openat(bk_task *t, int dfd, const char *path, int flags, uint32_t mode, bk_io_cb cb, void *ud)
{
	struct bkd_op *op;
	struct io_uring_sqe *sqe;
	int r = op_begin(t, BKD_OPT_IO, false, cb, ud, &op, &sqe);
	if (r < 0)
		return r;
	/* The fd must not leak into anything brokerd might exec. */
	io_uring_prep_openat(sqe, dfd, path, flags | O_CLOEXEC, mode);
	op_commit(op, sqe);
	return 0;
}

static int h_close(bk_task *t, int fd, bk_io_cb cb, void *ud)
{
	struct bkd_op *op;
	struct io_uring_sqe *sqe;
	int r = op_begin(t, BKD_OPT_IO, true, cb, ud, &op, &sqe);
	if (r < 0)
		return r;
	io_uring_prep_close(sqe, fd);
	op_commit(op, sqe);
	return 0;
}

static int h_timeout(bk_task *t, uint64_t ns, bk_io_cb cb, void *ud)
{
	struct bkd_op *op;
	struct io_uring_sqe *sqe;
	int r = op_begin(t, BKD_OPT_TIMEOUT, false, cb, ud, &op, &sqe);
	if (r < 0)
		return r;
	op->ts.tv_sec = (long long)(ns / 1000000000u);
	op->ts.tv_nsec = (long long)(ns % 1000000000u);
	io_uring_prep_timeout(sqe, &op->ts, 0, 0);
	op_commit(op, sqe);
	return 0;
}

/* Pool thread: the module's blocking work. */
static void offload_work(struct bkd_work *item)
{
	struct bkd_op *op = BKD_CONTAINER_OF(item, struct bkd_op, work_item);
	op->result = op->work(op->task, op->cb_ud);
}

/* Pool thread: the callback runs on the task's worker (module.h), so hand the op back there. */
static void offload_done(struct bkd_work *item)
{
	struct bkd_op *op = BKD_CONTAINER_OF(item, struct bkd_op, work_item);
	bkd_inbox_post(&op->task->w->inbox, &op->item, BKD_IN_OFFLOAD_DONE, op);
}

static int h_offload(bk_task *t, bk_work_fn work, bk_io_cb cb, void *ud)
{
	if (!bkd_worker_is_current(t->w))
		return -EPERM;
	if (!work)
		return -EINVAL;
	if (atomic_load_explicit(&t->cancelled, memory_order_relaxed))
		return -ECANCELED;
	struct bkd_op *op = bkd_task_op_new(t, BKD_OPT_OFFLOAD, cb, ud);
	if (!op)
		return -ENOMEM;
	op->work = work;
	op->work_item.work = offload_work;
	op->work_item.done = offload_done;
	int r = bkd_offload_submit(t->w->b->offload, &op->work_item);
	if (r < 0) {
		bkd_task_op_abort(op);
		return r;
	}
	return 0;
}

static void h_log(bk_task *t, int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	bkd_logv_from(t ? bkd_registry_module_name(&t->ref) : "module", level, fmt, ap);
	va_end(ap);
}

static const bk_host_api host_api = {
	.size = sizeof(bk_host_api),
	.abi_version = BK_MODULE_ABI_VERSION,
	.arg = h_arg,
	.result = h_result,
	.complete = h_complete,
	.cancelled = h_cancelled,
	.read = h_read,
	.write = h_write,
	.openat = h_openat,
	.close = h_close,
	.timeout = h_timeout,
	.offload = h_offload,
	.log = h_log,
};

const bk_host_api *bkd_host_api_table(void)
{
	return &host_api;
}
