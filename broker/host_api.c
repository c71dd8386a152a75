// SPDX-License-Identifier: MIT
/*
 * host_api.c - the services modules call (module.h): argument and result
 * buffers, completion, io_uring operations on the worker's own ring (each
 * with the caller's personality; opens without magic links and never onto
 * procfs), the offload pool (work runs with the caller's credentials), the
 * caller's identity and logging.  Every entry point except
 * arg/cancelled/log/caller/open_sync runs on the task's worker thread.
 */
#include "host_api.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "creds.h"
#include "fsguard.h"
#include "host_net.h"
#include "host_op.h"
#include "log.h"
#include "offload.h"
#include "task.h"
#include "task_fds.h"
#include "task_tree.h"
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

/* The common start and end of an io op (host_op.c). */
static int op_begin(bk_task *t, enum bkd_op_type type, bool allow_cancelled, bk_io_cb cb, void *ud,
		    struct bkd_op **opp, struct io_uring_sqe **sqep)
{
	return bkd_hop_begin(t, type, allow_cancelled, cb, ud, opp, sqep);
}

static void op_commit(struct bkd_op *op, struct io_uring_sqe *sqe)
{
	bkd_hop_commit(op, sqe);
}

/* An open's result: a descriptor of a procfs file (brokerd's own /proc/self, fsguard.h) is closed, -EACCES. */
static int open_filter(int res)
{
	if (res < 0)
		return res;
	int r = bkd_fsguard_check_fd(res);
	if (r == 0)
		return res;
	close(res);
	return r;
}

/* openat2's how for a module's open: close-on-exec, no magic link (/proc/self/fd/N, /dev/stdin...). */
static void open_how_init(struct open_how *how, int flags, uint32_t mode)
{
	memset(how, 0, sizeof(*how));
	how->flags = (uint64_t)(unsigned)(flags | O_CLOEXEC);
	/* openat2 refuses a mode without O_CREAT/O_TMPFILE, where openat ignored it. */
	how->mode = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? mode : 0;
	how->resolve = RESOLVE_NO_MAGICLINKS;
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
	open_how_init(&op->how, flags, mode);
	io_uring_prep_openat2(sqe, dfd, path, &op->how);
	op->filter = open_filter;
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
	bkd_task_fd_forget(t, fd); /* the module closes it: not closed again when t ends */
	io_uring_prep_close(sqe, fd);
	op_commit(op, sqe);
	return 0;
}

/* A timer is an entry of the worker's heap (timers.h), not an io_uring request: no SQE, no kernel walk. */
static int h_timeout(bk_task *t, uint64_t ns, bk_io_cb cb, void *ud)
{
	if (!bkd_worker_is_current(t->w))
		return -EPERM;
	if (atomic_load_explicit(&t->cancelled, memory_order_relaxed))
		return -ECANCELED;
	struct bkd_op *op = bkd_task_op_new(t, BKD_OPT_TIMEOUT, cb, ud);
	if (!op)
		return -ENOMEM;
	/* Read now rather than the turn's clock: a handler may run late in a long turn. */
	int64_t now = bk_now_ns();
	int64_t deadline = ns > (uint64_t)(INT64_MAX - now) ? INT64_MAX : now + (int64_t)ns;
	int r = bkd_timers_add(&t->w->timers, &op->timer, deadline);
	if (r < 0) {
		bkd_task_op_abort(op);
		return r;
	}
	return 0;
}

/* Pool thread: the module's blocking work, on this thread switched to the caller's credentials (creds.h). */
static void offload_work(struct bkd_work *item)
{
	struct bkd_op *op = BKD_CONTAINER_OF(item, struct bkd_op, work_item);
	struct bkd_creds_saved saved;
	int r = bkd_creds_enter(op->caller, &saved);
	if (r < 0) {
		bkd_warn("offloaded work of uid %u not run: cannot take its credentials: %s", (unsigned)op->caller->uid,
			 strerror(-r));
		op->result = r;
		return;
	}
	op->result = op->work(op->task, op->cb_ud);
	bkd_creds_leave(&saved);
}

/* Pool thread: the callback runs on the task's worker (module.h), so hand the op back there. */
static void offload_done(struct bkd_work *item)
{
	struct bkd_op *op = BKD_CONTAINER_OF(item, struct bkd_op, work_item);
	if (item->dropped)
		op->result = -ECANCELED; /* cancelled or shutting down before it ran (offload.h) */
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
	op->caller = t->conn->caller;
	op->work_item.work = offload_work;
	op->work_item.done = offload_done;
	op->work_item.key = t->conn; /* one queue per connection, served round robin (offload.h) */
	op->work_item.cancelled = &t->cancelled;
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

static int h_caller(bk_task *t, bk_caller *out)
{
	if (!out || out->size < offsetof(bk_caller, groups) + sizeof(out->groups))
		return -EINVAL;
	const struct bkd_caller *c = t->conn->caller;
	uint32_t size = out->size;
	memset(out, 0, sizeof(*out));
	out->size = size < sizeof(*out) ? size : (uint32_t)sizeof(*out);
	out->uid = (uint32_t)c->uid;
	out->gid = (uint32_t)c->gid;
	out->pid = (int32_t)c->pid;
	out->ngroups = c->ngroups;
	_Static_assert(sizeof(gid_t) == sizeof(uint32_t), "bk_caller.groups is gid_t");
	out->groups = (const uint32_t *)c->groups;
	return 0;
}

/* Offloaded work only: the thread already has the caller's credentials (offload_work). */
static int h_open_sync(bk_task *t, int dfd, const char *path, int flags, uint32_t mode)
{
	(void)t;
	struct open_how how;
	open_how_init(&how, flags, mode);
	long fd = syscall(SYS_openat2, dfd, path, &how, sizeof(how));
	if (fd < 0)
		return -errno;
	return open_filter((int)fd);
}

static const char *h_job_id(bk_task *t)
{
	return t->has_job_id ? t->job_id : NULL;
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
	.caller = h_caller,
	.open_sync = h_open_sync,
	.socket = bkd_hnet_socket,
	.connect = bkd_hnet_connect,
	.accept = bkd_hnet_accept,
	.send = bkd_hnet_send,
	.recv = bkd_hnet_recv,
	.shutdown = bkd_hnet_shutdown,
	.poll = bkd_hnet_poll,
	.link_timeout = bkd_hnet_link_timeout,
	.resolve = bkd_hnet_resolve,
	.call = bkd_task_call,
	.job_id = h_job_id,
};

const bk_host_api *bkd_host_api_table(void)
{
	return &host_api;
}
