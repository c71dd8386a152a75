// SPDX-License-Identifier: MIT
/*
 * x.c - the "x" module of the cluster tests, loaded on some nodes only:
 *   x.who   -> the node's tag ($BK_NODE_TAG of the brokerd serving it)
 *   x.mix   -> the argument reversed, each byte xor 0x5a, then its 8-byte FNV-1a hash
 *   x.slow  -> (u32 milliseconds, then anything) the argument, after that many ms
 *   x.idem  -> as x.slow, flagged BK_FN_IDEMPOTENT
 *   x.jobid -> the durable job's id (host->job_id), or "none"
 * Every call also counts itself in the file $BK_EXEC_LOG, when set, one
 * byte appended per execution (the test counts executions across nodes).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bk_mod.h"

static void count_exec(void)
{
	const char *p = getenv("BK_EXEC_LOG");
	if (!p)
		return;
	int fd = open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (write(fd, "x", 1) != 1) {
		/* counting is best effort; the test then sees fewer executions and says so */
	}
	close(fd);
}

static int x_who(bk_task *t, const bk_host_api *h, void *st)
{
	(void)st;
	const char *tag = getenv("BK_NODE_TAG");
	if (!tag)
		tag = "?";
	size_t cap, n = strlen(tag);
	void *res = h->result(t, &cap);
	if (n > cap)
		return -ENOBUFS;
	memcpy(res, tag, n);
	h->complete(t, 0, n);
	return BK_TASK_DONE;
}

static int x_mix(bk_task *t, const bk_host_api *h, void *st)
{
	(void)st;
	size_t len, cap;
	const uint8_t *a = h->arg(t, &len);
	uint8_t *r = h->result(t, &cap);
	if (len + 8 > cap)
		return -ENOBUFS;
	uint64_t fnv = 1469598103934665603ull;
	for (size_t i = 0; i < len; i++) {
		uint8_t b = a[len - 1 - i] ^ 0x5a;
		r[i] = b;
		fnv = (fnv ^ b) * 1099511628211ull;
	}
	memcpy(r + len, &fnv, 8);
	h->complete(t, 0, len + 8);
	return BK_TASK_DONE;
}

static void slow_done(bk_task *t, int res, void *ud)
{
	const bk_host_api *h = ud;
	if (res < 0) {
		h->complete(t, res, 0);
		return;
	}
	size_t len, cap;
	const void *a = h->arg(t, &len);
	void *r = h->result(t, &cap);
	if (len > cap) {
		h->complete(t, -ENOBUFS, 0);
		return;
	}
	memcpy(r, a, len);
	h->complete(t, 0, len);
}

static int x_slow(bk_task *t, const bk_host_api *h, void *st)
{
	(void)st;
	count_exec();
	size_t len;
	const uint8_t *a = h->arg(t, &len);
	uint32_t ms;
	if (len < sizeof(ms))
		return -EINVAL;
	memcpy(&ms, a, sizeof(ms));
	if (ms > 60000)
		return -EINVAL;
	int r = h->timeout(t, (uint64_t)ms * 1000000u, slow_done, (void *)h);
	return r < 0 ? r : BK_TASK_PENDING;
}

static int x_jobid(bk_task *t, const bk_host_api *h, void *st)
{
	(void)st;
	const char *id = BK_HOST_HAS(h, job_id) ? h->job_id(t) : NULL;
	if (!id)
		id = "none";
	size_t cap, n = strlen(id);
	void *res = h->result(t, &cap);
	if (n > cap)
		return -ENOBUFS;
	memcpy(res, id, n);
	h->complete(t, 0, n);
	return BK_TASK_DONE;
}

static const bk_function_desc fns[] = {
	{.name = "who", .handler = x_who},
	{.name = "mix", .handler = x_mix},
	{.name = "slow", .handler = x_slow},
	{.name = "idem", .handler = x_slow, .flags = BK_FN_IDEMPOTENT},
	{.name = "jobid", .handler = x_jobid},
};

static const bk_module_desc desc = {
	.size = sizeof(bk_module_desc),
	.abi_version = BK_MODULE_ABI_VERSION,
	.name = "x",
	.version = "1",
	.functions = fns,
	.nfunctions = sizeof(fns) / sizeof(fns[0]),
};

const bk_module_desc *BK_MODULE_ENTRY(void)
{
	return &desc;
}
