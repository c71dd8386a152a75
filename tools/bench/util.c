// SPDX-License-Identifier: MIT
/* util.c - helpers shared by the bench's parts (see util.h). */
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "child_wait.h"

int bk_bench_quiet;
const char *bk_tool_name = "broker-bench";

void bk_progress(const char *fmt, ...)
{
	if (bk_bench_quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", bk_tool_name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

pid_t bk_fork_child(void)
{
	pid_t parent = getpid();
	fflush(NULL); /* otherwise buffered output would be printed twice */
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
			_exit(120);
		if (getppid() != parent) /* the parent died before prctl took effect */
			_exit(121);
	}
	return pid;
}

uint64_t bk_self_ctxsw(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0; /* cannot fail for RUSAGE_SELF */
	return (uint64_t)ru.ru_nvcsw + (uint64_t)ru.ru_nivcsw;
}

int bk_reap(pid_t pid, int timeout_ms)
{
	int st;
	int r = bkt_child_wait(pid, bk_now_ns() + (int64_t)timeout_ms * 1000000LL, &st, true);
	return r < 0 ? r : st;
}

int bk_read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int bk_write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int bk_parse_num(const char *name, const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "broker-bench: %s wants a number between %g and %g, not '%s'\n", name, lo, hi, s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}
