// SPDX-License-Identifier: MIT
/*
 * cmd_stats.c - `brokerctl stats [--json] [--interval S] [FUNCTION]`: per
 * function calls, errors, tasks/s and the quantiles of queue wait and run
 * time; per client the same summary (docs/ARCHITECTURE.md, "Observability").
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/errors.h"
#include "ctl.h"
#include "output.h"
#include "snapshot.h"

static const char usage[] =
	"usage: brokerctl [--socket PATH] stats [--json] [--interval S] [FUNCTION]\n"
	"Per function (module.function): tasks completed (calls), errors, tasks/s, and the p50/p90/p99/max\n"
	"of queue wait and run time; then the same per client (its pid, uid and process name).\n"
	"  queue wait  from the worker taking the entry off the client's SQ to the handler's start\n"
	"              (the round's other takes, then its priority lane; time the entry sat in the SQ\n"
	"              before the worker looked is not included: brokerd cannot see the client's clock)\n"
	"  run time    from the handler's start to the task's completion (asynchronous work included)\n"
	"Quantiles come from log-linear histograms (about 3 % wide buckets).  Counts are exact; times are\n"
	"sampled on a busy worker: above brokerd's --latency-budget (tasks a millisecond) it times 1 in 2^k\n"
	"of each function's tasks, each standing for the untimed ones before it (the JSON's count), and max\n"
	"is the largest timed task; with `brokerctl trace` attached every task is timed.  Tasks/s is\n"
	"measured over --interval seconds (default 1; 0: the average since brokerd started).  With\n"
	"FUNCTION only that function is shown.  Calls counts tasks taken up that completed (ended in\n"
	"their lane by a cancel or deadline included); calls refused before (unknown id, --module-access,\n"
	"shutting down) are in `brokerctl status` only.  A caller who is not an administrator sees its\n"
	"own uid's clients only.\n";

struct opts {
	double interval;
	const char *fn;
};

static int parse(struct ctx *x, int argc, char **argv, struct opts *o)
{
	o->interval = 1.0;
	o->fn = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--json")) {
			x->json = 1;
		} else if (!strcmp(a, "--interval") && i + 1 < argc) {
			char *end;
			o->interval = strtod(argv[++i], &end);
			if (*end || o->interval < 0 || o->interval > 3600) {
				fprintf(stderr, "brokerctl stats: --interval wants seconds in [0, 3600]\n");
				return 2;
			}
		} else if (a[0] == '-' || o->fn) {
			fprintf(stderr, "brokerctl stats: unexpected argument '%s'\n%s", a, usage);
			return 2;
		} else {
			o->fn = a;
		}
	}
	return 0;
}

/* Both looks, interval seconds apart (one look when 0). */
static int take(struct ctx *x, double interval, struct snapshot *prev, struct snapshot *now)
{
	memset(prev, 0, sizeof(*prev));
	if (interval > 0) {
		int r = snapshot_take(x, prev);
		if (r < 0)
			return r;
		struct timespec ts = {(time_t)interval, (long)((interval - (double)(time_t)interval) * 1e9)};
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	return snapshot_take(x, now);
}

static void json_lat(const char *key, const struct bk_wire_lat *l)
{
	/* count: the tasks the histogram stands for (sampled ones weighted), so mean is sum over it. */
	printf("\"%s\": {\"count\": %" PRIu64 ", \"p50_ns\": %" PRIu64 ", \"p90_ns\": %" PRIu64 ", \"p99_ns\": %" PRIu64
	       ", \"p999_ns\": %" PRIu64 ", \"max_ns\": %" PRIu64 ", \"mean_ns\": %.1f}",
	       key, l->count, l->p50_ns, l->p90_ns, l->p99_ns, l->p999_ns, l->max_ns,
	       l->count ? (double)l->sum_ns / (double)l->count : 0.0);
}

static void json_lats(const struct bk_wire_lat *l)
{
	json_lat("queue", &l[BK_LAT_QUEUE]);
	printf(", ");
	json_lat("run", &l[BK_LAT_RUN]);
	printf(", ");
	json_lat("total", &l[BK_LAT_TOTAL]);
}

static void json_out(const struct snapshot *s, const struct snapshot *p, const struct opts *o,
		     const struct bk_wire_fn_stats *only)
{
	printf("{\"pid\": %u, \"uptime_ns\": %" PRIu64 ", \"interval_s\": %.3f, \"accounting\": %s, \"functions\": [",
	       s->st.pid, s->st.uptime_ns, p->t_ns ? (double)(s->t_ns - p->t_ns) / 1e9 : 0.0,
	       s->accounting ? "true" : "false");
	int k = 0;
	for (uint32_t i = 0; i < s->nfn; i++) {
		const struct bk_wire_fn_stats *f = &s->fn[i];
		if (o->fn && f != only)
			continue;
		const struct bk_wire_fn_stats *pf = snapshot_fn(p, f->fn);
		printf("%s\n  {\"name\": ", k++ ? "," : "");
		json_str(f->name);
		printf(", \"fn\": %u, \"calls\": %" PRIu64 ", \"errors\": %" PRIu64 ", \"tasks_per_s\": %.1f, ", f->fn,
		       f->calls, f->errors, snapshot_rate(s, p->t_ns ? p : NULL, f->calls, pf ? pf->calls : 0));
		json_lats(f->lat);
		printf("}");
	}
	printf("%s]", k ? "\n" : "");
	if (!o->fn) {
		printf(", \"clients\": [");
		for (uint32_t i = 0; i < s->ncl; i++) {
			const struct bk_wire_client_stats *c = &s->cl[i];
			const struct bk_wire_client_stats *pc = snapshot_client(p, c->c.conn_id);
			printf("%s\n  {\"conn_id\": %u, \"pid\": %u, \"uid\": %u, \"comm\": ", i ? "," : "", c->c.conn_id,
			       c->c.pid, c->c.uid);
			json_str(c->c.comm);
			printf(", \"submitted\": %" PRIu64 ", \"completed\": %" PRIu64 ", \"inflight\": %" PRIu64
			       ", \"calls\": %" PRIu64 ", \"errors\": %" PRIu64 ", \"tasks_per_s\": %.1f, ",
			       c->c.submitted, c->c.completed, c->c.inflight, c->calls, c->errors,
			       snapshot_rate(s, p->t_ns ? p : NULL, c->c.completed, pc ? pc->c.completed : 0));
			json_lats(c->lat);
			printf("}");
		}
		printf("%s]", s->ncl ? "\n" : "");
	}
	printf("}\n");
}

static void cell_ns(char *v, const struct bk_wire_lat *l, int which, uint64_t n)
{
	const uint64_t q[4] = {l->p50_ns, l->p90_ns, l->p99_ns, l->max_ns};
	fmt_ns(v, 16, q[which], n > 0);
}

static void text_fns(const struct snapshot *s, const struct snapshot *p, const struct opts *o,
		     const struct bk_wire_fn_stats *only)
{
	static const char *head[] = {"FUNCTION", "CALLS", "ERRORS", "TASKS/S", "Q.P50", "Q.P90", "Q.P99", "Q.MAX",
				     "RUN.P50", "RUN.P90", "RUN.P99", "RUN.MAX"};
	static const int right[] = {0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
	struct table t;
	table_init(&t, 12, head, right);
	for (uint32_t i = 0; i < s->nfn; i++) {
		const struct bk_wire_fn_stats *f = &s->fn[i];
		if (o->fn && f != only)
			continue;
		const struct bk_wire_fn_stats *pf = snapshot_fn(p, f->fn);
		char v[11][16];
		snprintf(v[0], 16, "%" PRIu64, f->calls);
		snprintf(v[1], 16, "%" PRIu64, f->errors);
		fmt_rate(v[2], 16, snapshot_rate(s, p->t_ns ? p : NULL, f->calls, pf ? pf->calls : 0));
		for (int k = 0; k < 4; k++) {
			cell_ns(v[3 + k], &f->lat[BK_LAT_QUEUE], k, f->calls);
			cell_ns(v[7 + k], &f->lat[BK_LAT_RUN], k, f->calls);
		}
		const char *row[12] = {f->name};
		for (int k = 0; k < 11; k++)
			row[k + 1] = v[k];
		table_add(&t, row);
	}
	table_print(&t);
	table_free(&t);
}

static void text_clients(const struct snapshot *s, const struct snapshot *p)
{
	static const char *head[] = {"CONN", "PID", "UID", "COMM", "CALLS", "ERRORS", "TASKS/S", "Q.P99",
				     "RUN.P50", "RUN.P99", "TOTAL.P99", "TOTAL.MAX"};
	static const int right[] = {1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1};
	struct table t;
	table_init(&t, 12, head, right);
	for (uint32_t i = 0; i < s->ncl; i++) {
		const struct bk_wire_client_stats *c = &s->cl[i];
		const struct bk_wire_client_stats *pc = snapshot_client(p, c->c.conn_id);
		char v[11][24];
		snprintf(v[0], 24, "%u", c->c.conn_id);
		snprintf(v[1], 24, "%u", c->c.pid);
		snprintf(v[2], 24, "%u", c->c.uid);
		snprintf(v[3], 24, "%" PRIu64, c->calls);
		snprintf(v[4], 24, "%" PRIu64, c->errors);
		fmt_rate(v[5], 24, snapshot_rate(s, p->t_ns ? p : NULL, c->c.completed, pc ? pc->c.completed : 0));
		fmt_ns(v[6], 24, c->lat[BK_LAT_QUEUE].p99_ns, c->calls > 0);
		fmt_ns(v[7], 24, c->lat[BK_LAT_RUN].p50_ns, c->calls > 0);
		fmt_ns(v[8], 24, c->lat[BK_LAT_RUN].p99_ns, c->calls > 0);
		fmt_ns(v[9], 24, c->lat[BK_LAT_TOTAL].p99_ns, c->calls > 0);
		fmt_ns(v[10], 24, c->lat[BK_LAT_TOTAL].max_ns, c->calls > 0);
		const char *row[12] = {v[0], v[1], v[2], c->c.comm};
		for (int k = 3; k < 11; k++)
			row[k + 1] = v[k];
		table_add(&t, row);
	}
	table_print(&t);
	table_free(&t);
}

static void text_out(const struct snapshot *s, const struct snapshot *p, const struct opts *o,
		     const struct bk_wire_fn_stats *only)
{
	char up[32];
	fmt_dur(up, sizeof(up), s->st.uptime_ns);
	printf("brokerd %s (pid %u), up %s; tasks/s ", s->st.version, s->st.pid, up);
	if (p->t_ns)
		printf("over the last %.1f s\n", (double)(s->t_ns - p->t_ns) / 1e9);
	else
		printf("since start\n");
	if (!s->accounting)
		printf("(brokerd was built with -Dlatency=false: no latency figures)\n");
	printf("queue: taken off the SQ -> handler start; run: handler start -> completion\n\n");
	if (o->fn && !only)
		printf("%s: no task has completed yet\n", o->fn);
	else if (s->nfn == 0)
		printf("no function has completed a task yet\n");
	else
		text_fns(s, p, o, only);
	if (o->fn)
		return;
	printf("\n");
	if (s->ncl == 0)
		printf("no client connections\n");
	else
		text_clients(s, p);
}

static int run(struct ctx *x, int argc, char **argv)
{
	struct opts o;
	if (parse(x, argc, argv, &o))
		return 2;
	int r = ctl_connect(x);
	uint32_t fn;
	/* FUNCTION must exist even when it has not run yet. */
	if (r < 0 || (o.fn && (r = snapshot_lookup(x, o.fn, &fn)) < 0))
		return r;
	struct snapshot prev, now;
	r = take(x, o.interval, &prev, &now);
	if (r == 0) {
		const struct bk_wire_fn_stats *only = NULL;
		for (uint32_t i = 0; o.fn && i < now.nfn; i++)
			if (!strcmp(now.fn[i].name, o.fn))
				only = &now.fn[i];
		if (x->json)
			json_out(&now, &prev, &o, only);
		else
			text_out(&now, &prev, &o, only);
	}
	snapshot_free(&prev);
	snapshot_free(&now);
	return r;
}

const struct ctl_cmd ctl_cmd_stats = {
	.name = "stats",
	.usage = usage,
	.summary = "per function and client: calls, errors, tasks/s, queue wait and run time quantiles",
	.run = run,
};
