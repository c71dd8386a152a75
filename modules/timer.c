// SPDX-License-Identifier: MIT
/*
 * timer.c - the "timer" module: sleeps that never block a worker.
 *
 * Functions (argument -> result):
 *   timer.sleep  the milliseconds as decimal ASCII digits, e.g. "100"
 *                (no sign, spaces, newline or NUL; 0 to 86400000 = 24 h)
 *                -> empty result once the time has passed.
 *                Bad text or a value above 24 h completes with -EINVAL.
 *                Cancellation completes it with -ECANCELED.
 * The wait is an io_uring timeout on the worker's ring (host->timeout), so
 * one worker can hold any number of sleeps at once.
 */
#include <errno.h>
#include <stdint.h>

#include "bk_mod.h"

#define TIMER_MAX_MS 86400000ull /* 24 h */

static int timer_init(const bk_host_api *host, void **state)
{
	*state = NULL;
	if (!BK_HOST_HAS(host, arg) || !BK_HOST_HAS(host, complete) || !BK_HOST_HAS(host, timeout))
		return -EPROTO;
	return 0;
}

/* Strict decimal: 1+ digits, nothing else, at most TIMER_MAX_MS. */
static int parse_ms(const unsigned char *p, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i]; /* read once: the argument may be a live client view */

		if (c < '0' || c > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(c - '0');
		if (v > TIMER_MAX_MS)
			return -EINVAL;
	}
	*out = v;
	return 0;
}

static void sleep_done(bk_task *task, int res, void *ud)
{
	const bk_host_api *host = ud;

	/* The host reports expiry as 0; a raw io_uring timeout says -ETIME, which is success too. */
	if (res == -ETIME)
		res = 0;
	host->complete(task, res < 0 ? res : 0, 0);
}

static int timer_sleep(bk_task *task, const bk_host_api *host, void *state)
{
	size_t len = 0;
	const unsigned char *arg = host->arg(task, &len);
	uint64_t ms;
	int rc;

	(void)state;
	rc = parse_ms(arg, len, &ms);
	if (rc < 0)
		return rc;
	/* host is brokerd's table, valid for the module's life: a fine callback context. */
	rc = host->timeout(task, ms * 1000000ull, sleep_done, (void *)host);
	if (rc < 0)
		return rc;
	return BK_TASK_PENDING;
}

static const bk_function_desc timer_functions[] = {
	{ .name = "sleep", .handler = timer_sleep },
};

static const bk_module_desc timer_desc = {
	.size = sizeof(bk_module_desc),
	.abi_version = BK_MODULE_ABI_VERSION,
	.name = "timer",
	.version = "1.0.0",
	.functions = timer_functions,
	.nfunctions = 1,
	.init = timer_init,
};

const bk_module_desc *BK_MODULE_ENTRY(void)
{
	return &timer_desc;
}
