// SPDX-License-Identifier: MIT
/*
 * hash_file.c - hash.sha256_file "PATH" -> the 32 raw bytes of the SHA-256
 * of the whole file at PATH (absolute, no NUL, shorter than PATH_MAX).
 *
 * One chained task inside brokerd instead of two client round trips
 * (file.read, then hash.sha256 of its result): the file is opened with
 * host->openat (the caller's credentials, no magic link, no procfs; see
 * file.c) and read in 64 KiB chunks with host->read, each chunk streamed
 * into the digest on the worker (64 KiB is what hash.sha256 hashes on the
 * worker too), then closed; the file can be larger than any result buffer.
 * Errors of open/read complete with their -errno; the descriptor is closed
 * on every path.  A result buffer under 32 bytes: -ENOBUFS (32 needed).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "bk_mod.h"
#include "hash_file.h"

#define CHUNK (64u * 1024u)
#define SHA256_LEN SHA256_DIGEST_SIZE

struct hfile {
	const bk_host_api *host;
	struct sha256_ctx ctx;
	int fd;
	int status;
	uint64_t offset;
	unsigned char digest[SHA256_LEN];
	unsigned char buf[CHUNK];
};

static void hf_finish(bk_task *task, struct hfile *h)
{
	const bk_host_api *host = h->host;
	int status = h->status;
	size_t cap = 0;
	void *out = host->result(task, &cap);
	if (status == 0 && cap >= SHA256_LEN)
		memcpy(out, h->digest, SHA256_LEN);
	free(h);
	host->complete(task, status, status < 0 ? 0 : SHA256_LEN);
}

static void on_close(bk_task *task, int res, void *ud)
{
	struct hfile *h = ud;
	(void)res; /* the digest is complete: a failed close of a read-only file loses nothing */
	hf_finish(task, h);
}

static void hf_close(bk_task *task, struct hfile *h)
{
	int fd = h->fd;
	h->fd = -1;
	/* As file.c: a cancelled task's ring is busy cancelling, so close directly (a regular file's close does not block). */
	if (!h->host->cancelled(task) && h->host->close(task, fd, on_close, h) == 0)
		return;
	close(fd);
	hf_finish(task, h);
}

static void on_read(bk_task *task, int res, void *ud)
{
	struct hfile *h = ud;
	if (res > 0) {
		sha256_update(&h->ctx, (size_t)res, h->buf);
		h->offset += (uint64_t)res;
		int r = h->host->cancelled(task) ? -ECANCELED
						  : h->host->read(task, h->fd, h->buf, CHUNK, h->offset, on_read, h);
		if (r == 0)
			return;
		h->status = r;
	} else if (res < 0) {
		h->status = res;
	} else {
		sha256_digest(&h->ctx, SHA256_LEN, h->digest);
	}
	hf_close(task, h);
}

static void on_open(bk_task *task, int res, void *ud)
{
	struct hfile *h = ud;
	if (res < 0) {
		h->status = res;
		hf_finish(task, h);
		return;
	}
	h->fd = res;
	int r = h->host->read(task, h->fd, h->buf, CHUNK, 0, on_read, h);
	if (r < 0) {
		h->status = r;
		hf_close(task, h);
	}
}

int hash_sha256_file(bk_task *task, const bk_host_api *host, void *state)
{
	(void)state;
	size_t len = 0;
	const char *arg = host->arg(task, &len);
	char path[PATH_MAX];
	if (len == 0 || len >= sizeof(path))
		return -EINVAL;
	memcpy(path, arg, len); /* one read: the argument may be live client memory */
	path[len] = '\0';
	if (path[0] != '/' || strlen(path) != len)
		return -EINVAL;
	struct hfile *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->host = host;
	h->fd = -1;
	sha256_init(&h->ctx);
	int r = host->openat(task, AT_FDCWD, path, O_RDONLY | O_CLOEXEC | O_NOCTTY, 0, on_open, h);
	if (r < 0) {
		free(h);
		return r;
	}
	return BK_TASK_PENDING;
}
