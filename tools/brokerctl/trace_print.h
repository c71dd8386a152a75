// SPDX-License-Identifier: MIT
/*
 * trace_print.h - brokerctl trace in two halves: trace_run (trace_bpf.c)
 * loads and attaches the BPF program and collects what it measured;
 * trace_print (trace_print.c) prints it, bcc-style.
 */
#ifndef BROKERCTL_TRACE_PRINT_H
#define BROKERCTL_TRACE_PRINT_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot.h"
#include "trace_event.h"

#define TRACE_SLOWEST_MAX 100

struct trace_result {
	uint32_t pid;
	double seconds; /* how long the probes were attached */
	uint64_t *hist; /* [BKT_TRACE_MAX_FNS][BKT_TRACE_SLOTS] */
	struct bkt_trace_event slow[TRACE_SLOWEST_MAX]; /* slowest first */
	int nslow;
	uint64_t missed_starts, lost_events;
	int kernel_clock; /* timed from probe to probe (trace.bpf.c) */
};

/*
 * Trace brokerd pid for seconds (or until SIGINT/SIGTERM), only function fn when fn >= 0, keeping the
 * slowest tasks.  need_start: brokerd passes no timestamps (built without latency accounting), so
 * the start probe is attached too and tasks are timed with the kernel's clock.  Prints "attached ..." to stderr once the probes are in place.  0 or a negative code
 * with err set.
 */
int trace_run(uint32_t pid, int fn, int need_start, double seconds, int slowest, struct trace_result *out,
	      char *err, size_t errlen);
void trace_result_free(struct trace_result *r);

/* Print r; s (may be empty) names functions and clients. */
void trace_print(const struct trace_result *r, const struct snapshot *s, const char *fn_name, uint32_t fn);

#endif /* BROKERCTL_TRACE_PRINT_H */
