// SPDX-License-Identifier: MIT
/*
 * file.c - the "file" module: read part of a file through io_uring, so a
 * slow disk never blocks a worker.
 *
 * Functions (argument -> result):
 *   file.read  "OFFSET LENGTH PATH" as ASCII text, e.g. "0 4096 /etc/hostname":
 *              OFFSET and LENGTH are decimal digits (no sign; OFFSET at most
 *              2^63-1), separated by exactly one space; PATH is the rest of the
 *              argument, absolute (starts with '/'), no NUL byte, shorter than
 *              PATH_MAX.  Bad text completes with -EINVAL.
 *              -> the bytes of the file from OFFSET: LENGTH bytes, or fewer at
 *              end of file.  LENGTH is capped at the task's result buffer size
 *              (like read(2), the result length says how much was read).
 *              Errors of open/read complete with their -errno (e.g. -ENOENT,
 *              -EACCES, -EISDIR, -ELOOP), cancellation with -ECANCELED.
 * The file is opened through host->openat, so with the caller's credentials
 * when brokerd is privileged (a nobody client reads what nobody may read),
 * never through a magic link (-ELOOP) and never onto procfs (-EACCES: not
 * brokerd's /proc/self/mem or maps; docs/SECURITY.md).  The chain is openat
 * -> read (repeated on short reads) -> close, each step a host io_uring
 * operation whose callback starts the next; the fd is closed on every path,
 * errors and cancellation included.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bk_mod.h"

#define FILE_CHUNK (1u << 30) /* one read's length, below the 2 GiB read(2) limit */

struct file_req {
	const bk_host_api *host;
	uint64_t offset;
	size_t want; /* bytes to read, already capped at the result buffer */
	size_t got;
	unsigned char *buf; /* the task's result buffer */
	int fd;
	int status;
	char path[];
};

static int file_init(const bk_host_api *host, void **state)
{
	*state = NULL;
	if (!BK_HOST_HAS(host, arg) || !BK_HOST_HAS(host, result) || !BK_HOST_HAS(host, complete) ||
	    !BK_HOST_HAS(host, cancelled) || !BK_HOST_HAS(host, openat) || !BK_HOST_HAS(host, read) ||
	    !BK_HOST_HAS(host, close))
		return -EPROTO;
	return 0;
}

/* Digits up to the next space (which must exist); advances *pos past it. */
static int parse_num(const unsigned char *p, size_t len, size_t *pos, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = *pos, start = *pos;

	for (; i < len; i++) {
		unsigned char c = p[i];

		if (c == ' ')
			break;
		if (c < '0' || c > '9')
			return -EINVAL;
		if (v > (max - (uint64_t)(c - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(c - '0');
	}
	if (i == start || i >= len)
		return -EINVAL;
	*pos = i + 1;
	*out = v;
	return 0;
}

/*
 * Parse "OFFSET LENGTH PATH" into a new request.  The argument is copied
 * as it is parsed, each byte read once, since it may be a live client view.
 */
static int parse_req(const unsigned char *arg, size_t len, struct file_req **out)
{
	size_t pos = 0, plen;
	uint64_t offset, length;
	struct file_req *rq;
	int rc;

	rc = parse_num(arg, len, &pos, INT64_MAX, &offset);
	if (rc < 0)
		return rc;
	rc = parse_num(arg, len, &pos, UINT64_MAX, &length);
	if (rc < 0)
		return rc;
	plen = len - pos;
	if (plen == 0 || plen >= PATH_MAX)
		return -EINVAL;
	rq = malloc(sizeof(*rq) + plen + 1);
	if (!rq)
		return -ENOMEM;
	for (size_t i = 0; i < plen; i++) {
		char c = (char)arg[pos + i];

		if (c == '\0' || (i == 0 && c != '/')) {
			free(rq);
			return -EINVAL;
		}
		rq->path[i] = c;
	}
	rq->path[plen] = '\0';
	rq->offset = offset;
	rq->want = length > SIZE_MAX ? SIZE_MAX : (size_t)length;
	rq->got = 0;
	rq->fd = -1;
	rq->status = 0;
	*out = rq;
	return 0;
}

static void req_finish(bk_task *task, struct file_req *rq)
{
	const bk_host_api *host = rq->host;
	int status = rq->status;
	size_t got = rq->got;

	free(rq);
	host->complete(task, status, status < 0 ? 0 : got);
}

static void on_close(bk_task *task, int res, void *ud)
{
	struct file_req *rq = ud;

	/* A failed close after a good read loses nothing the client asked for; report it only if all else went well. */
	if (res < 0 && rq->status == 0 && res != -ECANCELED)
		rq->status = res;
	req_finish(task, rq);
}

/* Every path after a successful open ends here: the fd is closed exactly once. */
static void req_close(bk_task *task, struct file_req *rq)
{
	int fd = rq->fd;

	rq->fd = -1;
	/*
	 * A cancelled task's ring operations are being cancelled: close the fd
	 * directly so that it is certainly gone (close(2) of a regular file does
	 * not wait for the disk).  Otherwise close it through the ring.
	 */
	if (!rq->host->cancelled(task) && rq->host->close(task, fd, on_close, rq) == 0)
		return;
	close(fd);
	req_finish(task, rq);
}

static int req_read_next(bk_task *task, struct file_req *rq);

static void on_read(bk_task *task, int res, void *ud)
{
	struct file_req *rq = ud;

	if (res < 0) {
		rq->status = res;
	} else if (res > 0) {
		rq->got += (size_t)res;
		if (rq->got < rq->want && req_read_next(task, rq) == 0)
			return;
	}
	/* res == 0: end of file, rq->got is the result. */
	req_close(task, rq);
}

/* Start the next read; 0 when started, else rq->status is set. */
static int req_read_next(bk_task *task, struct file_req *rq)
{
	size_t left = rq->want - rq->got;
	uint32_t n = left > FILE_CHUNK ? FILE_CHUNK : (uint32_t)left;
	int rc;

	if (rq->host->cancelled(task)) {
		rq->status = -ECANCELED;
		return -ECANCELED;
	}
	rc = rq->host->read(task, rq->fd, rq->buf + rq->got, n, rq->offset + rq->got, on_read, rq);
	if (rc < 0)
		rq->status = rc;
	return rc;
}

static void on_open(bk_task *task, int res, void *ud)
{
	struct file_req *rq = ud;

	if (res < 0) {
		rq->status = res;
		req_finish(task, rq);
		return;
	}
	rq->fd = res;
	if (rq->want == 0 || req_read_next(task, rq) < 0)
		req_close(task, rq);
}

static int file_read(bk_task *task, const bk_host_api *host, void *state)
{
	size_t len = 0, cap = 0;
	const unsigned char *arg = host->arg(task, &len);
	void *out = host->result(task, &cap);
	struct file_req *rq;
	int rc;

	(void)state;
	rc = parse_req(arg, len, &rq);
	if (rc < 0)
		return rc;
	rq->host = host;
	rq->buf = out;
	if (rq->want > cap)
		rq->want = cap;
	rc = host->openat(task, AT_FDCWD, rq->path, O_RDONLY | O_CLOEXEC | O_NOCTTY, 0, on_open, rq);
	if (rc < 0) {
		free(rq);
		return rc;
	}
	return BK_TASK_PENDING;
}

static const bk_function_desc file_functions[] = {
	{ .name = "read", .handler = file_read },
};

static const bk_module_desc file_desc = {
	.size = sizeof(bk_module_desc),
	.abi_version = BK_MODULE_ABI_VERSION,
	.name = "file",
	.version = "1.0.0",
	.functions = file_functions,
	.nfunctions = 1,
	.init = file_init,
};

const bk_module_desc *BK_MODULE_ENTRY(void)
{
	return &file_desc;
}
