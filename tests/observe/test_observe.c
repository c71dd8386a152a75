// SPDX-License-Identifier: MIT
/*
 * test_observe.c - latency accounting against a known workload: this test
 * makes N calls of each built-in function (some failing on purpose), one
 * at a time and each waited for, then checks `brokerctl stats` (exact
 * counts and errors per function and for this client, quantiles that are
 * ordered and plausible, --json valid per python3 -m json.tool),
 * `brokerctl metrics` (a format check, metrics_check.c), `brokerctl top
 * --once` (this client, its rate) and `brokerctl trace echo.noop` (its
 * count equals the calls made while it was attached; skipped with the
 * reason when BPF cannot be used).  This brokerd times every task
 * (--latency-budget 0), so its histograms count every call; a second one
 * with a budget of 1 shows what sampling keeps exact (calls, errors) and
 * how closely its weighted histograms follow.  Paths come from
 * $BK_BROKERCTL and $BK_OBS_LOAD.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/client.h"
#include "harness.h"
#include "metrics_check.h"
#include "obs_util.h"

static struct bkt_brokerd B;
static bk_client *C;
static struct obs_proc *P; /* large: one, reused */

struct load {
	const char *fn, *arg;
	int n;
	int want_errors; /* how many of the n fail (all or none) */
};

/* The known workload: every built-in, failures from timer.sleep and file.read. */
static const struct load loads[] = {
	{"echo.noop", "", 300, 0},
	{"echo.echo", "hello", 200, 0},
	{"echo.upper", "abc", 150, 0},
	{"hash.sha256", "abc", 120, 0},
	{"timer.sleep", "2", 25, 0},
	{"timer.sleep", "x", 15, 15}, /* -EINVAL: not a number */
	{"file.read", "0 16 /nonexistent/observe-test", 20, 20}, /* -ENOENT */
	{"file.read", "0 16 /etc/hostname", 30, 0},
};
#define NLOADS (sizeof(loads) / sizeof(loads[0]))

static void calls(const char *name, const char *arg, int n, int *errors)
{
	bk_fn fn;
	assert_int_equal(bk_lookup(C, name, &fn), 0);
	for (int i = 0; i < n; i++) {
		bk_future *f;
		assert_int_equal(bk_submit_wait(C, fn, arg, strlen(arg), 5000000000LL, &f), 0);
		assert_int_equal(bk_wait(f, 10000000000LL), 0);
		const void *d;
		size_t len;
		if (bk_result(f, &d, &len) < 0)
			(*errors)++;
		bk_release(f);
	}
}

static const char *ctl(void)
{
	const char *bin = getenv("BK_BROKERCTL");
	assert_non_null(bin);
	return bin;
}

static int setup(void **state)
{
	(void)state;
	P = calloc(1, sizeof(*P));
	assert_non_null(P);
	/* Every task timed: the histograms' counts are then exact too (latency.h). */
	static const char *const every[] = {"--latency-budget", "0", NULL};
	assert_int_equal(bk_test_broker_start(&B, every), 0);
	assert_int_equal(bk_connect(B.socket, NULL, &C), 0);
	for (size_t i = 0; i < NLOADS; i++) {
		int errors = 0;
		calls(loads[i].fn, loads[i].arg, loads[i].n, &errors);
		assert_int_equal(errors, loads[i].want_errors);
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	bk_disconnect(C);
	assert_int_equal(bk_test_broker_stop(&B), 0);
	bk_test_broker_cleanup(&B);
	free(P);
	return 0;
}

/* Expected calls and errors of one function name over the workload. */
static void expected(const char *fn, long long *calls_out, long long *errors_out)
{
	*calls_out = *errors_out = 0;
	for (size_t i = 0; i < NLOADS; i++) {
		if (strcmp(loads[i].fn, fn))
			continue;
		*calls_out += loads[i].n;
		*errors_out += loads[i].want_errors;
	}
}

/* The JSON object of function fn in the stats output: [start, end). */
static const char *fn_object(const char *json, const char *fn, const char **end)
{
	char key[96];
	snprintf(key, sizeof(key), "{\"name\": \"%s\"", fn);
	const char *s = strstr(json, key);
	assert_non_null(s);
	*end = strstr(s, "}}"); /* total's object closes, then the function's */
	assert_non_null(*end);
	return s;
}

/* p50 <= p90 <= p99 <= max for "kind" of the object at [s, e); returns p50. */
static long long check_order(const char *s, const char *e, const char *kind)
{
	char key[32];
	snprintf(key, sizeof(key), "\"%s\": {", kind);
	const char *k = strstr(s, key);
	assert_true(k && k < e);
	long long p50 = obs_number_after(k, e, "\"p50_ns\":"), p90 = obs_number_after(k, e, "\"p90_ns\":");
	long long p99 = obs_number_after(k, e, "\"p99_ns\":"), mx = obs_number_after(k, e, "\"max_ns\":");
	assert_true(p50 >= 0 && p50 <= p90 && p90 <= p99 && p99 <= mx);
	assert_true(mx < 30000000000LL); /* nothing here takes 30 s */
	return p50;
}

static void test_stats_exact(void **state)
{
	(void)state;
	const char *a[] = {ctl(), "--socket", B.socket, "stats", "--json", "--interval", "0", NULL};
	assert_int_equal(obs_run(P, a, 20), 0);
	/* Valid JSON as Python reads it. */
	char path[160];
	snprintf(path, sizeof(path), "%s/stats.json", B.dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(P->out, f);
	fclose(f);
	static const char *const fns[] = {"echo.noop", "echo.echo", "echo.upper", "hash.sha256", "timer.sleep",
					  "file.read"};
	char *json = strdup(P->out);
	assert_non_null(json);
	const char *v[] = {"/usr/bin/python3", "-m", "json.tool", path, NULL};
	assert_int_equal(obs_run(P, v, 20), 0);
	long long all = 0, all_err = 0;
	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		const char *e, *s = fn_object(json, fns[i], &e);
		long long want, want_err;
		expected(fns[i], &want, &want_err);
		assert_int_equal(obs_number_after(s, e, "\"calls\":"), want);
		assert_int_equal(obs_number_after(s, e, "\"errors\":"), want_err);
		all += want;
		all_err += want_err;
		check_order(s, e, "queue");
		long long run50 = check_order(s, e, "run");
		long long tot50 = check_order(s, e, "total");
		assert_true(tot50 >= run50 * 97 / 100); /* total = queue + run, up to a bucket's width */
		if (!strcmp(fns[i], "echo.noop"))
			assert_true(run50 < 1000000); /* a no-op does not take a millisecond */
	}
	/* timer.sleep: 25 of its 40 calls slept 2 ms, so its median run time is at least that (a bucket is 3 %). */
	const char *e, *s = fn_object(json, "timer.sleep", &e);
	const char *run = strstr(s, "\"run\": {");
	assert_true(obs_number_after(run, e, "\"p50_ns\":") >= 1940000);
	/* This client: every call, every error. */
	char me[64];
	snprintf(me, sizeof(me), "\"pid\": %d, ", (int)getpid());
	const char *c = strstr(json, "\"clients\": [");
	assert_non_null(c);
	c = strstr(c, me);
	assert_non_null(c);
	assert_int_equal(obs_number_after(c, NULL, "\"calls\":"), all);
	assert_int_equal(obs_number_after(c, NULL, "\"errors\":"), all_err);
	assert_int_equal(obs_number_after(c, NULL, "\"completed\":"), all);
	free(json);
}

static void test_stats_text(void **state)
{
	(void)state;
	const char *a[] = {ctl(), "--socket", B.socket, "stats", "--interval", "0.2", "echo.noop", NULL};
	assert_int_equal(obs_run(P, a, 20), 0);
	assert_non_null(strstr(P->out, "echo.noop"));
	assert_null(strstr(P->out, "echo.echo"));
	assert_non_null(strstr(P->out, "RUN.P99"));
	const char *b[] = {ctl(), "--socket", B.socket, "stats", "--interval", "0", NULL};
	assert_int_equal(obs_run(P, b, 20), 0);
	assert_non_null(strstr(P->out, "hash.sha256"));
	assert_non_null(strstr(P->out, "TOTAL.P99")); /* the client table */
	const char *c[] = {ctl(), "--socket", B.socket, "stats", "no.such", NULL};
	assert_int_equal(obs_run(P, c, 20), 1);
	assert_non_null(strstr(P->err, "no such function"));
	const char *d[] = {ctl(), "--socket", B.socket, "stats", "--bogus", NULL};
	assert_int_equal(obs_run(P, d, 20), 2);
	/* --help of every new subcommand, before or after its name, without asking brokerd. */
	static const char *const cmds[] = {"stats", "top", "metrics", "trace"};
	for (size_t i = 0; i < 4; i++) {
		const char *h1[] = {ctl(), "--socket", "/nonexistent/sock", cmds[i], "--help", NULL};
		assert_int_equal(obs_run(P, h1, 20), 0);
		assert_non_null(strstr(P->out, "usage: brokerctl"));
		assert_non_null(strstr(P->out, cmds[i]));
		const char *h2[] = {ctl(), "--help", cmds[i], NULL};
		assert_int_equal(obs_run(P, h2, 20), 0);
		assert_non_null(strstr(P->out, "usage: brokerctl"));
	}
	const char *n[] = {ctl(), "--socket", "/nonexistent/sock", "stats", NULL};
	assert_int_equal(obs_run(P, n, 20), 1);
	assert_non_null(strstr(P->err, "no brokerd at /nonexistent/sock"));
}

static void test_metrics(void **state)
{
	(void)state;
	const char *a[] = {ctl(), "--socket", B.socket, "metrics", NULL};
	assert_int_equal(obs_run(P, a, 20), 0);
	char why[256] = "";
	struct metrics_found m;
	int r = metrics_check(P->out, &m, why, sizeof(why));
	if (r < 0)
		fail_msg("metrics output rejected: %s", why);
	assert_true(m.samples > 100);
	assert_true(m.histograms >= 3);
	/* The exact counters are there too. */
	assert_non_null(strstr(P->out, "brokerd_function_calls_total{function=\"echo.noop\"} 300\n"));
	assert_non_null(strstr(P->out, "brokerd_function_errors_total{function=\"file.read\"} 20\n"));
	assert_non_null(strstr(P->out, "brokerd_function_run_seconds_count{function=\"echo.echo\"} 200\n"));
}

/* A brokerd that samples: 20,000 pipelined no-ops with 1 task a millisecond timed in full. */
static void test_sampled(void **state)
{
	(void)state;
	static struct bkt_brokerd S;
	static const char *const one[] = {"--latency-budget", "1", NULL};
	assert_int_equal(bk_test_broker_start(&S, one), 0);
	const char *load = getenv("BK_OBS_LOAD");
	assert_non_null(load);
	const char *l[] = {load, S.socket, "echo.noop", "", "20000", "64", NULL};
	assert_int_equal(obs_run(P, l, 60), 0);
	assert_non_null(strstr(P->out, "calls 20000 ok 20000 errors 0"));
	const char *a[] = {ctl(), "--socket", S.socket, "stats", "--json", "--interval", "0", "echo.noop", NULL};
	assert_int_equal(obs_run(P, a, 20), 0);
	const char *e, *s = fn_object(P->out, "echo.noop", &e);
	assert_int_equal(obs_number_after(s, e, "\"calls\":"), 20000); /* counts stay exact */
	assert_int_equal(obs_number_after(s, e, "\"errors\":"), 0);
	/* Each timed task stands for the untimed ones before it: what the histogram misses is the untimed
	 * tail after each worker's last sample, under a period (at most 1024) per worker. */
	for (int k = 0; k < 3; k++) {
		static const char *const kinds[] = {"\"queue\": {", "\"run\": {", "\"total\": {"};
		const char *h = strstr(s, kinds[k]);
		assert_true(h && h < e);
		long long n = obs_number_after(h, e, "\"count\":");
		assert_true(n <= 20000 && n > 20000 - 2 * 1024);
	}
	check_order(s, e, "queue");
	assert_true(check_order(s, e, "run") < 1000000);
	check_order(s, e, "total");
	assert_int_equal(bk_test_broker_stop(&S), 0);
	bk_test_broker_cleanup(&S);
}

static void test_top_once(void **state)
{
	(void)state;
	/* Calls from a second thread of work would race the frame: make them before, and see this client. */
	const char *a[] = {ctl(), "--socket", B.socket, "top", "--once", "--interval", "0.2", NULL};
	assert_int_equal(obs_run(P, a, 20), 0);
	assert_non_null(strstr(P->out, "workers"));
	assert_non_null(strstr(P->out, "COMP/S"));
	char me[16];
	snprintf(me, sizeof(me), "%7d ", (int)getpid());
	assert_non_null(strstr(P->out, me));
	assert_non_null(strstr(P->out, "echo.noop"));
	assert_null(strstr(P->out, "\033[")); /* not a terminal: no escapes */
	/* Every line fits 80 columns, and the frame 24 rows. */
	int lines = 0;
	for (const char *l = P->out; *l; lines++) {
		const char *nl = strchr(l, '\n');
		assert_non_null(nl);
		assert_true(nl - l <= 80);
		l = nl + 1;
	}
	assert_true(lines <= 24);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stats_exact),
		cmocka_unit_test(test_stats_text),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_sampled),
		cmocka_unit_test(test_top_once),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
