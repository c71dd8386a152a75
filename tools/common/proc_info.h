// SPDX-License-Identifier: MIT
/*
 * proc_info.h - what /proc tells about a process: open fds, resident size,
 * CPU time and context switches; and the machine's CPU time (/proc/stat).  Used by the test harness (leak checks)
 * and broker-bench (cost figures).
 */
#ifndef BKT_PROC_INFO_H
#define BKT_PROC_INFO_H

#include <stdint.h>
#include <sys/types.h>

/* Number of open fds of pid (for getpid(): not counting the one used to read /proc), or -errno. */
int bkt_proc_fd_count(pid_t pid);

/* Resident set size of pid in KiB, or -errno. */
long bkt_proc_rss_kib(pid_t pid);

/* utime+stime of pid in clock ticks (sysconf(_SC_CLK_TCK) per second), from /proc/<pid>/stat. */
int bkt_proc_cpu_ticks(pid_t pid, uint64_t *ticks);

/* Voluntary + involuntary context switches summed over every thread of pid. */
int bkt_proc_ctxsw(pid_t pid, uint64_t *n);

/*
 * The machine's "cpu" line of /proc/stat, in clock ticks over every CPU:
 * busy (every state but idle and iowait; steal included), total, and the
 * share the hypervisor stole (0 where the kernel reports no steal).
 */
int bkt_proc_stat_cpu(uint64_t *busy, uint64_t *total, uint64_t *steal);

#endif /* BKT_PROC_INFO_H */
