// SPDX-License-Identifier: MIT
/*
 * credmod.c - the "cred" test module of the multi-user tests: what a task
 * knows of its caller and what its offloaded work may do.
 *
 * Functions (argument -> result):
 *   cred.whoami  -> "UID GID NGROUPS" from host->caller
 *   cred.oids    -> "EUID EGID" as the offloaded work's own thread sees them (raw syscalls)
 *   cred.oread   PATH -> the file's first bytes, read by offloaded work through host->open_sync
 *   cred.oraw    PATH -> the same through a raw open(2) in offloaded work (rights of the thread only)
 * Errors complete the task with -errno.  A constructor creates the file
 * named by $BK_TEST_CTOR_MARKER, if set, so a test can tell whether the
 * module's code ever ran inside brokerd.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "broker/module.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT const bk_module_desc *BK_MODULE_ENTRY(void);

__attribute__((constructor)) static void cred_ctor(void)
{
	const char *marker = getenv("BK_TEST_CTOR_MARKER");
	if (!marker || !*marker)
		return;
	int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
}

struct job {
	const bk_host_api *host;
	int raw;
	char path[256];
};

static int put_text(bk_task *task, const bk_host_api *host, const char *text)
{
	size_t cap = 0, len = strlen(text);
	void *out = host->result(task, &cap);
	if (len > cap)
		return -ENOBUFS;
	memcpy(out, text, len);
	host->complete(task, 0, len);
	return BK_TASK_DONE;
}

static int cred_whoami(bk_task *task, const bk_host_api *host, void *state)
{
	(void)state;
	bk_caller c = { .size = sizeof(c) };
	int r = host->caller(task, &c);
	if (r < 0)
		return r;
	char buf[64];
	snprintf(buf, sizeof(buf), "%u %u %u", c.uid, c.gid, c.ngroups);
	return put_text(task, host, buf);
}

/* Offload thread: read the file into the result buffer; the byte count or -errno. */
static int read_work(bk_task *task, void *ud)
{
	struct job *j = ud;
	int fd = j->raw ? open(j->path, O_RDONLY | O_CLOEXEC) : j->host->open_sync(task, AT_FDCWD, j->path, O_RDONLY, 0);
	if (fd < 0)
		return j->raw ? -errno : fd;
	size_t cap = 0;
	void *out = j->host->result(task, &cap);
	ssize_t n = read(fd, out, cap);
	int e = errno;
	close(fd);
	return n < 0 ? -e : (int)n;
}

/* Offload thread: this thread's effective ids, written as text. */
static int ids_work(bk_task *task, void *ud)
{
	struct job *j = ud;
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	if (syscall(SYS_getresuid, &ru, &eu, &su) < 0 || syscall(SYS_getresgid, &rg, &eg, &sg) < 0)
		return -errno;
	size_t cap = 0;
	char *out = j->host->result(task, &cap);
	int n = snprintf(out, cap, "%u %u", (unsigned)eu, (unsigned)eg);
	return n < 0 || (size_t)n >= cap ? -ENOBUFS : n;
}

/* Worker: hand the work's outcome to the client. */
static void work_done(bk_task *task, int res, void *ud)
{
	struct job *j = ud;
	const bk_host_api *host = j->host;
	free(j);
	host->complete(task, res < 0 ? res : 0, res < 0 ? 0 : (size_t)res);
}

static int start(bk_task *task, const bk_host_api *host, bk_work_fn work, int raw)
{
	size_t len = 0;
	const char *arg = host->arg(task, &len);
	struct job *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	if (len >= sizeof(j->path)) {
		free(j);
		return -ENAMETOOLONG;
	}
	memcpy(j->path, arg, len);
	j->host = host;
	j->raw = raw;
	int r = host->offload(task, work, work_done, j);
	if (r < 0) {
		free(j);
		return r;
	}
	return BK_TASK_PENDING;
}

static int cred_oids(bk_task *task, const bk_host_api *host, void *state)
{
	(void)state;
	return start(task, host, ids_work, 0);
}

static int cred_oread(bk_task *task, const bk_host_api *host, void *state)
{
	(void)state;
	return start(task, host, read_work, 0);
}

static int cred_oraw(bk_task *task, const bk_host_api *host, void *state)
{
	(void)state;
	return start(task, host, read_work, 1);
}

static int cred_init(const bk_host_api *host, void **state)
{
	*state = NULL;
	if (host->abi_version != BK_MODULE_ABI_VERSION || host->size < sizeof(bk_host_api))
		return -EPROTO; /* needs caller and open_sync */
	return 0;
}

static const bk_function_desc cred_functions[] = {
	{ .name = "whoami", .handler = cred_whoami },
	{ .name = "oids", .handler = cred_oids },
	{ .name = "oread", .handler = cred_oread },
	{ .name = "oraw", .handler = cred_oraw },
};

static const bk_module_desc cred_desc = {
	.size = sizeof(bk_module_desc),
	.abi_version = BK_MODULE_ABI_VERSION,
	.name = "cred",
	.version = "1",
	.functions = cred_functions,
	.nfunctions = 4,
	.init = cred_init,
};

const bk_module_desc *BK_MODULE_ENTRY(void)
{
	return &cred_desc;
}
