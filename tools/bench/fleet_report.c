// SPDX-License-Identifier: MIT
/*
 * fleet_report.c - print the fleet figures (fleet.h) as a table, private
 * and shared and their ratio per fleet size and phase, or as JSON.
 */
#include <stdio.h>

#include "fleet.h"
#include "fleet_app.h"

enum { M_THREADS, M_PSS, M_CPU, M_CTX, M_P50, M_P99, M_P999, M_MAX, M_LATE, NMETRICS };
static const char *const keys[NMETRICS] = { "threads", "pss_mib", "cpu_s",   "ctx",       "p50_ms",
					    "p99_ms",  "p999_ms", "max_ms", "late_ticks" };

/* A kind's figure (latencies in ms); 0 when it was not measured. */
static int metric(const struct bk_fleet_kind *k, int m, double *v)
{
	if (!k->runs || (m >= M_P50 && m <= M_MAX && !k->p.valid))
		return 0;
	switch (m) {
	case M_THREADS: *v = k->threads; break;
	case M_PSS: *v = k->pss_mib; break;
	case M_CPU: *v = k->cpu_s; break;
	case M_CTX: *v = k->ctx; break;
	case M_P50: *v = k->p.p50 / 1e6; break;
	case M_P99: *v = k->p.p99 / 1e6; break;
	case M_P999: *v = k->p.p999 / 1e6; break;
	case M_MAX: *v = k->p.max / 1e6; break;
	default: *v = k->late; break;
	}
	return 1;
}

/* shared / private; 0 when either is missing or private is 0 (e.g. no late ticks). */
static int ratio(const struct bk_fleet_row *row, int m, double *v)
{
	double a, b;
	if (!metric(&row->k[BK_FLEET_PRIVATE], m, &a) || !metric(&row->k[BK_FLEET_SHARED], m, &b) || a <= 0)
		return 0;
	*v = b / a;
	return 1;
}

/* ---------------- table ---------------- */

static void cell(FILE *f, int width, int ok, double v, int m)
{
	if (!ok)
		fprintf(f, "%*s", width, "-");
	else if (m == M_THREADS || m == M_CTX || m == M_LATE)
		fprintf(f, "%*.0f", width, v);
	else
		fprintf(f, "%*.2f", width, v);
}

static const int widths[NMETRICS] = { 9, 9, 8, 10, 8, 8, 9, 8, 7 };

static void row_line(FILE *f, const struct bk_fleet_row *row, int kind)
{
	const struct bk_fleet_kind *k = kind < BK_FLEET_KINDS ? &row->k[kind] : NULL;
	if (kind == 0)
		fprintf(f, "%5u %-8s %-8s", row->n, bk_fleet_phase_names[row->phase], bk_fleet_kind_names[kind]);
	else
		fprintf(f, "%5s %-8s %-8s", "", "", k ? bk_fleet_kind_names[kind] : "ratio");
	for (int m = 0; m < NMETRICS; m++) {
		double v = 0;
		int ok = k ? metric(k, m, &v) : ratio(row, m, &v);
		if (!k)
			cell(f, widths[m], ok, v, M_CPU); /* ratios always with decimals */
		else
			cell(f, widths[m], ok, v, m);
	}
	if (k && k->runs)
		fprintf(f, "%9.2f%9.2f", k->other_cpu_s, k->steal_s);
	fputc('\n', f);
}

void bk_fleet_print_table(FILE *f, const struct bk_fleet_results *r)
{
	fprintf(f, "broker-bench --fleet: %s\n", r->broker_desc);
	fprintf(f, "%d CPUs online, load average %.2f at start%s; every app ticks every %lld ms and runs %d tasks\n",
		r->cpus, r->loadavg, r->quick ? ", QUICK mode (figures are rough)" : "", BK_FLEET_PERIOD_NS / 1000000,
		BK_FLEET_TASKS);
	fprintf(f, "(%d x %d ms sleep, %d x SHA-256 of %d B, %d x %d B file read); %.1f s per run, %u round%s of private "
		   "then shared\n\n",
		BK_FLEET_SLEEPS, BK_FLEET_SLEEP_MS, BK_FLEET_HASHES, BK_FLEET_BLOCK, BK_FLEET_READS, BK_FLEET_BLOCK,
		r->seconds, r->rounds, r->rounds == 1 ? "" : "s");
	fprintf(f, "%5s %-8s %-8s%9s%9s%8s%10s%8s%8s%9s%8s%7s%9s%9s\n", "N", "phase", "kind", "threads", "PSS MiB",
		"CPU s", "ctx", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "late", "others s", "stolen s");
	for (unsigned i = 0; i < r->nrows; i++) {
		for (int kind = 0; kind <= BK_FLEET_KINDS; kind++)
			row_line(f, &r->rows[i], kind);
	}
	fprintf(f, "\nthreads, PSS: apps (+ brokerd for shared), read after the ticks; CPU (utime+stime), ctx (context\n"
		   "switches of every thread), late (ticks starting > 1 period late), others (CPU time the rest of the\n"
		   "machine used meanwhile) and stolen (CPU time the hypervisor took from the machine's CPUs): over the\n"
		   "ticking window, mean per run; tick latency = scheduled start -> all tasks done, percentiles over\n"
		   "every tick of every round; ratio = shared / private.\n");
	for (unsigned i = 0; i < r->nrows; i++)
		for (int kind = 0; kind < BK_FLEET_KINDS; kind++) {
			const struct bk_fleet_kind *k = &r->rows[i].k[kind];
			if (k->repeats || k->not_quiet || k->runs < r->rounds)
				fprintf(f, "note: N=%u %s %s: %u of %u runs measured, %u repeated for other load or steal, "
					   "%u started on a busy machine\n",
					r->rows[i].n, bk_fleet_phase_names[r->rows[i].phase], bk_fleet_kind_names[kind], k->runs,
					r->rounds, k->repeats, k->not_quiet);
		}
	if (r->errors)
		fprintf(f, "%d run%s failed (see stderr)\n", r->errors, r->errors == 1 ? "" : "s");
}

/* ---------------- JSON ---------------- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void json_num(FILE *f, int ok, double v)
{
	if (ok)
		fprintf(f, "%.6g", v);
	else
		fputs("null", f);
}

static void json_kind(FILE *f, const struct bk_fleet_kind *k, unsigned rounds)
{
	fputc('{', f);
	for (int m = 0; m < NMETRICS; m++) {
		double v = 0;
		int ok = metric(k, m, &v);
		fprintf(f, "\"%s\": ", keys[m]);
		json_num(f, ok, v);
		fputs(", ", f);
	}
	fprintf(f, "\"ticks\": ");
	json_num(f, k->runs > 0, k->ticks);
	fprintf(f, ", \"window_s\": ");
	json_num(f, k->runs > 0, k->window_s);
	fprintf(f, ", \"other_cpu_s\": ");
	json_num(f, k->runs > 0, k->other_cpu_s);
	fprintf(f, ", \"steal_s\": ");
	json_num(f, k->runs > 0, k->steal_s);
	fprintf(f, ", \"runs\": %u, \"rounds\": %u, \"repeats\": %u, \"not_quiet\": %u, \"cpu_s_runs\": [", k->runs,
		rounds, k->repeats, k->not_quiet);
	for (unsigned i = 0; i < k->runs && i < BK_FLEET_MAX_ROUNDS; i++)
		fprintf(f, "%s%.6g", i ? ", " : "", k->cpu_runs[i]);
	fputs("]}", f);
}

void bk_fleet_print_json(FILE *f, const struct bk_fleet_results *r)
{
	fprintf(f, "{\n  \"fleet_config\": {\"cpus\": %d, \"loadavg_start\": %.2f, \"seconds\": %.6g, \"rounds\": %u, "
		   "\"period_ms\": %lld, \"tasks_per_tick\": %d, \"quick\": %s, \"broker\": ",
		r->cpus, r->loadavg, r->seconds, r->rounds, BK_FLEET_PERIOD_NS / 1000000, BK_FLEET_TASKS,
		r->quick ? "true" : "false");
	json_str(f, r->broker_desc);
	fputs("},\n  \"fleet\": [", f);
	for (unsigned i = 0; i < r->nrows; i++) {
		const struct bk_fleet_row *row = &r->rows[i];
		fprintf(f, "%s\n    {\"n\": %u, \"phase\": \"%s\",\n", i ? "," : "", row->n,
			bk_fleet_phase_names[row->phase]);
		for (int kind = 0; kind < BK_FLEET_KINDS; kind++) {
			fprintf(f, "     \"%s\": ", bk_fleet_kind_names[kind]);
			json_kind(f, &row->k[kind], r->rounds);
			fputs(",\n", f);
		}
		fputs("     \"ratio\": {", f);
		for (int m = 0; m < NMETRICS; m++) {
			double v = 0;
			int ok = ratio(row, m, &v);
			fprintf(f, "%s\"%s\": ", m ? ", " : "", keys[m]);
			json_num(f, ok, v);
		}
		fputs("}}", f);
	}
	fprintf(f, "\n  ],\n  \"errors\": %d\n}\n", r->errors);
}
