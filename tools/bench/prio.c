// SPDX-License-Identifier: MIT
/*
 * prio.c - broker-bench --priority: what the lanes buy (docs/ARCHITECTURE.md,
 * "Priorities").  One brokerd with one worker, so the flood and the probe
 * share it; interactive echo.noop round trips are timed alone, then beside
 * a separate process that keeps a window of bulk calls in flight, first as
 * background (the lanes at work) and then as normal (what every call was
 * before lanes).  Reports p50/p99/p99.9 and the flood's rate in each phase.
 */
#include "prio.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "brokerd_proc.h"
#include "broker/client.h"
#include "broker/sys.h"
#include "hist.h"

#define WAIT_NS (10 * 1000000000LL)
#define FLOOD_WINDOW 256u
#define FLOOD_ARG 200u /* echo.upper over this many bytes: a little work per bulk call */

enum { PH_ALONE, PH_BACKGROUND, PH_NORMAL, PH_N };
static const char *const phase_name[PH_N] = {"alone", "beside-background-flood", "beside-normal-flood"};

struct phase {
	struct bk_hist h;
	double flood_tps;
};

static int connect_lookup(const char *socket, const char *name, bk_client **c, bk_fn *fn)
{
	bk_options o;
	bk_options_init(&o);
	o.max_inflight = FLOOD_WINDOW;
	int r = bk_connect(socket, &o, c);
	if (r < 0)
		return r;
	r = bk_lookup(*c, name, fn);
	if (r < 0)
		bk_disconnect(*c);
	return r;
}

/* The flood process: keep FLOOD_WINDOW calls in the lane until the parent closes stop_fd; write the count. */
static void flood_child(const char *socket, unsigned prio, int ready_fd, int stop_fd)
{
	bk_client *c;
	bk_fn fn;
	if (connect_lookup(socket, "echo.upper", &c, &fn) < 0)
		_exit(1);
	char arg[FLOOD_ARG];
	memset(arg, 'a', sizeof(arg));
	bk_call k[64];
	for (unsigned i = 0; i < 64; i++)
		k[i] = (bk_call){.fn = fn, .arg = arg, .len = sizeof(arg), .priority = prio};
	bk_future *fs[FLOOD_WINDOW];
	uint64_t done = 0;
	if (write(ready_fd, "r", 1) != 1)
		_exit(1);
	struct pollfd p = {.fd = stop_fd, .events = POLLIN};
	while (poll(&p, 1, 0) == 0) {
		size_t n = 0;
		while (n < FLOOD_WINDOW) {
			size_t want = FLOOD_WINDOW - n < 64 ? FLOOD_WINDOW - n : 64;
			int r = bk_submit_batch(c, k, want, fs + n);
			if (r == -EAGAIN)
				break;
			if (r < 0)
				_exit(1);
			n += (size_t)r;
		}
		if (bk_wait_all(fs, n, WAIT_NS) < 0)
			_exit(1);
		for (size_t i = 0; i < n; i++) {
			if (bk_result(fs[i], NULL, NULL) < 0)
				_exit(1);
			bk_release(fs[i]);
		}
		done += n;
	}
	ssize_t w = write(ready_fd, &done, sizeof(done));
	bk_disconnect(c);
	_exit(w == (ssize_t)sizeof(done) ? 0 : 1);
}

static int probe(bk_client *c, bk_fn noop, unsigned prio, uint64_t samples, struct bk_hist *h)
{
	for (uint64_t i = 0; i < samples; i++) {
		bk_future *f;
		int64_t t0 = bk_now_ns();
		int r = bk_submit_opts(c, noop, NULL, 0, 0, prio, &f);
		if (r < 0)
			return r;
		r = bk_wait(f, WAIT_NS);
		if (r == 0)
			r = bk_result(f, NULL, NULL);
		bk_release(f);
		if (r < 0)
			return r;
		bk_hist_record(h, (uint64_t)(bk_now_ns() - t0));
	}
	return 0;
}

static int run_phase(const char *socket, int ph, uint64_t samples, struct phase *out)
{
	bk_client *c;
	bk_fn noop;
	int r = connect_lookup(socket, "echo.noop", &c, &noop);
	if (r < 0)
		return r;
	int up[2], stop[2];
	pid_t pid = -1;
	if (pipe(up) < 0 || pipe(stop) < 0) {
		bk_disconnect(c);
		return -errno;
	}
	char byte;
	if (ph != PH_ALONE) {
		pid = fork();
		if (pid == 0) {
			/* Only the parent's write end may keep stop open: its close is the stop signal. */
			close(stop[1]);
			close(up[0]);
			flood_child(socket, ph == PH_BACKGROUND ? BK_PRIO_BACKGROUND : BK_PRIO_NORMAL, up[1], stop[0]);
		}
		struct pollfd p = {.fd = up[0], .events = POLLIN};
		if (pid < 0 || poll(&p, 1, 10000) != 1 || read(up[0], &byte, 1) != 1)
			r = -EIO;
	}
	int64_t t0 = bk_now_ns();
	bk_hist_init(&out->h);
	if (r == 0)
		r = probe(c, noop, ph == PH_NORMAL ? BK_PRIO_NORMAL : BK_PRIO_INTERACTIVE, samples, &out->h);
	double secs = (double)(bk_now_ns() - t0) / 1e9;
	close(stop[1]);
	if (pid > 0) {
		uint64_t done = 0;
		struct pollfd p = {.fd = up[0], .events = POLLIN};
		if (poll(&p, 1, 15000) == 1 && read(up[0], &done, sizeof(done)) == (ssize_t)sizeof(done))
			out->flood_tps = (double)done / secs;
		else if (r == 0)
			r = -EIO;
		if (r < 0)
			kill(pid, SIGKILL); /* it did not report: do not wait on it forever */
		int st;
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			r = r ? r : -EIO;
	}
	close(up[0]);
	close(up[1]);
	close(stop[0]);
	bk_disconnect(c);
	return r;
}

static void report(const struct phase *ph, int json)
{
	struct bk_pcts p[PH_N];
	for (int i = 0; i < PH_N; i++)
		bk_hist_summary(&ph[i].h, &p[i]);
	if (json) {
		printf("{\"priority\": [");
		for (int i = 0; i < PH_N; i++)
			printf("%s{\"phase\": \"%s\", \"p50_us\": %.2f, \"p99_us\": %.2f, \"p999_us\": %.2f, "
			       "\"flood_tps\": %.0f, \"p99_ratio\": %.3f}",
			       i ? ", " : "", phase_name[i], p[i].p50 / 1e3, p[i].p99 / 1e3, p[i].p999 / 1e3, ph[i].flood_tps,
			       p[i].p99 / p[PH_ALONE].p99);
		printf("]}\n");
		return;
	}
	printf("interactive echo.noop round trips, one worker (p99 ratio against alone)\n");
	printf("%-26s %10s %10s %10s %12s %8s\n", "phase", "p50 us", "p99 us", "p99.9 us", "flood/s", "p99 x");
	for (int i = 0; i < PH_N; i++)
		printf("%-26s %10.2f %10.2f %10.2f %12.0f %8.2f\n", phase_name[i], p[i].p50 / 1e3, p[i].p99 / 1e3,
		       p[i].p999 / 1e3, ph[i].flood_tps, p[i].p99 / p[PH_ALONE].p99);
}

int bk_prio_main(const struct bk_prio_opts *o)
{
	struct bkt_brokerd b;
	char err[512];
	uint64_t samples = o->samples ? o->samples : (o->quick ? 2000 : 50000);
	if (bkt_brokerd_init(&b, o->brokerd, o->moddir, 0) < 0 || bkt_brokerd_arg(&b, "--workers") < 0 ||
	    bkt_brokerd_arg(&b, "1") < 0) {
		fprintf(stderr, "broker-bench: --priority: cannot prepare brokerd\n");
		return 1;
	}
	if (bkt_brokerd_start(&b, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "broker-bench: --priority: starting brokerd: %s\n", err);
		bkt_brokerd_cleanup(&b, 0);
		return 1;
	}
	struct phase *ph = calloc(PH_N, sizeof(*ph));
	int rc = ph ? 0 : 1;
	for (int i = 0; i < PH_N && rc == 0; i++) {
		if (!o->quiet)
			fprintf(stderr, "broker-bench: priority phase %s (%llu samples)\n", phase_name[i],
				(unsigned long long)samples);
		int r = run_phase(b.socket, i, samples, &ph[i]);
		if (r < 0) {
			fprintf(stderr, "broker-bench: priority phase %s failed: %s\n", phase_name[i], bk_strerror(r));
			rc = 1;
		}
	}
	if (rc == 0)
		report(ph, o->json);
	free(ph);
	if (bkt_brokerd_stop(&b, 10000) != 0)
		rc = 1;
	bkt_brokerd_cleanup(&b, 10000);
	return rc;
}
