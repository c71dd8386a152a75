// SPDX-License-Identifier: MIT
/*
 * snapshot.c - take and compare looks at brokerd's figures (snapshot.h).
 */
#include "snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/client.h" /* bk_strerror */
#include "broker/errors.h"
#include "broker/sys.h"

#define FIXSTR(a) ((a)[sizeof(a) - 1] = 0)

int snapshot_take(struct ctx *x, struct snapshot *s)
{
	memset(s, 0, sizeof(*s));
	struct bk_msg_hdr req = {.type = BK_MSG_STATUS};
	int n = bkc_ctl_call(&x->k, &req, sizeof(req), BK_MSG_STATUS_REPLY, &s->st, sizeof(s->st), x->err,
			     sizeof(x->err));
	if (n < 0)
		return n;
	if ((size_t)n < sizeof(s->st)) {
		snprintf(x->err, sizeof(x->err), "short STATUS reply (%d bytes)", n);
		return BK_EPROTOCOL;
	}
	FIXSTR(s->st.version);
	int r = fetch_list(x, BK_MSG_FN_STATS, BK_MSG_FN_STATS_REPLY, sizeof(*s->fn), (void **)&s->fn, &s->nfn);
	if (r < 0)
		return r;
	s->accounting = !(x->reply_flags & BK_STATS_OFF);
	r = fetch_list(x, BK_MSG_CLIENT_STATS, BK_MSG_CLIENT_STATS_REPLY, sizeof(*s->cl), (void **)&s->cl, &s->ncl);
	if (r < 0) {
		snapshot_free(s);
		return r;
	}
	for (uint32_t i = 0; i < s->nfn; i++)
		FIXSTR(s->fn[i].name);
	for (uint32_t i = 0; i < s->ncl; i++)
		FIXSTR(s->cl[i].c.comm);
	s->t_ns = bk_now_ns();
	return 0;
}

int snapshot_lookup(struct ctx *x, const char *name, uint32_t *fn)
{
	struct bk_msg_lookup req = {.h = {.type = BK_MSG_LOOKUP}};
	if (strlen(name) >= sizeof(req.name))
		return -ENAMETOOLONG;
	strcpy(req.name, name);
	struct bk_msg_lookup_reply rep;
	int n = bkc_ctl_call(&x->k, &req, sizeof(req), BK_MSG_LOOKUP_REPLY, &rep, sizeof(rep), x->err, sizeof(x->err));
	if (n < 0)
		return n;
	if ((size_t)n < sizeof(rep))
		return BK_EPROTOCOL;
	if (rep.status < 0) {
		snprintf(x->err, sizeof(x->err), "%s: %s", name,
			 rep.status == -ENOENT ? "no such function" : bk_strerror(rep.status));
		return rep.status;
	}
	*fn = rep.fn;
	return 0;
}

void snapshot_free(struct snapshot *s)
{
	free(s->fn);
	free(s->cl);
	s->fn = NULL;
	s->cl = NULL;
	s->nfn = s->ncl = 0;
}

const struct bk_wire_fn_stats *snapshot_fn(const struct snapshot *s, uint32_t fn)
{
	for (uint32_t i = 0; s && i < s->nfn; i++)
		if (s->fn[i].fn == fn)
			return &s->fn[i];
	return NULL;
}

const struct bk_wire_client_stats *snapshot_client(const struct snapshot *s, uint32_t conn_id)
{
	for (uint32_t i = 0; s && i < s->ncl; i++)
		if (s->cl[i].c.conn_id == conn_id)
			return &s->cl[i];
	return NULL;
}

double snapshot_rate(const struct snapshot *now, const struct snapshot *prev, uint64_t v_now, uint64_t v_prev)
{
	double dt = prev ? (double)(now->t_ns - prev->t_ns) / 1e9 : (double)now->st.uptime_ns / 1e9;
	if (dt <= 0 || v_now < v_prev)
		return 0;
	return (double)(v_now - v_prev) / dt;
}

void fmt_ns(char *buf, size_t n, uint64_t ns, int have)
{
	if (!have)
		snprintf(buf, n, "-");
	else if (ns < 1000)
		snprintf(buf, n, "%uns", (unsigned)ns);
	else if (ns < 10000)
		snprintf(buf, n, "%.2fus", (double)ns / 1e3);
	else if (ns < 1000000)
		snprintf(buf, n, "%.1fus", (double)ns / 1e3);
	else if (ns < 10000000)
		snprintf(buf, n, "%.2fms", (double)ns / 1e6);
	else if (ns < 1000000000)
		snprintf(buf, n, "%.1fms", (double)ns / 1e6);
	else
		snprintf(buf, n, "%.2fs", (double)ns / 1e9);
}

void fmt_rate(char *buf, size_t n, double r)
{
	if (r < 1000)
		snprintf(buf, n, "%.0f", r);
	else if (r < 1e6)
		snprintf(buf, n, "%.1fk", r / 1e3);
	else
		snprintf(buf, n, "%.2fM", r / 1e6);
}
