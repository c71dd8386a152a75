// SPDX-License-Identifier: MIT
/*
 * broker_runs.h - the broker side of the bench: round-trip latency of
 * echo.noop with one future in flight, and pipelined throughput with a
 * window of futures in flight (bk_submit_batch + reaping), in this process
 * or in several forked client processes.
 */
#ifndef BK_BENCH_BROKER_RUNS_H
#define BK_BENCH_BROKER_RUNS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hist.h"
#include "measure.h"

/* Called right before and after the timed part of a throughput run (for cost counters). */
struct bk_phase_hooks {
	void (*begin)(void *arg);
	void (*end)(void *arg, uint64_t tasks);
	void *arg;
};

/*
 * A connection doing echo.noop round trips, kept open so they can be
 * interleaved with a baseline's (bk_measure_rtt_interleaved): the round-trip
 * function is bk_broker_rtt_fn() with the handle as its ctx.  close returns
 * r and, when r < 0, describes which call failed in err.
 */
struct bk_broker_rtt;
int bk_broker_rtt_open(const char *socket, int64_t spin_ns, struct bk_broker_rtt **out, char *err, size_t errlen);
bk_roundtrip_fn bk_broker_rtt_fn(void);
int bk_broker_rtt_close(struct bk_broker_rtt *b, int r, char *err, size_t errlen);

/* spin_ns goes to bk_options.spin_ns (0 never spin, <0 adaptive default, large: spin). */
int bk_broker_rtt(const char *socket, int64_t spin_ns, const struct bk_rtt_cfg *cfg, struct bk_hist *h, char *err,
		  size_t errlen);

/* One client in this process; *tps = tasks completed per second of the timed part. */
int bk_broker_tps(const char *socket, unsigned window, double seconds, const struct bk_phase_hooks *hooks, double *tps,
		  char *err, size_t errlen);

/* `clients` forked processes started together; *tps is their sum, *ctxsw the context switches per task of
 * the clients and of brokerd `broker` (when > 0; else the clients' alone) over the run. */
int bk_broker_tps_multi(const char *socket, pid_t broker, unsigned window, unsigned clients, double seconds, double *tps,
			double *ctxsw, char *err, size_t errlen);


/*
 * Keep one client connected but idle (after one echo.noop) for `seconds`
 * and measure broker_pid's CPU use meanwhile, in percent of one CPU.
 */
int bk_broker_idle_cpu(const char *socket, int broker_pid, double seconds, double *pct, char *err, size_t errlen);

#endif
