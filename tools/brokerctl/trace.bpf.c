// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * trace.bpf.c - BPF side of `brokerctl trace`, attached to brokerd's USDT
 * probes (broker/latency.c): task__start(fn, conn, slot, ts) and
 * task__done(fn, conn, slot, status, start_ts, ts).  A task's run time is
 * the difference of the done probe's two timestamps (brokerd's own
 * CLOCK_MONOTONIC readings, so only the done probe needs attaching and no
 * probe's trap falls inside the interval); a brokerd built without latency
 * accounting passes 0 for both, and then brokerctl also attaches the start
 * probe and the task is timed from one probe to the other with the
 * kernel's clock (the same clock), trap costs included.  Each task counts
 * in a log2 histogram per function; tasks slower than the threshold user
 * space keeps raising (its slowest-N list) go to a ring buffer.
 * Built with clang -target bpf and embedded in brokerctl as a libbpf
 * skeleton (tools/brokerctl/meson.build).
 */
#include <stdbool.h> /* usdt.bpf.h uses bool */

#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "trace_event.h"

/* Set by brokerctl before loading: trace one function id only. */
const volatile __u32 only_fn = 0;
const volatile __u32 filter_fn = 0;

/* Raised by brokerctl as its list of slowest tasks fills up. */
__u64 threshold_ns = 0;
__u64 missed_starts = 0; /* done without a start seen (in flight at attach, or the start map was full) */
__u64 lost_events = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64); /* conn << 32 | slot */
	__type(value, __u64);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE); /* read out with one mmap, not 160k lookups */
	__uint(max_entries, BKT_TRACE_MAX_FNS * BKT_TRACE_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} slow SEC(".maps");

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0;
	for (int i = 0; i < 63 && v > 1; i++) {
		v >>= 1;
		r++;
	}
	return r;
}

SEC("usdt")
int BPF_USDT(bk_task_start, __u32 fn, __u32 conn, __u32 slot)
{
	if (filter_fn && fn != only_fn)
		return 0;
	__u64 key = ((__u64)conn << 32) | slot, now = bpf_ktime_get_ns();
	bpf_map_update_elem(&starts, &key, &now, BPF_ANY);
	return 0;
}

SEC("usdt")
int BPF_USDT(bk_task_done, __u32 fn, __u32 conn, __u32 slot, int status, __s64 start_ts, __s64 done_ts)
{
	if (filter_fn && fn != only_fn)
		return 0;
	__u64 lat;
	if (start_ts > 0 && done_ts >= start_ts) {
		lat = (__u64)(done_ts - start_ts);
	} else {
		__u64 key = ((__u64)conn << 32) | slot;
		__u64 *t0 = bpf_map_lookup_elem(&starts, &key);
		if (!t0) {
			__sync_fetch_and_add(&missed_starts, 1);
			return 0;
		}
		lat = bpf_ktime_get_ns() - *t0;
		bpf_map_delete_elem(&starts, &key);
	}
	__u32 b = log2_u64(lat);
	if (b >= BKT_TRACE_SLOTS)
		b = BKT_TRACE_SLOTS - 1;
	__u32 idx = (fn < BKT_TRACE_MAX_FNS ? fn : BKT_TRACE_MAX_FNS - 1) * BKT_TRACE_SLOTS + b;
	__u64 *cnt = bpf_map_lookup_elem(&hist, &idx);
	if (cnt)
		__sync_fetch_and_add(cnt, 1);
	if (lat <= threshold_ns)
		return 0;
	struct bkt_trace_event *e = bpf_ringbuf_reserve(&slow, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&lost_events, 1);
		return 0;
	}
	e->lat_ns = lat;
	e->fn = fn;
	e->conn = conn;
	e->slot = slot;
	e->status = status;
	e->pid = (__u32)bpf_get_current_pid_tgid();
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
