// SPDX-License-Identifier: MIT
/*
 * test_host.c - the recording bk_host_api of test_host.h.  Operations run
 * real syscalls (pread, openat, close) when th_run() reaches them, so
 * module callback chains are exercised the way brokerd would run them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "test_host.h"

static const void *th_arg(bk_task *t, size_t *len)
{
	*len = t->arglen;
	return t->arg;
}

static void *th_result(bk_task *t, size_t *cap)
{
	*cap = t->cap;
	return t->result;
}

static void th_complete(bk_task *t, int status, size_t len)
{
	t->completions++;
	t->status = status;
	t->len = len;
	if (status == 0 && len > t->cap)
		t->status = -ENOBUFS;
}

static int th_cancelled(bk_task *t)
{
	return t->cancelled;
}

static struct th_op *th_push(bk_task *t, enum th_op_kind kind, bk_io_cb cb, void *ud)
{
	struct th_op *op;

	if (t->nops >= TH_MAX_OPS)
		return NULL;
	op = &t->ops[t->nops++];
	memset(op, 0, sizeof(*op));
	op->kind = kind;
	op->cb = cb;
	op->ud = ud;
	t->counts[kind]++;
	return op;
}

static int th_read(bk_task *t, int fd, void *buf, uint32_t len, uint64_t offset, bk_io_cb cb, void *ud)
{
	struct th_op *op = th_push(t, TH_READ, cb, ud);

	if (!op)
		return -EBUSY;
	op->fd = fd;
	op->buf = buf;
	op->len = len;
	op->offset = offset;
	return 0;
}

static int th_write(bk_task *t, int fd, const void *buf, uint32_t len, uint64_t offset, bk_io_cb cb, void *ud)
{
	struct th_op *op = th_push(t, TH_WRITE, cb, ud);

	if (!op)
		return -EBUSY;
	op->fd = fd;
	op->buf = (void *)buf;
	op->len = len;
	op->offset = offset;
	return 0;
}

static int th_openat(bk_task *t, int dfd, const char *path, int flags, uint32_t mode, bk_io_cb cb, void *ud)
{
	struct th_op *op = th_push(t, TH_OPENAT, cb, ud);

	(void)mode;
	if (!op)
		return -EBUSY;
	op->fd = dfd;
	op->flags = flags;
	snprintf(op->path, sizeof(op->path), "%s", path);
	return 0;
}

static int th_close(bk_task *t, int fd, bk_io_cb cb, void *ud)
{
	struct th_op *op = th_push(t, TH_CLOSE, cb, ud);

	if (!op)
		return -EBUSY;
	op->fd = fd;
	/* Closing happens at submission, as IORING_OP_CLOSE does; cancellation cannot undo it. */
	op->res = close(fd) == 0 ? 0 : -errno;
	return 0;
}

static int th_timeout(bk_task *t, uint64_t ns, bk_io_cb cb, void *ud)
{
	struct th_op *op = th_push(t, TH_TIMEOUT, cb, ud);

	if (!op)
		return -EBUSY;
	op->ns = ns;
	t->last_timeout_ns = ns;
	return 0;
}

static int th_offload(bk_task *t, bk_work_fn work, bk_io_cb cb, void *ud)
{
	struct th_op *op = th_push(t, TH_OFFLOAD, cb, ud);

	if (!op)
		return -EBUSY;
	op->res = work(t, ud);
	return 0;
}

static void th_log(bk_task *t, int level, const char *fmt, ...)
{
	va_list ap;

	(void)level;
	if (!t)
		return;
	va_start(ap, fmt);
	vsnprintf(t->last_log, sizeof(t->last_log), fmt, ap);
	va_end(ap);
}

const bk_host_api th_host = {
	.size = sizeof(bk_host_api),
	.abi_version = BK_MODULE_ABI_VERSION,
	.arg = th_arg,
	.result = th_result,
	.complete = th_complete,
	.cancelled = th_cancelled,
	.read = th_read,
	.write = th_write,
	.openat = th_openat,
	.close = th_close,
	.timeout = th_timeout,
	.offload = th_offload,
	.log = th_log,
};

void th_task_init(struct bk_task *t, const void *arg, size_t arglen, void *result, size_t cap)
{
	memset(t, 0, sizeof(*t));
	t->arg = arg;
	t->arglen = arglen;
	t->result = result;
	t->cap = cap;
}

void th_cancel(struct bk_task *t)
{
	t->cancelled = 1;
}

static int th_exec(bk_task *t, const struct th_op *op)
{
	ssize_t n;
	int fd;
	uint32_t len = op->len;

	if (op->kind == TH_CLOSE || op->kind == TH_OFFLOAD)
		return op->res;
	if (t->cancelled)
		return -ECANCELED;
	if (t->max_io && len > t->max_io)
		len = t->max_io;
	switch (op->kind) {
	case TH_READ:
		n = pread(op->fd, op->buf, len, (off_t)op->offset);
		return n < 0 ? -errno : (int)n;
	case TH_WRITE:
		n = pwrite(op->fd, op->buf, len, (off_t)op->offset);
		return n < 0 ? -errno : (int)n;
	case TH_OPENAT:
		fd = openat(op->fd, op->path, op->flags);
		return fd < 0 ? -errno : fd;
	case TH_TIMEOUT:
		return 0; /* "expired": the test does not wait for real time */
	default:
		return -EINVAL;
	}
}

int th_run(struct bk_task *t, int max)
{
	int ran = 0;

	while (t->nops > 0 && ran < max) {
		struct th_op op = t->ops[0];
		int res;

		memmove(&t->ops[0], &t->ops[1], (size_t)(t->nops - 1) * sizeof(t->ops[0]));
		t->nops--;
		res = th_exec(t, &op);
		op.cb(t, res, op.ud);
		ran++;
	}
	return ran;
}
