// SPDX-License-Identifier: MIT
/*
 * report.c - print one run's figures as an aligned table (with each
 * figure's ratio to the baseline it is judged against, and the goals) or as
 * JSON (the keys tests/tools/tool_check.c requires, plus extra ones).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "results.h"

const char *const bk_mode_names[BK_NMODES] = { "spin", "sleep", "adaptive" };
const char *const bk_base_keys[BK_NBASES] = { "shm_spin_rtt_ns", "futex_rtt_ns", "uds_rtt_ns", "pipe_rtt_ns",
					      "zmq_rtt_ns", "uring_futex_rtt_ns" };
const char *const bk_base_labels[BK_NBASES] = { "shm ping-pong (spin)", "futex ping-pong (sleep)",
						"unix seqpacket", "pipe pair", "zeromq req/rep ipc",
						"io_uring futex ping-pong" };
const unsigned bk_windows[BK_NWINDOWS] = { 1, 16, 256 };

/* The baseline each broker mode's latency is compared with in the table. */
static const int mode_base[BK_NMODES] = { BK_BASE_SHM, BK_BASE_FUTEX, BK_BASE_UDS };

#define IDLE_GOAL_PCT 0.5 /* "~0 %": below half a percent of one CPU */

static void goal(struct bk_goal *g, const char *key, const char *text, int ok, double value, double limit, int below,
		 const char *fmt)
{
	g->key = key;
	g->text = text;
	if (!ok) {
		g->met = -1;
		snprintf(g->detail, sizeof(g->detail), "not measured");
		return;
	}
	g->met = below ? value <= limit : value >= limit;
	snprintf(g->detail, sizeof(g->detail), fmt, value);
}

void bk_eval_goals(const struct bk_results *r, struct bk_goal g[BK_NGOALS])
{
	const struct bk_pcts *sp = &r->rtt_p[BK_MODE_SPIN], *sl = &r->rtt_p[BK_MODE_SLEEP];
	const struct bk_pcts *shm = &r->base_p[BK_BASE_SHM], *fx = &r->base_p[BK_BASE_FUTEX],
			     *uds = &r->base_p[BK_BASE_UDS];
	goal(&g[0], "spin_rtt_p50_le_1.5x_shm", "spinning RTT p50 <= 1.5x shm ping-pong", sp->valid && shm->valid,
	     sp->valid && shm->valid ? sp->p50 / shm->p50 : 0, 1.5, 1, "%.2fx");
	goal(&g[1], "sleep_rtt_p50_le_1.2x_futex", "sleeping RTT p50 <= 1.2x futex ping-pong", sl->valid && fx->valid,
	     sl->valid && fx->valid ? sl->p50 / fx->p50 : 0, 1.2, 1, "%.2fx");
	goal(&g[2], "sleep_rtt_p50_below_uds", "sleeping RTT p50 below unix socket", sl->valid && uds->valid,
	     sl->valid && uds->valid ? sl->p50 / uds->p50 : 0, 0.999999, 1, "%.2fx");
	goal(&g[3], "w256_ge_20M", "window 256, 1 client >= 20 M tasks/s", r->tps[BK_W256].ok, r->tps[BK_W256].v / 1e6,
	     20.0, 0, "%.2f M/s");
	int both = r->tps[BK_W256].ok && r->uds_tps_w256.ok && r->uds_tps_w256.v > 0;
	goal(&g[4], "w256_ge_20x_uds", "window 256, 1 client >= 20x unix socket", both,
	     both ? r->tps[BK_W256].v / r->uds_tps_w256.v : 0, 20.0, 0, "%.1fx");
	goal(&g[5], "syscalls_per_task_le_0.01", "syscalls per task at window 256 <= 0.01", r->syscalls_per_task.ok,
	     r->syscalls_per_task.v, 0.01, 1, "%.4f");
	goal(&g[6], "broker_idle_cpu_near_0", "brokerd idle CPU ~0 % (< 0.5 %)", r->idle_cpu_pct.ok, r->idle_cpu_pct.v,
	     IDLE_GOAL_PCT, 1, "%.2f %%");
	/* More spinners than cores must not turn into a convoy: 4 client processes together do at least what one does. */
	static const char *const c4_key[BK_NWINDOWS] = { "c4_ge_c1_w1", "c4_ge_c1_w16", "c4_ge_c1_w256" };
	static const char *const c4_text[BK_NWINDOWS] = { "window 1: 4 clients >= 1 client", "window 16: 4 clients >= 1 client",
							  "window 256: 4 clients >= 1 client" };
	for (int w = 0; w < BK_NWINDOWS; w++) {
		int ok = r->tps[w].ok && r->tps_c4[w].ok && r->tps[w].v > 0;
		goal(&g[7 + w], c4_key[w], c4_text[w], ok, ok ? r->tps_c4[w].v / r->tps[w].v : 0, 1.0, 0, "%.2fx");
		/* What bounds it with more processes than CPUs: the switches each task costs (switching_share). */
		if (ok && r->ctxsw_c4[w].ok) {
			size_t len = strlen(g[7 + w].detail);
			snprintf(g[7 + w].detail + len, sizeof(g[7 + w].detail) - len, " (%.2f switches per task)",
				 r->ctxsw_c4[w].v);
		}
	}
}

/*
 * The share of the machine the 4 clients' run spent switching: tasks/s x
 * switches per task x the price of one switch, over the CPUs.  An estimate
 * (a switch under load is not the baseline's), but where it is large no
 * protocol change can make 4 clients match 1, which needs no switch at all.
 */
static int switching_share(const struct bk_results *r, int w, double *share)
{
	if (!r->tps_c4[w].ok || !r->ctxsw_c4[w].ok || !r->switch_ns.ok || r->cpus <= 0)
		return 0;
	*share = r->tps_c4[w].v * r->ctxsw_c4[w].v * r->switch_ns.v * 1e-9 / r->cpus;
	return 1;
}

/* ---------------- table ---------------- */

/* A labelled line of one cell per window. */
static void window_cells(FILE *f, const char *label, char v[BK_NWINDOWS][32])
{
	fprintf(f, "  %-40s", label);
	for (int w = 0; w < BK_NWINDOWS; w++)
		fprintf(f, w + 1 < BK_NWINDOWS ? "  w%-3u %-7s" : "  w%u %s", bk_windows[w], v[w]);
	fputc('\n', f);
}

static void num(FILE *f, int width, int ok, double v)
{
	if (!ok)
		fprintf(f, "%*s", width, "-");
	else if (v >= 100)
		fprintf(f, "%*.0f", width, v);
	else
		fprintf(f, "%*.1f", width, v);
}

static void si(char *buf, size_t len, double v)
{
	if (v >= 1e6)
		snprintf(buf, len, "%.2f M", v / 1e6);
	else if (v >= 1e3)
		snprintf(buf, len, "%.1f k", v / 1e3);
	else
		snprintf(buf, len, "%.0f", v);
}

static void pct_row(FILE *f, const char *label, const struct bk_pcts *p, const struct bk_pcts *base,
		    const char *base_label)
{
	fprintf(f, "  %-36s", label);
	num(f, 9, p->valid, p->p50);
	num(f, 9, p->valid, p->p90);
	num(f, 9, p->valid, p->p99);
	num(f, 10, p->valid, p->p999);
	num(f, 11, p->valid, p->max);
	fprintf(f, "%10llu", (unsigned long long)p->samples);
	if (base && p->valid && base->valid && base->p50 > 0)
		fprintf(f, "   %6.3gx %s", p->p50 / base->p50, base_label); /* 3 digits: 0.005x must not print as 0.00x */
	fputc('\n', f);
}

/* The ratios again, taken round by round of the interleaving: each compares one moment of the machine. */
static void round_ratio_lines(FILE *f, const struct bk_results *r)
{
	for (int m = 0; m < BK_NMODES; m++) {
		int any = 0;
		for (int b = 0; b < BK_NBASES; b++) {
			if (!r->rtt_round_ratio[m][b].ok)
				continue;
			if (!any++)
				fprintf(f, "  %s, p50 ratio round by round (median of %u rounds):", bk_mode_names[m],
					r->interleave_rounds);
			fprintf(f, "%s %.3gx %s", any > 1 ? "," : "", r->rtt_round_ratio[m][b].v, bk_base_labels[b]);
		}
		if (any)
			fputc('\n', f);
	}
}

void bk_print_table(FILE *f, const struct bk_results *r)
{
	fprintf(f, "broker-bench: %s\n", r->broker_desc);
	fprintf(f, "%d CPUs online, load average %.2f at start%s; %llu samples per latency figure, %.1f s per throughput figure\n",
		r->cpus, r->loadavg, r->quick ? ", QUICK mode (figures are rough)" : "", r->samples, r->tps_seconds);
	if (r->steal_s >= 0 && r->wall_s > 0)
		fprintf(f, "the hypervisor stole %.2f s of CPU over the %.1f s of the run (%.2f %% of the machine)\n",
			r->steal_s, r->wall_s, 100 * r->steal_s / (r->wall_s * (r->cpus > 0 ? r->cpus : 1)));
	fputc('\n', f);

	fprintf(f, "Round-trip latency, one future in flight (ns)\n");
	fprintf(f, "  %-36s%9s%9s%9s%10s%11s%10s   %s\n", "", "p50", "p90", "p99", "p99.9", "max", "samples",
		"p50 ratio to baseline");
	static const char *const mode_labels[BK_NMODES] = { "broker spin", "broker sleep", "broker adaptive" };
	for (int m = 0; m < BK_NMODES; m++)
		pct_row(f, mode_labels[m], &r->rtt_p[m], &r->base_p[mode_base[m]], bk_base_labels[mode_base[m]]);
	/* The sleeping round trip against its other yardsticks: the worker's own mechanism (its floor), a socket. */
	static const int sleep_also[] = { BK_BASE_URING, BK_BASE_UDS };
	for (size_t i = 0; i < sizeof(sleep_also) / sizeof(sleep_also[0]); i++)
		if (r->rtt_p[BK_MODE_SLEEP].valid && r->base_p[sleep_also[i]].valid)
			fprintf(f, "  %-36s%61s%6.3gx %s\n", "broker sleep", "",
				r->rtt_p[BK_MODE_SLEEP].p50 / r->base_p[sleep_also[i]].p50, bk_base_labels[sleep_also[i]]);
	for (int b = 0; b < BK_NBASES; b++) {
		char label[64];
		snprintf(label, sizeof(label), "baseline: %s", bk_base_labels[b]);
		pct_row(f, label, &r->base_p[b], NULL, NULL);
	}
	round_ratio_lines(f, r);

	fprintf(f, "\nPipelined throughput of echo.noop (tasks/s)\n");
	fprintf(f, "  %-28s%14s%14s   %s\n", "", "1 client", "4 clients", "1 client ratio to unix seqpacket w256");
	for (int w = 0; w < BK_NWINDOWS; w++) {
		char label[32], a[32] = "-", b[32] = "-";
		snprintf(label, sizeof(label), "window %u", bk_windows[w]);
		if (r->tps[w].ok)
			si(a, sizeof(a), r->tps[w].v);
		if (r->tps_c4[w].ok)
			si(b, sizeof(b), r->tps_c4[w].v);
		fprintf(f, "  %-28s%14s%14s", label, a, b);
		if (r->tps[w].ok && r->uds_tps_w256.ok && r->uds_tps_w256.v > 0)
			fprintf(f, "   %6.1fx", r->tps[w].v / r->uds_tps_w256.v);
		fputc('\n', f);
	}
	{
		char a[32] = "-";
		if (r->uds_tps_w256.ok)
			si(a, sizeof(a), r->uds_tps_w256.v);
		fprintf(f, "  %-28s%14s\n", "baseline: unix seqpacket w256", a);
	}
	char sw[BK_NWINDOWS][32], share[BK_NWINDOWS][32];
	for (int w = 0; w < BK_NWINDOWS; w++) {
		double s;
		strcpy(sw[w], "-");
		strcpy(share[w], "-");
		if (r->ctxsw_c4[w].ok)
			snprintf(sw[w], sizeof(sw[w]), "%.3f", r->ctxsw_c4[w].v);
		if (switching_share(r, w, &s))
			snprintf(share[w], sizeof(share[w]), "%.0f %%", 100 * s);
	}
	window_cells(f, "4 clients: context switches per task", sw);
	window_cells(f, "4 clients: the machine's time switching", share);
	fprintf(f, "  %-40s", "baseline: a context switch (one CPU)");
	if (r->switch_ns.ok)
		fprintf(f, "%8.0f ns   (2 processes yielding to each other)\n", r->switch_ns.v);
	else
		fprintf(f, "%10s\n", "-");

	fprintf(f, "\nCosts (window 256, 1 client)\n");
	fprintf(f, "  %-40s", "syscalls per task (client + brokerd)");
	if (r->syscalls_per_task.ok)
		fprintf(f, "%10.4f   (client %.4f, brokerd %.4f)\n", r->syscalls_per_task.v, r->syscalls_client.v,
			r->syscalls_broker.v);
	else
		fprintf(f, "%10s   (%s)\n", "null", r->syscalls_note);
	fprintf(f, "  %-40s", "context switches per task");
	if (r->ctxsw_per_task.ok)
		fprintf(f, "%10.4f   (client %.4f, brokerd %.4f)\n", r->ctxsw_per_task.v, r->ctxsw_client.v,
			r->ctxsw_broker.v);
	else
		fprintf(f, "%10s\n", "-");
	char idle_label[64];
	snprintf(idle_label, sizeof(idle_label), "brokerd CPU while idle over %.1f s", r->idle_seconds);
	fprintf(f, "  %-40s", idle_label);
	if (r->idle_cpu_pct.ok)
		fprintf(f, "%9.2f %%\n", r->idle_cpu_pct.v);
	else
		fprintf(f, "%10s\n", "-");

	struct bk_goal g[BK_NGOALS];
	bk_eval_goals(r, g);
	fprintf(f, "\nGoals\n");
	int met = 0;
	for (int i = 0; i < BK_NGOALS; i++) {
		const char *s = g[i].met == 1 ? "met" : g[i].met == 0 ? "MISSED" : "unknown";
		met += g[i].met == 1;
		fprintf(f, "  %-8s %-46s %s\n", s, g[i].text, g[i].detail);
	}
	fprintf(f, "  %d of %d goals met%s\n", met, BK_NGOALS, r->quick ? " (quick mode: not meaningful)" : "");
	if (r->errors)
		fprintf(f, "\n%d phase(s) failed: see the messages above\n", r->errors);
}

/* ---------------- JSON ---------------- */

static void jnum(FILE *f, int ok, double v)
{
	if (!ok || !isfinite(v))
		fputs("null", f);
	else if (v == floor(v) && fabs(v) < 1e15)
		fprintf(f, "%.0f", v);
	else
		fprintf(f, "%.6g", v);
}

static void jpcts(FILE *f, const struct bk_pcts *p)
{
	if (!p->valid) {
		fputs("{\"p50\": null, \"p90\": null, \"p99\": null, \"p999\": null, \"max\": null, \"samples\": 0}", f);
		return;
	}
	fputs("{\"p50\": ", f);
	jnum(f, 1, p->p50);
	fputs(", \"p90\": ", f);
	jnum(f, 1, p->p90);
	fputs(", \"p99\": ", f);
	jnum(f, 1, p->p99);
	fputs(", \"p999\": ", f);
	jnum(f, 1, p->p999);
	fputs(", \"max\": ", f);
	jnum(f, 1, p->max);
	fputs(", \"min\": ", f);
	jnum(f, 1, p->min);
	fputs(", \"mean\": ", f);
	jnum(f, 1, p->mean);
	fprintf(f, ", \"samples\": %llu}", (unsigned long long)p->samples);
}

/* JSON string body: the few characters that need escaping. */
static void jstr(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

void bk_print_json(FILE *f, const struct bk_results *r)
{
	fputs("{\"rtt_ns\": {", f);
	for (int m = 0; m < BK_NMODES; m++) {
		fprintf(f, "%s\"%s\": ", m ? ", " : "", bk_mode_names[m]);
		jpcts(f, &r->rtt_p[m]);
	}
	fputs("},\n \"rtt_p50_ratio_rounds\": {", f);
	for (int m = 0; m < BK_NMODES; m++) {
		fprintf(f, "%s\"%s\": {", m ? ", " : "", bk_mode_names[m]);
		int any = 0;
		for (int b = 0; b < BK_NBASES; b++) {
			if (!r->rtt_round_ratio[m][b].ok)
				continue;
			fprintf(f, "%s\"%s\": ", any++ ? ", " : "", bk_base_keys[b]);
			jnum(f, 1, r->rtt_round_ratio[m][b].v);
		}
		fputc('}', f);
	}
	fprintf(f, ", \"rounds\": %u", r->interleave_rounds);
	fputs("},\n \"throughput_tps\": {", f);
	for (int w = 0; w < BK_NWINDOWS; w++) {
		fprintf(f, "\"w%u\": ", bk_windows[w]);
		jnum(f, r->tps[w].ok, r->tps[w].v);
		fputs(", ", f);
	}
	for (int w = 0; w < BK_NWINDOWS; w++) {
		fprintf(f, "\"w%u_c4\": ", bk_windows[w]);
		jnum(f, r->tps_c4[w].ok, r->tps_c4[w].v);
		fputs(", ", f);
	}
	for (int w = 0; w < BK_NWINDOWS; w++) {
		fprintf(f, "\"w%u_c4_ctxsw_per_task\": ", bk_windows[w]);
		jnum(f, r->ctxsw_c4[w].ok, r->ctxsw_c4[w].v);
		fputs(w + 1 < BK_NWINDOWS ? ", " : "", f);
	}
	fputs("},\n \"baselines\": {", f);
	for (int b = 0; b < BK_NBASES; b++) {
		fprintf(f, "\"%s\": ", bk_base_keys[b]);
		if ((b == BK_BASE_ZMQ || b == BK_BASE_URING) && !r->base_p[b].valid) /* not built / not on this kernel */
			fputs("null", f);
		else
			jpcts(f, &r->base_p[b]);
		fputs(",\n               ", f);
	}
	fputs("\"uds_tps_w256\": ", f);
	jnum(f, r->uds_tps_w256.ok, r->uds_tps_w256.v);
	fputs(", \"context_switch_ns\": ", f);
	jnum(f, r->switch_ns.ok, r->switch_ns.v);
	fputs("},\n \"syscalls_per_task\": ", f);
	jnum(f, r->syscalls_per_task.ok, r->syscalls_per_task.v);
	fputs(", \"syscalls_per_task_client\": ", f);
	jnum(f, r->syscalls_client.ok, r->syscalls_client.v);
	fputs(", \"syscalls_per_task_broker\": ", f);
	jnum(f, r->syscalls_broker.ok, r->syscalls_broker.v);
	fputs(", \"syscalls_note\": ", f);
	jstr(f, r->syscalls_per_task.ok ? "counted with BPF (raw_tp/sys_enter)" : r->syscalls_note);
	fputs(",\n \"ctxsw_per_task\": ", f);
	jnum(f, r->ctxsw_per_task.ok, r->ctxsw_per_task.v);
	fputs(", \"ctxsw_per_task_client\": ", f);
	jnum(f, r->ctxsw_client.ok, r->ctxsw_client.v);
	fputs(", \"ctxsw_per_task_broker\": ", f);
	jnum(f, r->ctxsw_broker.ok, r->ctxsw_broker.v);
	fputs(", \"broker_idle_cpu_pct\": ", f);
	jnum(f, r->idle_cpu_pct.ok, r->idle_cpu_pct.v);
	fputs(",\n \"goals\": {", f);
	struct bk_goal g[BK_NGOALS];
	bk_eval_goals(r, g);
	for (int i = 0; i < BK_NGOALS; i++)
		fprintf(f, "%s\"%s\": %s", i ? ", " : "", g[i].key,
			g[i].met == 1 ? "true" : g[i].met == 0 ? "false" : "null");
	fprintf(f, "},\n \"run\": {\"quick\": %s, \"own_broker\": %s, \"samples\": %llu, \"tps_seconds\": ",
		r->quick ? "true" : "false", r->own_broker ? "true" : "false", r->samples);
	jnum(f, 1, r->tps_seconds);
	fprintf(f, ", \"idle_seconds\": ");
	jnum(f, 1, r->idle_seconds);
	fprintf(f, ", \"cpus\": %d, \"loadavg\": %.2f, \"wall_s\": ", r->cpus, r->loadavg);
	jnum(f, 1, r->wall_s);
	fprintf(f, ", \"steal_s\": ");
	jnum(f, r->steal_s >= 0, r->steal_s);
	fprintf(f, ", \"errors\": %d, \"broker\": ", r->errors);
	jstr(f, r->broker_desc);
	fputs("}}\n", f);
}
