// SPDX-License-Identifier: MIT
/*
 * top_frame.c - lay out a frame of `brokerctl top`: a header (uptime,
 * workers, connections, tasks/s, in flight), a table of clients and one of
 * functions, sorted, cut to the terminal's rows and columns (80x24 fits).
 */
#include "top_frame.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char top_sort_key[SORT_N] = {'c', 's', 'i', 'p', 'n'};
const char *const top_sort_name[SORT_N] = {"completed/s", "submitted/s", "in flight", "p99", "pid"};

struct crow {
	const struct bk_wire_client_stats *c;
	double sub, comp;
};

struct frow {
	const struct bk_wire_fn_stats *f;
	double calls, errs;
};

static enum top_sort sort_by;

static int cmp_d(double a, double b)
{
	return a < b ? 1 : a > b ? -1 : 0; /* descending */
}

static int cmp_client(const void *pa, const void *pb)
{
	const struct crow *a = pa, *b = pb;
	switch (sort_by) {
	case SORT_SUBMITTED:
		return cmp_d(a->sub, b->sub);
	case SORT_INFLIGHT:
		return cmp_d((double)a->c->c.inflight, (double)b->c->c.inflight);
	case SORT_P99:
		return cmp_d((double)a->c->lat[BK_LAT_TOTAL].p99_ns, (double)b->c->lat[BK_LAT_TOTAL].p99_ns);
	case SORT_PID:
		return a->c->c.pid < b->c->c.pid ? -1 : a->c->c.pid > b->c->c.pid;
	default:
		return cmp_d(a->comp, b->comp);
	}
}

static int cmp_fn(const void *pa, const void *pb)
{
	const struct frow *a = pa, *b = pb;
	if (sort_by == SORT_P99)
		return cmp_d((double)a->f->lat[BK_LAT_RUN].p99_ns, (double)b->f->lat[BK_LAT_RUN].p99_ns);
	if (sort_by == SORT_PID) /* no pid for a function: by name */
		return strcmp(a->f->name, b->f->name);
	return cmp_d(a->calls, b->calls);
}

__attribute__((format(printf, 3, 4))) static void add(struct top_frame *f, int cols, const char *fmt, ...)
{
	if (f->nlines >= f->cap)
		return;
	char *l = f->line[f->nlines++];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(l, 256, fmt, ap);
	va_end(ap);
	if (cols > 0 && cols < 256)
		l[cols] = 0; /* every column is ASCII */
}

static void header(struct top_frame *f, const struct snapshot *s, const struct snapshot *p, enum top_sort sort,
		   double interval, int cols)
{
	char up[32], rate[16];
	fmt_dur(up, sizeof(up), s->st.uptime_ns);
	if (p)
		fmt_rate(rate, sizeof(rate), snapshot_rate(s, p, s->st.tasks_done, p->st.tasks_done));
	else
		snprintf(rate, sizeof(rate), "-");
	add(f, cols, "pid %u  up %s  workers %u  conns %u  tasks/s %s  in flight %" PRIu64, s->st.pid, up,
	    s->st.workers, s->st.connections, rate, s->st.inflight);
	add(f, cols, "brokerd %s  sort %s (c s i p n)  q quits  every %.1fs%s", s->st.version, top_sort_name[sort],
	    interval, s->accounting ? "" : "  [no latency accounting]");
}

static void clients(struct top_frame *f, const struct crow *r, int n, int total, int cols)
{
	add(f, cols, "%7s %-15s %6s %8s %8s %6s %5s %5s %8s", "PID", "COMM", "UID", "SUBM/S", "COMP/S", "INFL", "SQ",
	    "CQ", "P99");
	for (int i = 0; i < n; i++) {
		const struct bk_wire_client *c = &r[i].c->c;
		char sub[16], comp[16], p99[16];
		fmt_rate(sub, sizeof(sub), r[i].sub);
		fmt_rate(comp, sizeof(comp), r[i].comp);
		fmt_ns(p99, sizeof(p99), r[i].c->lat[BK_LAT_TOTAL].p99_ns, r[i].c->calls > 0);
		add(f, cols, "%7u %-15.15s %6u %8s %8s %6" PRIu64 " %5u %5u %8s", c->pid, c->comm, c->uid, sub, comp,
		    c->inflight, c->sq_depth, c->cq_depth, p99);
	}
	if (total > n)
		add(f, cols, "        (%d more clients)", total - n);
}

static void functions(struct top_frame *f, const struct frow *r, int n, int total, int cols)
{
	add(f, cols, "%-24s %9s %8s %8s %8s %8s %8s", "FUNCTION", "CALLS/S", "ERR/S", "Q.P99", "RUN.P50", "RUN.P99",
	    "RUN.MAX");
	for (int i = 0; i < n; i++) {
		const struct bk_wire_fn_stats *s = r[i].f;
		char c[16], e[16], q[16], p50[16], p99[16], mx[16];
		fmt_rate(c, sizeof(c), r[i].calls);
		fmt_rate(e, sizeof(e), r[i].errs);
		fmt_ns(q, sizeof(q), s->lat[BK_LAT_QUEUE].p99_ns, s->calls > 0);
		fmt_ns(p50, sizeof(p50), s->lat[BK_LAT_RUN].p50_ns, s->calls > 0);
		fmt_ns(p99, sizeof(p99), s->lat[BK_LAT_RUN].p99_ns, s->calls > 0);
		fmt_ns(mx, sizeof(mx), s->lat[BK_LAT_RUN].max_ns, s->calls > 0);
		add(f, cols, "%-24.24s %9s %8s %8s %8s %8s %8s", s->name, c, e, q, p50, p99, mx);
	}
	if (total > n)
		add(f, cols, "(%d more functions)", total - n);
}

/* Rows for the tables: clients get what the functions do not need, functions at least half. */
static void split(int avail, int ncl, int nfn, int *showc, int *showf)
{
	int want_f = nfn < avail / 2 ? nfn : avail / 2;
	*showc = ncl < avail - want_f ? ncl : avail - want_f;
	*showf = nfn < avail - *showc ? nfn : avail - *showc;
	if (*showc < ncl && *showc > 0)
		(*showc)--; /* room for the "more" line */
	if (*showf < nfn && *showf > 0)
		(*showf)--;
}

int top_frame_build(struct top_frame *f, const struct snapshot *s, const struct snapshot *p, enum top_sort sort,
		    double interval, int rows, int cols)
{
	if (rows < 8)
		rows = 8;
	memset(f, 0, sizeof(*f));
	f->line = calloc((size_t)rows, sizeof(*f->line));
	f->cap = rows;
	struct crow *cr = calloc(s->ncl + 1, sizeof(*cr));
	struct frow *fr = calloc(s->nfn + 1, sizeof(*fr));
	if (!f->line || !cr || !fr) {
		free(cr);
		free(fr);
		top_frame_free(f);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < s->ncl; i++) {
		const struct bk_wire_client_stats *c = &s->cl[i], *pc = snapshot_client(p, c->c.conn_id);
		cr[i] = (struct crow){c, p ? snapshot_rate(s, p, c->c.submitted, pc ? pc->c.submitted : 0) : 0,
				      p ? snapshot_rate(s, p, c->c.completed, pc ? pc->c.completed : 0) : 0};
	}
	for (uint32_t i = 0; i < s->nfn; i++) {
		const struct bk_wire_fn_stats *fn = &s->fn[i], *pf = snapshot_fn(p, fn->fn);
		fr[i] = (struct frow){fn, p ? snapshot_rate(s, p, fn->calls, pf ? pf->calls : 0) : 0,
				      p ? snapshot_rate(s, p, fn->errors, pf ? pf->errors : 0) : 0};
	}
	sort_by = sort;
	qsort(cr, s->ncl, sizeof(*cr), cmp_client);
	qsort(fr, s->nfn, sizeof(*fr), cmp_fn);
	header(f, s, p, sort, interval, cols);
	int showc, showf;
	split(rows - 6, (int)s->ncl, (int)s->nfn, &showc, &showf); /* 2 header, blank, 2 table heads, blank */
	add(f, cols, "%s", "");
	clients(f, cr, showc, (int)s->ncl, cols);
	add(f, cols, "%s", "");
	functions(f, fr, showf, (int)s->nfn, cols);
	free(cr);
	free(fr);
	return 0;
}

void top_frame_free(struct top_frame *f)
{
	free(f->line);
	f->line = NULL;
	f->nlines = 0;
}
