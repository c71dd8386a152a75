// SPDX-License-Identifier: MIT
/*
 * fleet_plot.c - draw the fleet's CPU and tick p99 against N, private and
 * shared (per phase), side by side in one PNG with gnuplot (pngcairo, else
 * png), through data files in a temporary folder (plot.c runs gnuplot).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fleet.h"
#include "results.h"

static void put(FILE *f, const struct bk_fleet_kind *k, int p99)
{
	if (!k->runs || (p99 && !k->p.valid))
		fputs(" NaN", f); /* gnuplot leaves the point out */
	else
		fprintf(f, " %.6g", p99 ? k->p.p99 / 1e6 : k->cpu_s);
}

/* One file per phase: N, CPU private, CPU shared, p99 private, p99 shared. */
static int write_data(const struct bk_fleet_results *r, const char *dir, int phase, int *rows)
{
	char p[128];
	snprintf(p, sizeof(p), "%s/%s.dat", dir, bk_fleet_phase_names[phase]);
	FILE *f = fopen(p, "we");
	if (!f)
		return -errno;
	*rows = 0;
	for (unsigned i = 0; i < r->nrows; i++) {
		const struct bk_fleet_row *row = &r->rows[i];
		if (row->phase != phase)
			continue;
		fprintf(f, "%u", row->n);
		put(f, &row->k[BK_FLEET_PRIVATE], 0);
		put(f, &row->k[BK_FLEET_SHARED], 0);
		put(f, &row->k[BK_FLEET_PRIVATE], 1);
		put(f, &row->k[BK_FLEET_SHARED], 1);
		fputc('\n', f);
		(*rows)++;
	}
	return fclose(f) == 0 ? 0 : -errno;
}

static void panel(FILE *s, const char *dir, const int *have, int col, const char *ylabel)
{
	fprintf(s, "set ylabel '%s'\nplot ", ylabel);
	int first = 1;
	for (int ph = 0; ph < BK_FLEET_PHASES; ph++) {
		if (!have[ph])
			continue;
		for (int k = 0; k < BK_FLEET_KINDS; k++) {
			fprintf(s, "%s'%s/%s.dat' using 1:%d with linespoints lw 2 pt %d title '%s, %s'", first ? "" : ", \\\n     ",
				dir, bk_fleet_phase_names[ph], col + k, 7 + 2 * k, bk_fleet_kind_names[k],
				bk_fleet_phase_names[ph]);
			first = 0;
		}
	}
	fputc('\n', s);
}

static int write_script(const char *path, const char *dir, const char *terminal, const char *png, const int *have)
{
	FILE *s = fopen(path, "we");
	if (!s)
		return -errno;
	fprintf(s, "set terminal %s size 1400,600\nset output '%s'\n", terminal, png);
	fprintf(s, "set multiplot layout 1,2 title 'broker-bench --fleet: N apps ticking every 10 ms, "
		   "own runtime each (private) or one brokerd (shared)'\n");
	fprintf(s, "set logscale x\nset xlabel 'apps (N, log scale)'\nset grid\nset key left top\nset yrange [0:*]\n");
	panel(s, dir, have, 2, "CPU per run (s, utime+stime, apps + brokerd)");
	fprintf(s, "set logscale y\nset yrange [*:*]\n"); /* tails span from ~1 ms to seconds on a busy machine */
	panel(s, dir, have, 4, "tick latency p99 (ms, log scale)");
	fprintf(s, "unset multiplot\n");
	return fclose(s) == 0 ? 0 : -errno;
}

int bk_fleet_plot(const struct bk_fleet_results *r, const char *png, char *err, size_t errlen)
{
	char bin[512];
	char dir[] = "/tmp/bk-fleet-plot.XXXXXX";
	int e0 = bk_plot_begin(png, bin, sizeof(bin), dir, err, errlen);
	if (e0 < 0)
		return e0;
	int have[BK_FLEET_PHASES] = { 0 }, e = 0;
	for (int ph = 0; ph < BK_FLEET_PHASES && e == 0; ph++)
		e = write_data(r, dir, ph, &have[ph]);
	char script[128];
	snprintf(script, sizeof(script), "%s/plot.gp", dir);
	if (e < 0) {
		snprintf(err, errlen, "writing plot data: %s", strerror(-e));
	} else if (!have[0] && !have[1]) {
		e = -ENODATA;
		snprintf(err, errlen, "no fleet figure was measured: nothing to plot");
	} else {
		e = write_script(script, dir, "pngcairo", png, have);
		if (e == 0 && bk_run_gnuplot(bin, script) != 0) {
			e = write_script(script, dir, "png", png, have);
			if (e == 0)
				e = bk_run_gnuplot(bin, script);
		}
		if (e < 0)
			snprintf(err, errlen, "gnuplot failed to draw %s (%s)", png, strerror(-e));
	}
	for (int ph = 0; ph < BK_FLEET_PHASES; ph++) {
		char p[128];
		snprintf(p, sizeof(p), "%s/%s.dat", dir, bk_fleet_phase_names[ph]);
		unlink(p);
	}
	unlink(script);
	rmdir(dir);
	return e;
}
