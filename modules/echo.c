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
 */
#include <errno.h>
#include <string.h>

#include "bk_mod.h"

static int echo_init(const bk_host_api *host, void **state)
{
	*state = NULL;
	if (!BK_HOST_HAS(host, arg) || !BK_HOST_HAS(host, result) || !BK_HOST_HAS(host, complete))
		return -EPROTO;
	return 0;
}

static int echo_noop(bk_task *task, const bk_host_api *host, void *state)
{
	(void)state;
	host->complete(task, 0, 0);
	return BK_TASK_DONE;
}

static int echo_echo(bk_task *task, const bk_host_api *host, void *state)
{
	size_t len = 0, cap = 0;
	const void *arg = host->arg(task, &len);
	void *out = host->result(task, &cap);

	(void)state;
	if (len > cap) {
		host->complete(task, 0, len); /* the host turns this into -ENOBUFS, needing len */
		return BK_TASK_DONE;
	}
	if (len)
		memcpy(out, arg, len);
	host->complete(task, 0, len);
	return BK_TASK_DONE;
}

static int echo_upper(bk_task *task, const bk_host_api *host, void *state)
{
	size_t len = 0, cap = 0;
	const unsigned char *arg = host->arg(task, &len);
	unsigned char *out = host->result(task, &cap);

	(void)state;
	if (len > cap) {
		host->complete(task, 0, len);
		return BK_TASK_DONE;
	}
	/* Each argument byte is read once: a zero-copy argument may change under us. */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = arg[i];

		out[i] = (c >= 'a' && c <= 'z') ? (unsigned char)(c - 'a' + 'A') : c;
	}
	host->complete(task, 0, len);
	return BK_TASK_DONE;
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
