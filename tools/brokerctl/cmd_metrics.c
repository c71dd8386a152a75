// SPDX-License-Identifier: MIT
/*
 * cmd_metrics.c - `brokerctl metrics`: brokerd's counters and latency
 * histograms in the Prometheus text exposition format (0.0.4), for
 * node_exporter's textfile collector or a scrape wrapper.  Function
 * histograms use power-of-two bucket edges, where brokerd's log-linear
 * buckets have edges too, so every cumulative count is exact.
 */
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "snapshot.h"

static const char usage[] =
	"usage: brokerctl [--socket PATH] metrics\n"
	"Print brokerd's figures in the Prometheus text format (version 0.0.4): process gauges and task\n"
	"counters (brokerd_*), per function call and error counters and histograms of queue wait, run time\n"
	"and total in seconds (brokerd_function_*{function=\"module.function\"}, bucket edges 2^k ns), and per\n"
	"client counters, gauges and p50/p99 quantiles (brokerd_client_*{conn,pid,uid,comm}).  A caller\n"
	"who is not an administrator gets its own uid's clients only.\n";

static const char *const kind_name[BK_LAT_KINDS] = {"queue", "run", "total"};

/* A label value: backslash, double quote and newline escaped. */
static void label(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			printf("\\%c", *s);
		else if (*s == '\n')
			printf("\\n");
		else
			putchar(*s);
	}
	putchar('"');
}

static void meta(const char *name, const char *type, const char *help)
{
	printf("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void process_metrics(const struct snapshot *s)
{
	const struct bk_msg_status_reply *t = &s->st;
	struct {
		const char *name, *type, *help;
		double v;
	} m[] = {
		{"brokerd_uptime_seconds", "gauge", "Seconds since brokerd started.", (double)t->uptime_ns / 1e9},
		{"brokerd_workers", "gauge", "Worker threads.", t->workers},
		{"brokerd_connections", "gauge", "Client connections now.", t->connections},
		{"brokerd_connections_accepted_total", "counter", "Connections accepted since start.",
		 (double)t->connections_total},
		{"brokerd_modules", "gauge", "Modules loaded.", t->modules},
		{"brokerd_tasks_completed_total", "counter", "Tasks completed, whatever their status.",
		 (double)t->tasks_done},
		{"brokerd_tasks_failed_total", "counter", "Tasks completed with an error.", (double)t->tasks_failed},
		{"brokerd_tasks_in_flight", "gauge", "Tasks taken up and not completed.", (double)t->inflight},
		{"brokerd_protocol_violations_total", "counter", "Protocol violations seen.", (double)t->violations},
		{"brokerd_connection_migrations_total", "counter", "Connections moved from one worker to another.",
		 t->migrations},
		{"brokerd_open_fds", "gauge", "brokerd's open file descriptors.", t->open_fds},
		{"brokerd_resident_bytes", "gauge", "brokerd's resident set size.", (double)t->rss_bytes},
	};
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		meta(m[i].name, m[i].type, m[i].help);
		printf("%s %.17g\n", m[i].name, m[i].v);
	}
}

static void fn_counter(const struct snapshot *s, const char *name, const char *help, int errors)
{
	meta(name, "counter", help);
	for (uint32_t i = 0; i < s->nfn; i++) {
		printf("%s{function=", name);
		label(s->fn[i].name);
		printf("} %" PRIu64 "\n", errors ? s->fn[i].errors : s->fn[i].calls);
	}
}

static void fn_histogram(const struct snapshot *s, unsigned k)
{
	char name[64], help[128];
	snprintf(name, sizeof(name), "brokerd_function_%s_seconds", kind_name[k]);
	snprintf(help, sizeof(help), "Task %s latency per function (docs/ARCHITECTURE.md, Observability).",
		 kind_name[k]);
	meta(name, "histogram", help);
	for (uint32_t i = 0; i < s->nfn; i++) {
		const struct bk_wire_fn_stats *f = &s->fn[i];
		/* The histogram's own count (calls may run a task ahead: latency.h); relaxed reads are no common
		 * cut (latency.c), so keep +Inf at least the last bucket. */
		uint64_t count = f->lat[k].count;
		if (f->below[k][BK_WIRE_BELOW_N - 1] > count)
			count = f->below[k][BK_WIRE_BELOW_N - 1];
		for (unsigned b = 0; b < BK_WIRE_BELOW_N; b++) {
			printf("%s_bucket{function=", name);
			label(f->name);
			/* below[b] counts samples < 2^e ns, i.e. <= 2^e - 1 ns (integers). */
			printf(",le=\"%.12g\"} %" PRIu64 "\n", (ldexp(1.0, (int)(b + BK_WIRE_BELOW_LOG2)) - 1.0) * 1e-9,
			       f->below[k][b]);
		}
		printf("%s_bucket{function=", name);
		label(f->name);
		printf(",le=\"+Inf\"} %" PRIu64 "\n%s_sum{function=", count, name);
		label(f->name);
		printf("} %.9f\n%s_count{function=", (double)f->lat[k].sum_ns / 1e9, name);
		label(f->name);
		printf("} %" PRIu64 "\n", count);
	}
}

static void client_labels(const struct bk_wire_client_stats *c)
{
	printf("{conn=\"%u\",pid=\"%u\",uid=\"%u\",comm=", c->c.conn_id, c->c.pid, c->c.uid);
	label(c->c.comm);
}

static void client_metrics(const struct snapshot *s)
{
	struct {
		const char *name, *type, *help;
		size_t off;
	} m[] = {
		{"brokerd_client_submitted_total", "counter", "Calls accepted from the client's SQ.",
		 offsetof(struct bk_wire_client, submitted)},
		{"brokerd_client_completed_total", "counter", "Calls completed.", offsetof(struct bk_wire_client, completed)},
		{"brokerd_client_errors_total", "counter", "Calls completed with an error.",
		 offsetof(struct bk_wire_client, errors)},
		{"brokerd_client_in_flight", "gauge", "Calls in flight.", offsetof(struct bk_wire_client, inflight)},
	};
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		meta(m[i].name, m[i].type, m[i].help);
		for (uint32_t j = 0; j < s->ncl; j++) {
			uint64_t v;
			memcpy(&v, (const char *)&s->cl[j].c + m[i].off, sizeof(v));
			printf("%s", m[i].name);
			client_labels(&s->cl[j]);
			printf("} %" PRIu64 "\n", v);
		}
	}
	meta("brokerd_client_total_seconds", "summary", "Task total latency per client (queue wait + run).");
	for (uint32_t j = 0; j < s->ncl; j++) {
		const struct bk_wire_client_stats *c = &s->cl[j];
		const struct bk_wire_lat *l = &c->lat[BK_LAT_TOTAL];
		const uint64_t q[2] = {l->p50_ns, l->p99_ns};
		const char *qn[2] = {"0.5", "0.99"};
		for (int k = 0; k < 2; k++) {
			printf("brokerd_client_total_seconds");
			client_labels(c);
			printf(",quantile=\"%s\"} %.9f\n", qn[k], (double)q[k] / 1e9);
		}
		printf("brokerd_client_total_seconds_sum");
		client_labels(c);
		printf("} %.9f\nbrokerd_client_total_seconds_count", (double)l->sum_ns / 1e9);
		client_labels(c);
		printf("} %" PRIu64 "\n", l->count);
	}
}

static int run(struct ctx *x, int argc, char **argv)
{
	if (argc > 1) {
		fprintf(stderr, "brokerctl metrics: unexpected argument '%s'\n%s", argv[1], usage);
		return 2;
	}
	int r = ctl_connect(x);
	if (r < 0)
		return r;
	struct snapshot s;
	r = snapshot_take(x, &s);
	if (r < 0)
		return r;
	process_metrics(&s);
	fn_counter(&s, "brokerd_function_calls_total", "Tasks completed per function.", 0);
	fn_counter(&s, "brokerd_function_errors_total", "Tasks completed with an error per function.", 1);
	for (unsigned k = 0; k < BK_LAT_KINDS; k++)
		fn_histogram(&s, k);
	client_metrics(&s);
	snapshot_free(&s);
	return 0;
}

const struct ctl_cmd ctl_cmd_metrics = {
	.name = "metrics",
	.usage = usage,
	.summary = "counters and latency histograms in the Prometheus text format",
	.run = run,
};
