// SPDX-License-Identifier: MIT
/*
 * cmd_trace.c - `brokerctl trace [FUNCTION] [--seconds S]`: attach
 * trace.bpf.c (embedded as a libbpf skeleton) to the USDT probes of the
 * running brokerd, then print a log2 histogram of task latency per
 * function, bcc-style, and the slowest tasks.  Needs root (loading BPF and
 * attaching uprobes); without libbpf, clang or bpftool at build time it
 * says so.  The probes cost a no-op instruction while nobody traces.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/errors.h"
#include "broker/sys.h"
#include "broker/wire.h"
#include "ctl.h"
#include "snapshot.h"
#include "trace_event.h"
#include "trace_print.h"

static const char usage[] =
	"usage: brokerctl [--socket PATH] trace [FUNCTION] [--seconds S] [--slowest N]\n"
	"Attach a BPF program to the USDT probe brokerd:task__done of the running brokerd (no restart)\n"
	"for S seconds (default 5; Ctrl-C ends it early) and print, per function, a log2 histogram of\n"
	"the run time (handler start to completion, from brokerd's own timestamps, which the probe\n"
	"carries) of every task that completed meanwhile, its count, then the N slowest tasks (default\n"
	"10).  FUNCTION (module.function) traces that function only.  A brokerd built without latency\n"
	"accounting passes no timestamps: then brokerd:task__start is attached too, tasks are timed\n"
	"from probe to probe (the probes' own cost included) and those already running are left out.\n"
	"Needs root (CAP_BPF and CAP_PERFMON): it loads a BPF program and places uprobes in brokerd.\n";

struct opts {
	const char *fn_name;
	double seconds;
	int slowest;
};

static int parse(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){.seconds = 5, .slowest = 10};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end = NULL;
		if (!strcmp(a, "--seconds") && v) {
			o->seconds = strtod(v, &end);
			i++;
			if (*end || o->seconds <= 0 || o->seconds > 86400) {
				fprintf(stderr, "brokerctl trace: --seconds wants a duration in (0, 86400]\n");
				return 2;
			}
		} else if (!strcmp(a, "--slowest") && v) {
			o->slowest = (int)strtol(v, &end, 10);
			i++;
			if (*end || o->slowest < 0 || o->slowest > TRACE_SLOWEST_MAX) {
				fprintf(stderr, "brokerctl trace: --slowest wants 0..%d\n", TRACE_SLOWEST_MAX);
				return 2;
			}
		} else if (a[0] == '-' || o->fn_name) {
			fprintf(stderr, "brokerctl trace: unexpected argument '%s'\n%s", a, usage);
			return 2;
		} else {
			o->fn_name = a;
		}
	}
	return 0;
}

/* brokerd's pid (STATUS) and the id of the traced function (LOOKUP). */
static int find_target(struct ctx *x, const struct opts *o, uint32_t *pid, uint32_t *fn)
{
	struct bk_msg_hdr req = {.type = BK_MSG_STATUS};
	struct bk_msg_status_reply st;
	int n = bkc_ctl_call(&x->k, &req, sizeof(req), BK_MSG_STATUS_REPLY, &st, sizeof(st), x->err, sizeof(x->err));
	if (n < 0)
		return n;
	if ((size_t)n < sizeof(st))
		return BK_EPROTOCOL;
	*pid = st.pid;
	*fn = 0;
	return o->fn_name ? snapshot_lookup(x, o->fn_name, fn) : 0;
}

static int run(struct ctx *x, int argc, char **argv)
{
	struct opts o;
	if (parse(argc, argv, &o))
		return 2;
	if (geteuid() != 0) {
		snprintf(x->err, sizeof(x->err),
			 "needs root: it loads a BPF program and attaches uprobes to brokerd (try: sudo brokerctl trace)");
		return -EPERM;
	}
	int r = ctl_connect(x);
	uint32_t pid = 0, fn = 0;
	if (r < 0 || (r = find_target(x, &o, &pid, &fn)) < 0)
		return r;
	/* Does brokerd time its tasks (then the done probe carries both timestamps)? */
	void *none = NULL;
	uint32_t nfn = 0;
	r = fetch_list(x, BK_MSG_FN_STATS, BK_MSG_FN_STATS_REPLY, sizeof(struct bk_wire_fn_stats), &none, &nfn);
	free(none);
	if (r < 0)
		return r;
	int need_start = (x->reply_flags & BK_STATS_OFF) != 0;
	struct trace_result res;
	r = trace_run(pid, o.fn_name ? (int)fn : -1, need_start, o.seconds, o.slowest, &res, x->err, sizeof(x->err));
	if (r < 0)
		return r;
	struct snapshot s; /* names and client pids, as they are now */
	if (snapshot_take(x, &s) < 0)
		memset(&s, 0, sizeof(s));
	trace_print(&res, &s, o.fn_name, fn);
	snapshot_free(&s);
	trace_result_free(&res);
	return 0;
}

const struct ctl_cmd ctl_cmd_trace = {
	.name = "trace",
	.usage = usage,
	.summary = "BPF (root): log2 histogram of task run time per function, slowest tasks",
	.run = run,
};
