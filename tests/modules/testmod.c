// SPDX-License-Identifier: MIT
/*
 * testmod.c - modules for the loader tests, one variant per build
 * (-DTM_<VARIANT>): a good one, refusals (wrong ABI, no entry symbol, failing
 * init, bad and duplicate function names, a too-small descriptor) and an
 * upgrade pair (same name, TM_VERSION 1 and 2), and one with many long
 * function names (TM_MANY).
 *
 * Functions of the good and upgrade variants:
 *   ping     -> "pong"
 *   fail     -> completes with -EIO (handler returns it)
 *   version  -> the variant's version as text ("1", "2")
 *   hold     (upgrade variants) milliseconds as decimal text -> the version
 *            text after that long (a host timeout): a task that is in
 *            flight while the module is upgraded or unloaded
 * The state (struct tm_state, shared with the tests through testmod.h)
 * lets a test count fini calls without any global state in the module.
 * TM_STATIC (upgrade variants) keeps the state in a file-scope pointer as
 * well, as many real modules do, and "version" answers "V:N", N counting
 * this instance's calls: two versions that shared one copy of the module's
 * statics (the same file loaded twice) would share N, and the old one's
 * fini would free the new one's state.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/module.h"
#include "testmod.h"

#ifndef TM_NAME
#error "TM_NAME must be defined"
#endif
#ifndef TM_VERSION
#define TM_VERSION 1
#endif
#define TM_STR2(x) #x
#define TM_STR(x) TM_STR2(x)

#define EXPORT __attribute__((visibility("default")))

#ifdef TM_STATIC
static struct tm_state *tm_static;
#endif

static int tm_init(const bk_host_api *host, void **state)
{
	struct tm_state *st;

#ifdef TM_INITFAIL
	(void)host;
	(void)state;
	(void)st;
	return -EPERM;
#else
	if (host->abi_version != BK_MODULE_ABI_VERSION || host->size < sizeof(bk_host_api))
		return -EPROTO;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->magic = TM_STATE_MAGIC;
	st->version = TM_VERSION;
	*state = st;
#ifdef TM_STATIC
	tm_static = st;
#endif
	return 0;
#endif
}

static void tm_fini(void *state)
{
	struct tm_state *st = state;

	if (st->fini_counter)
		__atomic_fetch_add(st->fini_counter, 1, __ATOMIC_SEQ_CST);
#ifdef TM_STATIC
	free(tm_static);
	tm_static = NULL;
#else
	free(st);
#endif
}

static int put_text(bk_task *task, const bk_host_api *host, const char *text)
{
	size_t cap = 0, len = strlen(text);
	void *out = host->result(task, &cap);

	if (len <= cap)
		memcpy(out, text, len);
	host->complete(task, 0, len);
	return BK_TASK_DONE;
}

__attribute__((unused)) static int tm_ping(bk_task *task, const bk_host_api *host, void *state)
{
	struct tm_state *st = state;

	__atomic_fetch_add(&st->calls, 1, __ATOMIC_RELAXED);
	return put_text(task, host, "pong");
}

__attribute__((unused)) static int tm_fail(bk_task *task, const bk_host_api *host, void *state)
{
	(void)task;
	(void)host;
	(void)state;
	return -EIO;
}

__attribute__((unused)) static int tm_version(bk_task *task, const bk_host_api *host, void *state)
{
	struct tm_state *st = state;

#ifdef TM_STATIC
	char text[32];

	(void)st;
	if (!tm_static || tm_static->magic != TM_STATE_MAGIC)
		return -EFAULT;
	snprintf(text, sizeof(text), "%s:%d", TM_STR(TM_VERSION), __atomic_add_fetch(&tm_static->calls, 1, __ATOMIC_RELAXED));
	return put_text(task, host, text);
#else
	__atomic_fetch_add(&st->calls, 1, __ATOMIC_RELAXED);
	return put_text(task, host, TM_STR(TM_VERSION));
#endif
}

static void hold_done(bk_task *task, int res, void *ud)
{
	if (res < 0 && res != -ETIME)
		((const bk_host_api *)ud)->complete(task, res, 0);
	else
		put_text(task, ud, TM_STR(TM_VERSION));
}

__attribute__((unused)) static int tm_hold(bk_task *task, const bk_host_api *host, void *state)
{
	size_t len = 0;
	const unsigned char *arg = host->arg(task, &len);
	unsigned long long ms = 0;
	int rc;

	(void)state;
	if (len == 0 || len > 6)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (arg[i] < '0' || arg[i] > '9')
			return -EINVAL;
		ms = ms * 10 + (unsigned)(arg[i] - '0');
	}
	rc = host->timeout(task, ms * 1000000ull, hold_done, (void *)host);
	return rc < 0 ? rc : BK_TASK_PENDING;
}

static const bk_function_desc tm_functions[] = {
#if defined(TM_BADNAME)
	{ .name = "Bad-Name", .handler = tm_ping },
#elif defined(TM_DUPNAME)
	{ .name = "ping", .handler = tm_ping },
	{ .name = "version", .handler = tm_version },
	{ .name = "ping", .handler = tm_fail },
#elif defined(TM_MANY)
	/* More names than a listing record holds: the list must truncate them cleanly. */
#define TM_F(n) { .name = "function_with_a_long_name_" #n, .handler = tm_ping },
	TM_F(00) TM_F(01) TM_F(02) TM_F(03) TM_F(04) TM_F(05) TM_F(06) TM_F(07) TM_F(08) TM_F(09)
	TM_F(10) TM_F(11) TM_F(12) TM_F(13) TM_F(14) TM_F(15) TM_F(16) TM_F(17) TM_F(18) TM_F(19)
#elif defined(TM_UPGRADE)
	{ .name = "version", .handler = tm_version },
	{ .name = "hold", .handler = tm_hold },
#if TM_VERSION == 1
	{ .name = "old_only", .handler = tm_ping },
#else
	{ .name = "new_only", .handler = tm_ping },
#endif
#else
	{ .name = "ping", .handler = tm_ping },
	{ .name = "fail", .handler = tm_fail },
	{ .name = "version", .handler = tm_version },
#endif
};

static const bk_module_desc tm_desc = {
#ifdef TM_SMALLDESC
	.size = 8,
#else
	.size = sizeof(bk_module_desc),
#endif
#ifdef TM_ABI
	.abi_version = TM_ABI,
#else
	.abi_version = BK_MODULE_ABI_VERSION,
#endif
	.name = TM_NAME,
	.version = TM_STR(TM_VERSION) ".0.0",
	.functions = tm_functions,
	.nfunctions = sizeof(tm_functions) / sizeof(tm_functions[0]),
	.init = tm_init,
	.fini = tm_fini,
};

#ifdef TM_NOENTRY
/* Exported under another name: dlopen works, the entry lookup does not. */
EXPORT const bk_module_desc *bk_module_entry_v0(void);
EXPORT const bk_module_desc *bk_module_entry_v0(void)
#else
EXPORT const bk_module_desc *BK_MODULE_ENTRY(void);
EXPORT const bk_module_desc *BK_MODULE_ENTRY(void)
#endif
{
	return &tm_desc;
}
