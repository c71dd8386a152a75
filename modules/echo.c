// SPDX-License-Identifier: MIT
/*
 * echo.c - the "echo" module: the smallest possible tasks, for round-trip
 * measurements and tests.
 *
 * Functions (argument -> result):
 *   echo.noop   anything (ignored)  -> empty result
 *   echo.echo   any bytes           -> the same bytes, byte for byte
 *   echo.upper  any bytes           -> the same bytes with ASCII a-z turned to A-Z
 *                                      (other bytes, UTF-8 included, unchanged)
 * A result that does not fit the task's result buffer completes with
 * -ENOBUFS and reports the size needed (host->complete's contract).
 * Arguments over ECHO_INLINE_MAX are copied on brokerd's offload pool, in
 * ECHO_CHUNK steps that stop once the task is cancelled: a 500 MiB copy on
 * the worker would hold up every other connection it serves.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bk_mod.h"

static int echo_init(const bk_host_api *host, void **state)
{
	*state = NULL;
	if (!BK_HOST_HAS(host, arg) || !BK_HOST_HAS(host, result) || !BK_HOST_HAS(host, complete) ||
	    !BK_HOST_HAS(host, offload) || !BK_HOST_HAS(host, cancelled))
		return -EPROTO;
	return 0;
}

#define ECHO_INLINE_MAX (256u * 1024u) /* tens of microseconds on the worker */
#define ECHO_CHUNK (1u << 20)

struct echo_job {
	const bk_host_api *host;
	const unsigned char *arg;
	unsigned char *out;
	size_t len;
	bool upper;
};

/* Each argument byte is read once: a zero-copy argument may change under us. */
static void copy_bytes(unsigned char *out, const unsigned char *arg, size_t len, bool upper)
{
	if (!upper) {
		memcpy(out, arg, len);
		return;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = arg[i];

		out[i] = (c >= 'a' && c <= 'z') ? (unsigned char)(c - 'a' + 'A') : c;
	}
}

static int job_work(bk_task *task, void *ud)
{
	struct echo_job *job = ud;

	for (size_t done = 0; done < job->len; done += ECHO_CHUNK) {
		if (job->host->cancelled(task))
			return -ECANCELED;
		size_t step = job->len - done < ECHO_CHUNK ? job->len - done : ECHO_CHUNK;
		copy_bytes(job->out + done, job->arg + done, step, job->upper);
	}
	return 0;
}

static void job_done(bk_task *task, int res, void *ud)
{
	struct echo_job *job = ud;

	job->host->complete(task, res < 0 ? res : 0, res < 0 ? 0 : job->len);
	free(job);
}

/* echo and upper: result = argument (upper: ASCII a-z as A-Z), here or on the offload pool. */
static int echo_copy(bk_task *task, const bk_host_api *host, bool upper)
{
	size_t len = 0, cap = 0;
	const unsigned char *arg = host->arg(task, &len);
	unsigned char *out = host->result(task, &cap);

	if (len > cap) {
		host->complete(task, 0, len); /* the host turns this into -ENOBUFS, needing len */
		return BK_TASK_DONE;
	}
	if (len <= ECHO_INLINE_MAX) {
		if (len)
			copy_bytes(out, arg, len, upper);
		host->complete(task, 0, len);
		return BK_TASK_DONE;
	}
	struct echo_job *job = malloc(sizeof(*job));
	if (!job)
		return -ENOMEM;
	*job = (struct echo_job){ .host = host, .arg = arg, .out = out, .len = len, .upper = upper };
	int rc = host->offload(task, job_work, job_done, job);
	if (rc < 0) {
		free(job);
		return rc;
	}
	return BK_TASK_PENDING;
}

static int echo_noop(bk_task *task, const bk_host_api *host, void *state)
{
	(void)state;
	host->complete(task, 0, 0);
	return BK_TASK_DONE;
}

static int echo_echo(bk_task *task, const bk_host_api *host, void *state)
{
	(void)state;
	return echo_copy(task, host, false);
}

static int echo_upper(bk_task *task, const bk_host_api *host, void *state)
{
	(void)state;
	return echo_copy(task, host, true);
}

static const bk_function_desc echo_functions[] = {
	{ .name = "noop", .handler = echo_noop },
	{ .name = "echo", .handler = echo_echo },
	{ .name = "upper", .handler = echo_upper },
};

static const bk_module_desc echo_desc = {
	.size = sizeof(bk_module_desc),
	.abi_version = BK_MODULE_ABI_VERSION,
	.name = "echo",
	.version = "1.0.0",
	.functions = echo_functions,
	.nfunctions = sizeof(echo_functions) / sizeof(echo_functions[0]),
	.init = echo_init,
};

const bk_module_desc *BK_MODULE_ENTRY(void)
{
	return &echo_desc;
}
