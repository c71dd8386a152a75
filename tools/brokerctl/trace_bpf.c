// SPDX-License-Identifier: MIT
/*
 * trace_bpf.c - the libbpf side of brokerctl trace (trace_print.h): open
 * the embedded skeleton (trace.skel.h, made by `bpftool gen skeleton` at
 * build time), attach its two programs to brokerd's USDT probes, keep the
 * slowest tasks from the ring buffer while the trace runs, and copy the
 * histograms out once the probes are detached.
 */
#include "trace_print.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef BK_HAVE_LIBBPF
int trace_run(uint32_t pid, int fn, int need_start, double seconds, int slowest, struct trace_result *out,
	      char *err, size_t errlen)
{
	(void)pid, (void)fn, (void)need_start, (void)seconds, (void)slowest;
	memset(out, 0, sizeof(*out));
	snprintf(err, errlen, "brokerctl was built without libbpf, clang or bpftool: no BPF tracing");
	return -ENOTSUP;
}

void trace_result_free(struct trace_result *r)
{
	(void)r;
}
#else
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "broker/sys.h"
#include "trace.skel.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* libbpf's own chatter would interleave with the output; keep its warnings. */
static int quiet_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG || level == LIBBPF_INFO)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

struct slow_list {
	struct trace_result *r;
	struct trace_bpf *skel;
	int keep;
};

/* A task slower than the threshold: into the sorted list; a full list raises the threshold to its last. */
static int on_event(void *ctx, void *data, size_t len)
{
	struct slow_list *l = ctx;
	struct trace_result *r = l->r;
	if (len < sizeof(struct bkt_trace_event) || l->keep == 0)
		return 0;
	const struct bkt_trace_event *e = data;
	int i;
	if (r->nslow == l->keep) {
		if (r->slow[l->keep - 1].lat_ns >= e->lat_ns)
			return 0; /* raced with a threshold raise */
		i = l->keep - 1;
	} else {
		i = r->nslow++;
	}
	while (i > 0 && r->slow[i - 1].lat_ns < e->lat_ns) {
		r->slow[i] = r->slow[i - 1];
		i--;
	}
	r->slow[i] = *e;
	if (r->nslow == l->keep)
		l->skel->bss->threshold_ns = r->slow[l->keep - 1].lat_ns;
	return 0;
}

static int attach(struct trace_bpf *skel, uint32_t pid, int need_start, char *err, size_t errlen)
{
	char exe[64], path[PATH_MAX];
	snprintf(exe, sizeof(exe), "/proc/%u/exe", pid);
	ssize_t n = readlink(exe, path, sizeof(path) - 1);
	path[n > 0 ? n : 0] = 0;
	/* The file brokerd runs; /proc/PID/exe itself when it was replaced on disk since. */
	if (n <= 0 || (size_t)n >= sizeof(path) - 1 || access(path, R_OK) != 0)
		snprintf(path, sizeof(path), "%s", exe);
	if (need_start)
		skel->links.bk_task_start = bpf_program__attach_usdt(skel->progs.bk_task_start, (pid_t)pid, path,
								     "brokerd", "task__start", NULL);
	if (need_start && !skel->links.bk_task_start) {
		int e = -errno;
		snprintf(err, errlen, "attaching to brokerd:task__start in %s (pid %u): %s", path, pid, strerror(-e));
		return e;
	}
	skel->links.bk_task_done =
		bpf_program__attach_usdt(skel->progs.bk_task_done, (pid_t)pid, path, "brokerd", "task__done", NULL);
	if (!skel->links.bk_task_done) {
		int e = -errno;
		snprintf(err, errlen, "attaching to brokerd:task__done in %s (pid %u): %s", path, pid, strerror(-e));
		return e;
	}
	fprintf(stderr, "attached to brokerd pid %u (%s)\n", pid, path);
	return 0;
}

/* Copy the histograms out of the (mmapable) array map. */
static int read_hist(struct trace_bpf *skel, struct trace_result *r)
{
	size_t len = (size_t)BKT_TRACE_MAX_FNS * BKT_TRACE_SLOTS * sizeof(uint64_t);
	r->hist = malloc(len);
	if (!r->hist)
		return -ENOMEM;
	void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, bpf_map__fd(skel->maps.hist), 0);
	if (m == MAP_FAILED) {
		int e = -errno;
		free(r->hist);
		r->hist = NULL;
		return e;
	}
	memcpy(r->hist, m, len);
	munmap(m, len);
	r->missed_starts = skel->bss->missed_starts;
	r->lost_events = skel->bss->lost_events;
	return 0;
}

static int collect(struct trace_bpf *skel, struct trace_result *r, double seconds, int slowest)
{
	struct slow_list l = {.r = r, .skel = skel, .keep = slowest};
	if (slowest == 0)
		skel->bss->threshold_ns = UINT64_MAX; /* no slow-task records at all */
	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.slow), on_event, &l, NULL);
	if (!rb)
		return -errno;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	int64_t t0 = bk_now_ns(), end = t0 + (int64_t)(seconds * 1e9);
	while (!stop && bk_now_ns() < end) {
		int64_t left_ms = (end - bk_now_ns()) / 1000000;
		int n = ring_buffer__poll(rb, (int)(left_ms < 100 ? left_ms + 1 : 100));
		if (n < 0 && n != -EINTR)
			break;
	}
	r->seconds = (double)(bk_now_ns() - t0) / 1e9;
	/* Detach first, so the histograms stop moving, then drain what is left of the ring.  Completions
	 * first (the reverse of attach): a completion whose start went unseen would count as missed. */
	bpf_link__destroy(skel->links.bk_task_done);
	bpf_link__destroy(skel->links.bk_task_start);
	skel->links.bk_task_start = skel->links.bk_task_done = NULL;
	ring_buffer__consume(rb);
	ring_buffer__free(rb);
	return read_hist(skel, r);
}

int trace_run(uint32_t pid, int fn, int need_start, double seconds, int slowest, struct trace_result *out,
	      char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	out->pid = pid;
	out->kernel_clock = need_start;
	libbpf_set_print(quiet_print);
	struct trace_bpf *skel = trace_bpf__open();
	if (!skel) {
		snprintf(err, errlen, "opening the BPF program: %s", strerror(errno));
		return -errno;
	}
	skel->rodata->filter_fn = fn >= 0;
	skel->rodata->only_fn = fn >= 0 ? (uint32_t)fn : 0;
	int r = trace_bpf__load(skel);
	if (r) {
		snprintf(err, errlen, "loading the BPF program: %s%s", strerror(-r),
			 r == -EPERM ? " (needs CAP_BPF and CAP_PERFMON, or root)" : "");
		trace_bpf__destroy(skel);
		return r;
	}
	r = attach(skel, pid, need_start, err, errlen);
	if (r == 0) {
		r = collect(skel, out, seconds, slowest);
		if (r < 0)
			snprintf(err, errlen, "reading the trace: %s", strerror(-r));
	}
	trace_bpf__destroy(skel);
	return r;
}

void trace_result_free(struct trace_result *r)
{
	free(r->hist);
	r->hist = NULL;
}
#endif
