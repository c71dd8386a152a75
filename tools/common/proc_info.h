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
 * CPU time of every thread of pid in ns, from /proc/<pid>/task/<tid>/schedstat:
 * exact where utime+stime come in clock ticks.  A thread's time is brought up
 * to date whenever it leaves the CPU, so it is exact for a process that sleeps.
 */
int bkt_proc_cpu_ns(pid_t pid, uint64_t *ns);

/*
 * The machine's "cpu" line of /proc/stat, in clock ticks over every CPU:
 * idle (idle + iowait), the share the hypervisor stole (0 where the kernel
 * reports no steal), and the number of online CPUs.  No busy time: the
 * kernel measures idle time exactly (NO_HZ) but samples busy time at ticks,
 * which over-counts CPUs that wake for short bursts, so busy time is wall
 * time x CPUs - idle - steal (docs/BENCHMARKS.md, "Others").
 */
int bkt_proc_stat_cpu(uint64_t *idle, uint64_t *steal, unsigned *ncpu);

#endif /* BKT_PROC_INFO_H */
