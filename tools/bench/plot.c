// SPDX-License-Identifier: MIT
/*
 * plot.c - draw the latency CDFs of the broker modes and the baselines into
 * a PNG with gnuplot (pngcairo, else the libgd png terminal).  The data go
 * through files in a temporary folder; gnuplot runs as a child, bounded.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "results.h"
#include "util.h"

int bk_find_in_path(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		const char *end = strchr(path, ':');
		size_t n = end ? (size_t)(end - path) : strlen(path);
		snprintf(out, len, "%.*s/%s", (int)n, path, name);
		if (n && access(out, X_OK) == 0)
			return 0;
		path += n + (end ? 1 : 0);
	}
	return -ENOENT;
}

static void put_point(double value, double frac, void *arg)
{
	fprintf(arg, "%.0f %.6f\n", value, frac);
}

int bk_run_gnuplot(const char *bin, const char *script)
{
	pid_t pid = bk_fork_child();
	if (pid < 0)
		return pid;
	if (pid == 0) {
		execl(bin, bin, script, (char *)NULL);
		_exit(127);
	}
	int st = bk_reap(pid, 60000);
	if (st < 0)
		return st;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

static int write_script(const char *path, const char *dir, const char *terminal, const char *png,
			const char *const *files, const char *const *titles, int n)
{
	FILE *s = fopen(path, "we");
	if (!s)
		return -errno;
	fprintf(s, "set terminal %s size 1200,700\n", terminal);
	fprintf(s, "set output '%s'\n", png);
	fprintf(s, "set title 'broker-bench: round-trip latency CDF (one request in flight)'\n");
	fprintf(s, "set logscale x\nset xlabel 'round-trip time (ns, log scale)'\n");
	fprintf(s, "set ylabel 'fraction of round trips <= x'\nset yrange [0:1.02]\nset grid\n");
	fprintf(s, "set key right bottom\n");
	fprintf(s, "plot ");
	for (int i = 0; i < n; i++)
		fprintf(s, "%s'%s/%s' using 1:2 with steps lw 2 title '%s'", i ? ", \\\n     " : "", dir, files[i],
			titles[i]);
	fputc('\n', s);
	return fclose(s) == 0 ? 0 : -errno;
}

int bk_plot_begin(const char *png, char *bin, size_t binlen, char *dir, char *err, size_t errlen)
{
	if (bk_find_in_path("gnuplot", bin, binlen) != 0) {
		snprintf(err, errlen, "gnuplot is not installed (apt-get install gnuplot-nox): no plot drawn");
		return -ENOENT;
	}
	if (strchr(png, '\'')) {
		snprintf(err, errlen, "the plot file name may not contain a quote");
		return -EINVAL;
	}
	if (!mkdtemp(dir)) {
		int e = errno;
		snprintf(err, errlen, "mkdtemp: %s", strerror(e));
		return -e;
	}
	return 0;
}

int bk_plot(const struct bk_results *r, const char *png, char *err, size_t errlen)
{
	char bin[512];
	char dir[] = "/tmp/bk-bench-plot.XXXXXX";
	int e0 = bk_plot_begin(png, bin, sizeof(bin), dir, err, errlen);
	if (e0 < 0)
		return e0;
	static const char *const mode_titles[BK_NMODES] = { "broker spin", "broker sleep", "broker adaptive" };
	const char *files[BK_NMODES + BK_NBASES], *titles[BK_NMODES + BK_NBASES];
	char names[BK_NMODES + BK_NBASES][32];
	int n = 0, r2 = 0;
	for (int i = 0; i < BK_NMODES + BK_NBASES; i++) {
		const struct bk_hist *h = i < BK_NMODES ? r->rtt[i] : r->base[i - BK_NMODES];
		if (!h || !h->count)
			continue;
		snprintf(names[n], sizeof(names[n]), "s%d.dat", i);
		char p[128];
		snprintf(p, sizeof(p), "%s/%s", dir, names[n]);
		FILE *f = fopen(p, "we");
		if (!f) {
			r2 = -errno;
			break;
		}
		bk_hist_cdf(h, put_point, f);
		if (fclose(f) != 0) {
			r2 = -errno;
			break;
		}
		files[n] = names[n];
		titles[n] = i < BK_NMODES ? mode_titles[i] : bk_base_labels[i - BK_NMODES];
		n++;
	}
	char script[128];
	snprintf(script, sizeof(script), "%s/plot.gp", dir);
	if (r2 == 0 && n == 0) {
		r2 = -ENODATA;
		snprintf(err, errlen, "no latency figure was measured: nothing to plot");
	} else if (r2 < 0) {
		snprintf(err, errlen, "writing plot data: %s", strerror(-r2));
	} else {
		/* pngcairo draws better; Debian's gnuplot-nox has it, some builds only have png. */
		r2 = write_script(script, dir, "pngcairo", png, files, titles, n);
		if (r2 == 0 && bk_run_gnuplot(bin, script) != 0) {
			r2 = write_script(script, dir, "png", png, files, titles, n);
			if (r2 == 0)
				r2 = bk_run_gnuplot(bin, script);
		}
		if (r2 < 0)
			snprintf(err, errlen, "gnuplot failed to draw %s (%s)", png, strerror(-r2));
	}
	for (int i = 0; i < n; i++) {
		char p[128];
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		unlink(p);
	}
	unlink(script);
	rmdir(dir);
	return r2;
}
