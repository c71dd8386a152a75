// SPDX-License-Identifier: MIT
/*
 * util.h - small helpers shared by the bench's parts: the clock, a CPU
 * relax hint for spin loops, progress lines on stderr, fork helpers.
 */
#ifndef BK_BENCH_UTIL_H
#define BK_BENCH_UTIL_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "broker/sys.h"

static inline void bk_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

/* Progress on stderr, prefixed with bk_tool_name (silenced by --quiet). */
extern int bk_bench_quiet;
extern const char *bk_tool_name;
void bk_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Fork a child that dies with its parent (PR_SET_PDEATHSIG), so that no
 * server or client of the bench outlives an interrupted run.  Returns the
 * pid in the parent, 0 in the child, -errno on failure.
 */
pid_t bk_fork_child(void);

/* This process's context switches so far, voluntary + involuntary (getrusage): differences give a run's. */
uint64_t bk_self_ctxsw(void);

/* Wait up to timeout_ms for pid; SIGKILL and reap it after that.  Its wait status, -ETIMEDOUT (killed) or -errno. */
int bk_reap(pid_t pid, int timeout_ms);

/* Read or write exactly len bytes (retrying on EINTR/short transfers); 0 or -errno (-EPIPE at EOF). */
int bk_read_full(int fd, void *buf, size_t len);
int bk_write_full(int fd, const void *buf, size_t len);
/* A number flag: its value in [lo, hi] into *out, or -EINVAL after saying why on stderr. */
int bk_parse_num(const char *name, const char *s, double lo, double hi, double *out);

#endif
