// SPDX-License-Identifier: MIT
/*
 * tool_check.c - end-to-end checks of broker-bench and broker-stress:
 *
 *   tool_check bench  BROKER-BENCH  [args...]   runs it, parses its JSON
 *       output and checks that every key it must report (the need() calls
 *       below) is there and that every broker and baseline figure is a
 *       positive number
 *       (syscalls_per_task may be null: it needs root);
 *   tool_check stress BROKER-STRESS [args...]   runs it and checks it ended
 *       with exit status 0 and a last line `N passed, 0 failed, G broker
 *       gone`, N > 0 (G, calls lost with a killed brokerd, is any number:
 *       whether a call is in flight at the kill is the scheduler's choice).
 *
 * brokerd and the module folder come from $BK_BROKERD and $BK_MODULE_DIR
 * (set by meson) and are passed as --brokerd/--module-dir.  The tool gets
 * at most TOOL_TIMEOUT_S seconds, after which it is killed and the test fails.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker/sys.h"

#define TOOL_TIMEOUT_S 150
#define OUT_MAX (1 << 20)

static char out[OUT_MAX + 1];
static size_t out_len;

/* Run argv, collect stdout, bounded; returns the wait status or -1. */
static int run(char **argv)
{
	int p[2];
	if (pipe(p) != 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execv(argv[0], argv);
		fprintf(stderr, "tool_check: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	int64_t deadline = bk_now_ns() + TOOL_TIMEOUT_S * 1000000000LL;
	for (;;) {
		int64_t left = (deadline - bk_now_ns()) / 1000000; /* ms */
		if (left <= 0) {
			fprintf(stderr, "tool_check: %s did not finish within %d s: killed\n", argv[0], TOOL_TIMEOUT_S);
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return -1;
		}
		struct pollfd pf = { .fd = p[0], .events = POLLIN };
		int n = poll(&pf, 1, (int)(left > 1000 ? 1000 : left));
		if (n < 0 && errno != EINTR)
			return -1;
		if (n <= 0)
			continue;
		ssize_t r = read(p[0], out + out_len, OUT_MAX - out_len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		out_len += (size_t)r;
		if (out_len == OUT_MAX) {
			fprintf(stderr, "tool_check: too much output\n");
			break;
		}
	}
	out[out_len] = 0;
	close(p[0]);
	/* stdout closed: the tool is exiting; still bounded. */
	for (int64_t end = bk_now_ns() + 20 * 1000000000LL; bk_now_ns() < end;) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return st;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	fprintf(stderr, "tool_check: %s did not exit after closing its output\n", argv[0]);
	return -1;
}

/* ---- a tiny JSON reader: records "a.b.c" paths of scalars with their values ---- */

#define MAX_PATHS 512
struct jval {
	char path[128];
	int is_null, is_num;
	double num;
};
static struct jval vals[MAX_PATHS];
static int nvals;
static const char *jp;

static void ws(void)
{
	while (*jp && isspace((unsigned char)*jp))
		jp++;
}

static int jstring(char *buf, size_t len)
{
	if (*jp != '"')
		return -1;
	jp++;
	size_t n = 0;
	while (*jp && *jp != '"') {
		if (*jp == '\\') {
			jp++;
			if (!*jp)
				return -1;
			if (*jp == 'u') {
				for (int i = 0; i < 4; i++)
					if (!isxdigit((unsigned char)*++jp))
						return -1;
			}
		}
		if (n + 1 < len)
			buf[n++] = *jp;
		jp++;
	}
	if (*jp != '"')
		return -1;
	jp++;
	buf[n] = 0;
	return 0;
}

static int jvalue(const char *path);

static int jobject(const char *path)
{
	jp++; /* '{' */
	ws();
	if (*jp == '}') {
		jp++;
		return 0;
	}
	for (;;) {
		char key[64], sub[128];
		ws();
		if (jstring(key, sizeof(key)) < 0)
			return -1;
		ws();
		if (*jp++ != ':')
			return -1;
		snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", key);
		if (jvalue(sub) < 0)
			return -1;
		ws();
		if (*jp == ',') {
			jp++;
			continue;
		}
		if (*jp == '}') {
			jp++;
			return 0;
		}
		return -1;
	}
}

static int jarray(const char *path)
{
	jp++;
	ws();
	if (*jp == ']') {
		jp++;
		return 0;
	}
	for (;;) {
		if (jvalue(path) < 0)
			return -1;
		ws();
		if (*jp == ',') {
			jp++;
			continue;
		}
		if (*jp == ']') {
			jp++;
			return 0;
		}
		return -1;
	}
}

static struct jval *add(const char *path)
{
	if (nvals >= MAX_PATHS)
		return NULL;
	struct jval *v = &vals[nvals++];
	snprintf(v->path, sizeof(v->path), "%s", path);
	return v;
}

static int jvalue(const char *path)
{
	ws();
	struct jval *v;
	char tmp[256];
	switch (*jp) {
	case '{': return jobject(path);
	case '[': return jarray(path);
	case '"':
		if (!(v = add(path)))
			return -1;
		return jstring(tmp, sizeof(tmp));
	case 'n':
		if (strncmp(jp, "null", 4))
			return -1;
		jp += 4;
		if (!(v = add(path)))
			return -1;
		v->is_null = 1;
		return 0;
	case 't':
	case 'f': {
		size_t n = *jp == 't' ? 4 : 5;
		if (strncmp(jp, *jp == 't' ? "true" : "false", n))
			return -1;
		jp += n;
		return add(path) ? 0 : -1;
	}
	default: {
		char *end;
		double d = strtod(jp, &end);
		if (end == jp)
			return -1;
		jp = end;
		if (!(v = add(path)))
			return -1;
		v->is_num = 1;
		v->num = d;
		return 0;
	}
	}
}

static const struct jval *get(const char *path)
{
	for (int i = 0; i < nvals; i++)
		if (!strcmp(vals[i].path, path))
			return &vals[i];
	return NULL;
}

static int bad;

/* want: 'p' positive number, 'z' number >= 0, 'n' number >= 0 or null */
static void need(const char *path, char want)
{
	const struct jval *v = get(path);
	if (!v) {
		fprintf(stderr, "tool_check: JSON lacks %s\n", path);
		bad++;
		return;
	}
	int ok = want == 'p' ? v->is_num && v->num > 0 : want == 'z' ? v->is_num && v->num >= 0 :
								      (v->is_null || (v->is_num && v->num >= 0));
	if (!ok) {
		fprintf(stderr, "tool_check: %s is %s, wanted %s\n", path, v->is_null ? "null" : "not that",
			want == 'p' ? "a positive number" : want == 'z' ? "a number >= 0" : "a number >= 0 or null");
		bad++;
	}
}

/* Linux 6.7 and later run futex requests through io_uring: there the io_uring futex baseline must be measured. */
static int kernel_has_uring_futex(void)
{
	struct utsname u;
	int major = 0, minor = 0;
	if (uname(&u) < 0 || sscanf(u.release, "%d.%d", &major, &minor) != 2)
		return 0;
	return major > 6 || (major == 6 && minor >= 7);
}

static int check_bench(void)
{
	jp = out;
	ws();
	if (*jp != '{' || jvalue("") < 0) {
		fprintf(stderr, "tool_check: the output is not valid JSON near: %.60s\n", jp);
		return 1;
	}
	ws();
	if (*jp) {
		fprintf(stderr, "tool_check: trailing text after the JSON: %.60s\n", jp);
		return 1;
	}
	static const char *const modes[] = { "spin", "sleep", "adaptive" };
	static const char *const pcts[] = { "p50", "p90", "p99", "p999", "max" };
	char path[128];
	for (int m = 0; m < 3; m++)
		for (int p = 0; p < 5; p++) {
			snprintf(path, sizeof(path), "rtt_ns.%s.%s", modes[m], pcts[p]);
			need(path, 'p');
		}
	need("throughput_tps.w1", 'p');
	need("throughput_tps.w16", 'p');
	need("throughput_tps.w256", 'p');
	need("throughput_tps.w256_c4", 'p');
	for (int p = 0; p < 5; p++) {
		snprintf(path, sizeof(path), "baselines.shm_spin_rtt_ns.%s", pcts[p]);
		need(path, 'p');
	}
	need("baselines.futex_rtt_ns.p50", 'p');
	/* The ratios taken round by round of the interleaving (measure.h). */
	need("rtt_p50_ratio_rounds.spin.shm_spin_rtt_ns", 'p');
	need("rtt_p50_ratio_rounds.sleep.futex_rtt_ns", 'p');
	need("rtt_p50_ratio_rounds.sleep.uds_rtt_ns", 'p');
	need("rtt_p50_ratio_rounds.rounds", 'p');
	need("baselines.uds_rtt_ns.p50", 'p');
	need("baselines.pipe_rtt_ns.p50", 'p');
	if (kernel_has_uring_futex())
		need("baselines.uring_futex_rtt_ns.p50", 'p');
	else if (!get("baselines.uring_futex_rtt_ns.p50"))
		need("baselines.uring_futex_rtt_ns", 'n'); /* null on older kernels (or measured: a backport), but present */
	need("baselines.uds_tps_w256", 'p');
	/* What bounds 4 clients against 1: their switches per task, and the price of one (report.c). */
	need("baselines.context_switch_ns", 'p');
	need("throughput_tps.w1_c4_ctxsw_per_task", 'z');
	need("throughput_tps.w16_c4_ctxsw_per_task", 'z');
	need("throughput_tps.w256_c4_ctxsw_per_task", 'z');
	need("syscalls_per_task", 'n');
	need("ctxsw_per_task", 'z');
	need("broker_idle_cpu_pct", 'z');
	need("run.wall_s", 'p');
	need("run.steal_s", 'n'); /* null only where /proc/stat could not be read */
	if (!bad)
		fprintf(stderr, "tool_check: JSON has every key of the contract (%d values read)\n", nvals);
	return bad ? 1 : 0;
}

static int check_stress(void)
{
	/* the last non-empty line */
	size_t end = out_len;
	while (end && (out[end - 1] == '\n' || out[end - 1] == ' '))
		end--;
	size_t start = end;
	while (start && out[start - 1] != '\n')
		start--;
	char line[256];
	snprintf(line, sizeof(line), "%.*s", (int)(end - start), out + start);
	unsigned long long passed, failed, gone;
	char tail;
	if (sscanf(line, "%llu passed, %llu failed, %llu broker gone%c", &passed, &failed, &gone, &tail) != 3) {
		fprintf(stderr, "tool_check: last line is not `N passed, N failed, N broker gone`: '%s'\n", line);
		return 1;
	}
	if (failed || !passed) {
		fprintf(stderr, "tool_check: %s\n", line);
		return 1;
	}
	fprintf(stderr, "tool_check: %s\n", line);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3 || (strcmp(argv[1], "bench") && strcmp(argv[1], "stress"))) {
		fprintf(stderr, "usage: tool_check bench|stress TOOL [args...]\n");
		return 2;
	}
	const char *brokerd = getenv("BK_BROKERD"), *mods = getenv("BK_MODULE_DIR");
	char **av = calloc((size_t)argc + 8, sizeof(*av));
	if (!av)
		return 1;
	int n = 0;
	for (int i = 2; i < argc; i++)
		av[n++] = argv[i];
	if (brokerd) {
		av[n++] = "--brokerd";
		av[n++] = (char *)brokerd;
	}
	if (mods) {
		av[n++] = "--module-dir";
		av[n++] = (char *)mods;
	}
	av[n] = NULL;
	int st = run(av);
	if (st < 0)
		return 1;
	int is_bench = !strcmp(argv[1], "bench");
	int r = is_bench ? check_bench() : check_stress();
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "tool_check: %s ended with %s %d\n", argv[2], WIFEXITED(st) ? "status" : "signal",
			WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		r = 1;
	}
	free(av);
	return r;
}
