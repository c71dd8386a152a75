// SPDX-License-Identifier: MIT
/*
 * trace_event.h - what brokerctl trace's BPF program (trace.bpf.c) and its
 * user-space side (cmd_trace.c) share: the histogram's shape and the record
 * of a slow task.  Plain fixed-width types, so both compilers agree.
 */
#ifndef BROKERCTL_TRACE_EVENT_H
#define BROKERCTL_TRACE_EVENT_H

#define BKT_TRACE_MAX_FNS 4096 /* brokerd's function ids (registry) */
#define BKT_TRACE_SLOTS 40 /* log2 buckets: [2^k, 2^(k+1)) ns, the last one open */

struct bkt_trace_event {
	unsigned long long lat_ns;
	unsigned int fn;
	unsigned int conn;
	unsigned int slot;
	int status;
	unsigned int pid; /* brokerd's worker thread id */
	unsigned int rsvd;
};

#endif /* BROKERCTL_TRACE_EVENT_H */
