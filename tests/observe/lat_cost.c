// SPDX-License-Identifier: MIT
/*
 * lat_cost.c - what brokerd's latency accounting costs per task, measured
 * alone: the hooks of broker/latency_hooks.h called as a worker calls them
 * (its loop's clock reading and one fetch, then BATCH tasks taken, started,
 * done and published), on a worker, connection and tasks of this process,
 * for ROUNDS rounds; prints ns per task, the minimum of REPEATS runs (the
 * least disturbed one).  BUDGET is brokerd's --latency-budget.  Not a
 * test: docs/BENCHMARKS.md ("Latency accounting") quotes it for both builds.
 *
 *   lat_cost [BATCH [ROUNDS [REPEATS [BUDGET]]]]     defaults 64 20000 7 64
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "latency_hooks.h"
#include "task.h"
#include "worker.h"

int main(int argc, char **argv)
{
	int batch = argc > 1 ? atoi(argv[1]) : 64, rounds = argc > 2 ? atoi(argv[2]) : 20000;
	int repeats = argc > 3 ? atoi(argv[3]) : 7, budget = argc > 4 ? atoi(argv[4]) : 64;
	if (batch < 1 || batch > 256 || rounds < 1 || repeats < 1 || budget < 0) {
		fprintf(stderr, "usage: lat_cost [BATCH 1..256 [ROUNDS [REPEATS [BUDGET]]]]\n");
		return 2;
	}
	struct bkd_broker *b = calloc(1, sizeof(*b));
	struct bkd_worker *w = calloc(1, sizeof(*w));
	struct bkd_conn *c = calloc(1, sizeof(*c));
	struct bk_task *t = calloc((size_t)batch, sizeof(*t));
	if (!b || !w || !c || !t)
		return 1;
	b->opt.latency_budget = (unsigned)budget;
	w->b = b;
	for (int i = 0; i < batch; i++) {
		t[i].w = w;
		t[i].conn = c;
		t[i].slot = (uint32_t)i;
		t[i].ref.fn = 1;
	}
	double best = 1e18;
	for (int r = 0; r < repeats; r++) {
		int64_t t0 = bk_now_ns();
		for (int k = 0; k < rounds; k++) {
			w->now = bk_now_ns(); /* the worker loop's reading, in both builds */
			bkd_lat_batch(w);
			for (int i = 0; i < batch; i++) {
				bkd_worker_count_start(w);
				t[i].lat_timed = false; /* as a recycled task's memset does */
				bkd_lat_taken(w, &t[i]);
			}
			for (int i = 0; i < batch; i++) {
				bkd_lat_start(w, &t[i]);
				bkd_lat_done(w, &t[i], i % 16 ? 0 : -5);
				bkd_lat_published(w, &t[i], i % 16 ? 0 : -5);
			}
		}
		double ns = (double)(bk_now_ns() - t0) / ((double)rounds * batch);
		if (ns < best)
			best = ns;
	}
	printf("%s: %.1f ns per task (batch %d, budget %d, best of %d runs of %d rounds)\n",
	       BKD_LATENCY ? "accounting on" : "accounting compiled out", best, batch, budget, repeats, rounds);
	bkd_lat_conn_free(c);
	bkd_lat_worker_free(w);
	free(t);
	free(c);
	free(w);
	free(b);
	return 0;
}
