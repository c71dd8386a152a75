// SPDX-License-Identifier: MIT
/*
 * kidsmod.c - a test module for child tasks (host->call):
 *   kids.spawn "N"  N children, each a 1 ms host timer then its index as 4
 *                   bytes; the parent checks every child's result and
 *                   completes with "N SUM" (SUM of the indices) once all
 *                   callbacks ran.
 *   kids.hang  "N"  N children each waiting on a 60 s host timer: only a
 *                   cancel ends them (-ECANCELED).
 *   kids.live  ""   how many child handlers are live now (started, their
 *                   timer not yet back), as decimal text.
 *   kids.deep  "D"  a chain of D nested children; completes with the number
 *                   of levels below it (4 bytes), or the first error (-ELOOP
 *                   past brokerd's depth limit).
 *   kids.poll  "PORT MS"  socket, connect to 127.0.0.1:PORT, send "x", then
 *                   poll for POLLIN with a linked timeout of MS (0: none):
 *                   the ready events as decimal text.  The socket is never
 *                   closed here: brokerd closes it when the task ends.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include "bk_mod.h"

static atomic_int live;

struct kid {
	uint32_t index;
	int32_t res;
	uint32_t out; /* the child's result */
	struct parent *p;
};

struct parent {
	const bk_host_api *host;
	uint32_t n, left, bad;
	uint64_t sum;
	struct kid kids[];
};

static int arg_num(bk_task *t, const bk_host_api *host, uint32_t max, uint32_t *out)
{
	size_t len = 0;
	const char *a = host->arg(t, &len);
	char buf[16];
	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, a, len);
	buf[len] = '\0';
	char *end;
	unsigned long v = strtoul(buf, &end, 10);
	if (*end || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static void child_timer(bk_task *t, int res, void *ud)
{
	const bk_host_api *host = ud;
	size_t cap = 0;
	uint32_t *out = host->result(t, &cap);
	atomic_fetch_sub(&live, 1);
	uint32_t idx = 0;
	size_t len = 0;
	memcpy(&idx, host->arg(t, &len), sizeof(idx));
	if (res < 0) {
		host->complete(t, res, 0);
		return;
	}
	if (cap >= sizeof(idx))
		memcpy(out, &idx, sizeof(idx));
	host->complete(t, 0, sizeof(idx));
}

/* A child: arg is its index (4 bytes) and, for hang, nothing else. */
static int child_run(bk_task *t, const bk_host_api *host, uint64_t ns)
{
	size_t len = 0;
	host->arg(t, &len);
	if (len != sizeof(uint32_t))
		return -EINVAL;
	atomic_fetch_add(&live, 1);
	int r = host->timeout(t, ns, child_timer, (void *)host);
	if (r < 0)
		atomic_fetch_sub(&live, 1);
	return r < 0 ? r : BK_TASK_PENDING;
}

static int child_tick(bk_task *t, const bk_host_api *host, void *st)
{
	(void)st;
	return child_run(t, host, 1000000u);
}

static int child_hang(bk_task *t, const bk_host_api *host, void *st)
{
	(void)st;
	return child_run(t, host, 60000000000ull);
}

static void parent_cb(bk_task *t, int res, void *ud)
{
	struct kid *k = ud;
	struct parent *p = k->p;
	k->res = res;
	if (res == (int)sizeof(uint32_t) && k->out == k->index)
		p->sum += k->out;
	else
		p->bad++;
	if (--p->left)
		return;
	const bk_host_api *host = p->host;
	size_t cap = 0;
	char *out = host->result(t, &cap);
	int n = snprintf(out, cap, "%u %llu", p->n, (unsigned long long)p->sum);
	int status = p->bad ? (p->kids[0].res < 0 ? p->kids[0].res : -EIO) : 0;
	free(p);
	host->complete(t, status, n < 0 ? 0 : (size_t)n);
}

static int spawn(bk_task *t, const bk_host_api *host, bk_handler_fn fn)
{
	uint32_t n;
	int r = arg_num(t, host, 100000, &n);
	if (r < 0 || n == 0)
		return -EINVAL;
	struct parent *p = calloc(1, sizeof(*p) + n * sizeof(p->kids[0]));
	if (!p)
		return -ENOMEM;
	p->host = host;
	p->n = n;
	for (uint32_t i = 0; i < n; i++) {
		struct kid *k = &p->kids[i];
		k->index = i;
		k->p = p;
		r = host->call(t, fn, &k->index, sizeof(k->index), &k->out, sizeof(k->out), parent_cb, k);
		if (r < 0)
			break;
		p->left++;
	}
	if (p->left == 0) {
		free(p);
		return r;
	}
	p->bad += n - p->left; /* children that did not start: the result says so */
	return BK_TASK_PENDING;
}

static int kids_spawn(bk_task *t, const bk_host_api *host, void *st)
{
	(void)st;
	return spawn(t, host, child_tick);
}

static int kids_hang(bk_task *t, const bk_host_api *host, void *st)
{
	(void)st;
	return spawn(t, host, child_hang);
}

static int kids_live(bk_task *t, const bk_host_api *host, void *st)
{
	(void)st;
	size_t cap = 0;
	char *out = host->result(t, &cap);
	int n = snprintf(out, cap, "%d", atomic_load(&live));
	host->complete(t, 0, n < 0 ? 0 : (size_t)n);
	return BK_TASK_DONE;
}

struct level {
	const bk_host_api *host;
	uint32_t below;
	char arg[16];
};

static void deep_cb(bk_task *t, int res, void *ud)
{
	struct level *l = ud;
	const bk_host_api *host = l->host;
	uint32_t levels = l->below + 1;
	free(l);
	size_t cap = 0;
	void *out = host->result(t, &cap);
	if (res < 0) {
		host->complete(t, res, 0);
		return;
	}
	if (cap >= sizeof(levels))
		memcpy(out, &levels, sizeof(levels));
	host->complete(t, 0, sizeof(levels));
}

static int kids_deep(bk_task *t, const bk_host_api *host, void *st)
{
	(void)st;
	uint32_t d;
	int r = arg_num(t, host, 1000, &d);
	if (r < 0)
		return r;
	size_t cap = 0;
	void *out = host->result(t, &cap);
	if (d == 0) {
		uint32_t zero = 0;
		if (cap >= sizeof(zero))
			memcpy(out, &zero, sizeof(zero));
		host->complete(t, 0, sizeof(zero));
		return BK_TASK_DONE;
	}
	struct level *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->host = host;
	int n = snprintf(l->arg, sizeof(l->arg), "%u", d - 1);
	r = host->call(t, kids_deep, l->arg, (size_t)n, &l->below, sizeof(l->below), deep_cb, l);
	if (r < 0) {
		free(l);
		return r;
	}
	return BK_TASK_PENDING;
}

struct pollreq {
	const bk_host_api *host;
	struct sockaddr_in to;
	uint64_t timeout_ns;
	int fd;
};

static void pr_end(bk_task *t, struct pollreq *p, int res)
{
	const bk_host_api *host = p->host;
	free(p);
	if (res < 0) {
		host->complete(t, res, 0);
		return;
	}
	size_t cap = 0;
	char *out = host->result(t, &cap);
	int n = snprintf(out, cap, "%d", res);
	host->complete(t, 0, n < 0 ? 0 : (size_t)n);
}

static void pr_polled(bk_task *t, int res, void *ud)
{
	pr_end(t, ud, res);
}

static void pr_sent(bk_task *t, int res, void *ud)
{
	struct pollreq *p = ud;
	if (res >= 0 && p->timeout_ns)
		res = p->host->link_timeout(t, p->timeout_ns);
	if (res >= 0)
		res = p->host->poll(t, p->fd, POLLIN, pr_polled, p);
	if (res < 0)
		pr_end(t, p, res);
}

static void pr_connected(bk_task *t, int res, void *ud)
{
	struct pollreq *p = ud;
	if (res >= 0)
		res = p->host->send(t, p->fd, "x", 1, 0, pr_sent, p);
	if (res < 0)
		pr_end(t, p, res);
}

static void pr_socket(bk_task *t, int res, void *ud)
{
	struct pollreq *p = ud;
	p->fd = res;
	if (res >= 0)
		res = p->host->connect(t, p->fd, &p->to, sizeof(p->to), pr_connected, p);
	if (res < 0)
		pr_end(t, p, res);
}

static int kids_poll(bk_task *t, const bk_host_api *host, void *st)
{
	(void)st;
	size_t len = 0;
	const char *a = host->arg(t, &len);
	char buf[32];
	unsigned port, ms;
	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, a, len);
	buf[len] = '\0';
	if (sscanf(buf, "%u %u", &port, &ms) != 2 || port == 0 || port > 65535)
		return -EINVAL;
	struct pollreq *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->host = host;
	p->to.sin_family = AF_INET;
	p->to.sin_port = htons((uint16_t)port);
	p->to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p->timeout_ns = (uint64_t)ms * 1000000u;
	int r = host->socket(t, AF_INET, SOCK_STREAM, 0, pr_socket, p);
	if (r < 0) {
		free(p);
		return r;
	}
	return BK_TASK_PENDING;
}

static int kids_init(const bk_host_api *host, void **state)
{
	*state = NULL;
	return BK_HOST_HAS(host, call) && BK_HOST_HAS(host, timeout) && BK_HOST_HAS(host, poll) ? 0 : -EPROTO;
}

static const bk_function_desc kids_functions[] = {
	{ .name = "spawn", .handler = kids_spawn },
	{ .name = "hang", .handler = kids_hang },
	{ .name = "live", .handler = kids_live },
	{ .name = "deep", .handler = kids_deep },
	{ .name = "poll", .handler = kids_poll },
};

static const bk_module_desc kids_desc = {
	.size = sizeof(bk_module_desc),
	.abi_version = BK_MODULE_ABI_VERSION,
	.name = "kids",
	.version = "1.0.0",
	.functions = kids_functions,
	.nfunctions = sizeof(kids_functions) / sizeof(kids_functions[0]),
	.init = kids_init,
};

const bk_module_desc *BK_MODULE_ENTRY(void)
{
	return &kids_desc;
}
