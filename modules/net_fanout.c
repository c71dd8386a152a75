// SPDX-License-Identifier: MIT
/*
 * net_fanout.c - net.fanout: several net.requests at once, as child tasks
 * of this one (host->call), inside brokerd.
 *
 * Argument: 1 to 256 records, each "LEN\n" (decimal) followed by LEN bytes
 * that are one net.request argument.  Result: per record, in order,
 * "STATUS LEN\n" (decimal; STATUS 0 or a -errno, LEN 0 unless STATUS is 0)
 * followed by LEN bytes of that request's answer.  Each request may use an
 * equal share of the result buffer, less 24 bytes for its record header; a
 * buffer with no room for the headers completes with -ENOBUFS.  The task
 * completes when every request has; cancelling it cancels them all.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net_impl.h"

#define FANOUT_MAX 256u
#define REC_HDR_MAX 24u /* "-2147483648 4294967295\n" */

struct fanout;

struct fan_slot {
	struct fanout *f;
	int res;
};

struct fanout {
	const bk_host_api *host;
	uint32_t n, left;
	size_t share;
	uint8_t *bufs; /* n shares */
	struct fan_slot slot[];
};

/* Each record's bounds in the argument, read once: [off[i], off[i] + len[i]). */
static int parse_records(const uint8_t *arg, size_t len, size_t *off, size_t *rlen, uint32_t *n)
{
	size_t pos = 0;
	uint32_t k = 0;
	while (pos < len) {
		uint8_t digits[11];
		size_t d = 0;
		while (pos < len && d < sizeof(digits) && (digits[d] = arg[pos]) != '\n') {
			d++;
			pos++;
		}
		uint32_t v;
		if (k == FANOUT_MAX || d == sizeof(digits) || pos == len || net_parse_u32(digits, d, UINT32_MAX, &v) < 0)
			return -EINVAL;
		pos++;
		if (v > len - pos)
			return -EINVAL;
		off[k] = pos;
		rlen[k++] = v;
		pos += v;
	}
	if (k == 0)
		return -EINVAL;
	*n = k;
	return 0;
}

static void fanout_finish(bk_task *task, struct fanout *f)
{
	size_t cap = 0, at = 0;
	uint8_t *out = f->host->result(task, &cap);
	for (uint32_t i = 0; i < f->n; i++) {
		int res = f->slot[i].res;
		size_t len = res > 0 ? (size_t)res : 0;
		char hdr[REC_HDR_MAX + 1];
		int h = snprintf(hdr, sizeof(hdr), "%d %zu\n", res > 0 ? 0 : res, len);
		/* Shares and header room add up to at most cap (fanout_new), so this fits. */
		memcpy(out + at, hdr, (size_t)h);
		at += (size_t)h;
		memcpy(out + at, f->bufs + (size_t)i * f->share, len);
		at += len;
	}
	const bk_host_api *host = f->host;
	free(f->bufs);
	free(f);
	/* A cancelled fan-out says so, not "done, every request cancelled". */
	host->complete(task, host->cancelled(task) ? -ECANCELED : 0, at);
}

static void on_child(bk_task *task, int res, void *ud)
{
	struct fan_slot *s = ud;
	struct fanout *f = s->f;
	s->res = res;
	if (--f->left == 0)
		fanout_finish(task, f);
}

static struct fanout *fanout_new(const bk_host_api *host, uint32_t n, size_t cap)
{
	struct fanout *f = calloc(1, sizeof(*f) + n * sizeof(f->slot[0]));
	if (!f)
		return NULL;
	f->host = host;
	f->n = f->left = n;
	f->share = (cap - (size_t)n * REC_HDR_MAX) / n;
	f->bufs = malloc(f->share * n + 1);
	if (!f->bufs) {
		free(f);
		return NULL;
	}
	for (uint32_t i = 0; i < n; i++)
		f->slot[i].f = f;
	return f;
}

int net_fanout(bk_task *task, const bk_host_api *host, void *state)
{
	size_t len = 0, cap = 0;
	const uint8_t *arg = host->arg(task, &len);
	size_t off[FANOUT_MAX], rlen[FANOUT_MAX];
	uint32_t n;
	int r = parse_records(arg, len, off, rlen, &n);
	if (r < 0)
		return r;
	host->result(task, &cap);
	if (cap < (size_t)n * REC_HDR_MAX) {
		host->complete(task, 0, (size_t)n * REC_HDR_MAX); /* > cap: -ENOBUFS, with the size needed */
		return BK_TASK_DONE;
	}
	struct fanout *f = fanout_new(host, n, cap);
	if (!f)
		return -ENOMEM;
	uint32_t started = 0;
	for (uint32_t i = 0; i < n; i++) {
		r = host->call(task, net_request, arg + off[i], rlen[i], f->bufs + (size_t)i * f->share, f->share,
			       on_child, &f->slot[i]);
		if (r < 0)
			f->slot[i].res = r;
		else
			started++;
	}
	(void)state;
	f->left -= n - started; /* the ones that did not start are done already */
	if (started == 0) {
		fanout_finish(task, f);
		return BK_TASK_DONE;
	}
	return BK_TASK_PENDING;
}
