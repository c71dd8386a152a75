// SPDX-License-Identifier: MIT
/*
 * syscount.bpf.c - BPF program for broker-bench: counts syscall entries per
 * process (tgid) for the few pids the bench pre-inserts into the map (the
 * bench client and brokerd); every other process finds no entry and costs
 * one hash lookup.  Attached to the raw tracepoint sys_enter, which needs no
 * tracefs mount.  Built with clang -target bpf at build time and embedded in
 * broker-bench as a libbpf skeleton (tools/bench/meson.build).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

SEC("raw_tp/sys_enter")
int bk_count_sys_enter(void *ctx)
{
	__u32 tgid = (__u32)(bpf_get_current_pid_tgid() >> 32);
	__u64 *v = bpf_map_lookup_elem(&counts, &tgid);

	(void)ctx;
	if (v)
		__sync_fetch_and_add(v, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
