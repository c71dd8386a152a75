// SPDX-License-Identifier: MIT
/*
 * trace_print.c - print what brokerctl trace measured: per function a log2
 * histogram in the layout bcc's tools made familiar, then the slowest tasks.
 */
#include "trace_print.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void stars(uint64_t v, uint64_t max, int width)
{
	int n = max ? (int)((v * (uint64_t)width + max - 1) / max) : 0;
	if (n > width)
		n = width;
	putchar('|');
	for (int i = 0; i < width; i++)
		putchar(i < n ? '*' : ' ');
	putchar('|');
}

static void name_of(const struct snapshot *s, uint32_t fn, const char *fn_name, uint32_t traced, char *buf,
		    size_t n)
{
	const struct bk_wire_fn_stats *f = snapshot_fn(s, fn);
	if (fn_name && fn == traced)
		snprintf(buf, n, "%s", fn_name);
	else if (f)
		snprintf(buf, n, "%s", f->name);
	else
		snprintf(buf, n, "fn %u", fn);
}

static void one_hist(const uint64_t *h, const char *name, uint32_t fn)
{
	uint64_t total = 0, max = 0;
	int lo = -1, hi = -1;
	for (int b = 0; b < BKT_TRACE_SLOTS; b++) {
		total += h[b];
		if (h[b] > max)
			max = h[b];
		if (h[b] && lo < 0)
			lo = b;
		if (h[b])
			hi = b;
	}
	printf("\nfunction = %s (id %u): %" PRIu64 " tasks\n", name, fn, total);
	printf("%24s : %-9s %s\n", "nsecs", "count", "distribution");
	for (int b = lo; b >= 0 && b <= hi; b++) {
		unsigned long long from = b ? 1ull << b : 0, to = (1ull << (b + 1)) - 1;
		char range[48];
		if (b == BKT_TRACE_SLOTS - 1)
			snprintf(range, sizeof(range), "%llu -> ...", from);
		else
			snprintf(range, sizeof(range), "%llu -> %llu", from, to);
		printf("%24s : %-9" PRIu64 " ", range, h[b]);
		stars(h[b], max, 40);
		putchar('\n');
	}
}

void trace_print(const struct trace_result *r, const struct snapshot *s, const char *fn_name, uint32_t fn)
{
	printf("brokerd pid %u: task run time (handler start -> completion%s) over %.1f s\n", r->pid,
	       r->kernel_clock ? ", from probe to probe" : "", r->seconds);
	int any = 0;
	for (uint32_t f = 0; f < BKT_TRACE_MAX_FNS; f++) {
		const uint64_t *h = &r->hist[(size_t)f * BKT_TRACE_SLOTS];
		int used = 0;
		for (int b = 0; b < BKT_TRACE_SLOTS && !used; b++)
			used = h[b] != 0;
		if (!used)
			continue;
		char name[160];
		name_of(s, f, fn_name, fn, name, sizeof(name));
		one_hist(h, name, f);
		any = 1;
	}
	if (!any)
		printf("\nno task %s%scompleted while tracing\n", fn_name ? "of " : "", fn_name ? fn_name : "");
	if (r->missed_starts)
		printf("\n%" PRIu64 " completion(s) of tasks started before the trace were left out\n", r->missed_starts);
	if (r->lost_events)
		printf("%" PRIu64 " slow-task record(s) lost (ring buffer full)\n", r->lost_events);
	if (r->nslow == 0)
		return;
	printf("\nslowest tasks:\n%10s  %-24s %6s %8s %6s %8s\n", "RUN", "FUNCTION", "CONN", "PID", "SLOT", "STATUS");
	for (int i = 0; i < r->nslow; i++) {
		const struct bkt_trace_event *e = &r->slow[i];
		char lat[16], name[160], cpid[16] = "-";
		fmt_ns(lat, sizeof(lat), e->lat_ns, 1);
		name_of(s, e->fn, fn_name, fn, name, sizeof(name));
		const struct bk_wire_client_stats *c = snapshot_client(s, e->conn);
		if (c)
			snprintf(cpid, sizeof(cpid), "%u", c->c.pid);
		printf("%10s  %-24.24s %6u %8s %6u %8d\n", lat, name, e->conn, cpid, e->slot, e->status);
	}
}
