// SPDX-License-Identifier: MIT
/*
 * test_brokerctl.c - brokerctl against a harness brokerd: status, modules and
 * clients as tables and as --json, unload and load (validated by a small JSON parser, keys
 * checked), --help on every subcommand, bad usage exits 2, and no brokerd
 * exits 1 with "no brokerd at PATH".  brokerctl's path comes from
 * $BK_BROKERCTL; each run is bounded by a deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/client.h"
#include "child_wait.h"
#include "harness.h"

static struct bkt_brokerd B;

struct run {
	int status; /* exit code */
	char out[65536];
	char err[8192];
};

/* Run brokerctl with args (NULL-ended) for at most 10 s, capturing stdout and stderr. */
static void run(struct run *r, const char *const *args)
{
	const char *bin = getenv("BK_BROKERCTL");
	assert_non_null(bin);
	int po[2], pe[2];
	assert_int_equal(pipe2(po, O_CLOEXEC), 0);
	assert_int_equal(pipe2(pe, O_CLOEXEC), 0);
	const char *argv[32];
	int n = 0;
	argv[n++] = bin;
	for (int i = 0; args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	size_t no = 0, ne = 0;
	int64_t deadline = bk_now_ns() + 10000000000LL;
	int open_fds = 2;
	while (open_fds > 0 && bk_now_ns() < deadline) {
		struct pollfd p[2] = {{.fd = po[0], .events = POLLIN}, {.fd = pe[0], .events = POLLIN}};
		if (poll(p, 2, 100) <= 0)
			continue;
		for (int i = 0; i < 2; i++) {
			if (!p[i].revents || p[i].fd < 0)
				continue;
			char *buf = i ? r->err : r->out;
			size_t *len = i ? &ne : &no;
			size_t cap = (i ? sizeof(r->err) : sizeof(r->out)) - 1;
			ssize_t k = read(p[i].fd, buf + *len, cap - *len);
			if (k <= 0) {
				close(p[i].fd);
				if (i)
					pe[0] = -1;
				else
					po[0] = -1;
				open_fds--;
			} else {
				*len += (size_t)k;
			}
		}
	}
	r->out[no] = 0;
	r->err[ne] = 0;
	if (po[0] >= 0)
		close(po[0]);
	if (pe[0] >= 0)
		close(pe[0]);
	int st = 0;
	if (bkt_child_wait(pid, deadline, &st, true) < 0)
		fail_msg("brokerctl did not finish within 10 s (killed)");
	assert_true(WIFEXITED(st));
	r->status = WEXITSTATUS(st);
}

/* ---- a minimal strict JSON validator (RFC 8259 grammar, no semantics) ---- */
static const char *js_ws(const char *p)
{
	while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
		p++;
	return p;
}

static const char *js_value(const char *p, int depth);

static const char *js_string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	while (*p && *p != '"') {
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
						return NULL;
				p += 4;
			} else if (!*p || !strchr("\"\\/bfnrt", *p)) {
				return NULL;
			}
		}
		p++;
	}
	return *p == '"' ? p + 1 : NULL;
}

static const char *js_number(const char *p)
{
	const char *s = p;
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return NULL;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (*p < '0' || *p > '9')
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return p > s ? p : NULL;
}

static const char *js_value(const char *p, int depth)
{
	if (depth > 32)
		return NULL;
	p = js_ws(p);
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		int obj = *p == '{';
		p = js_ws(p + 1);
		if (*p == close)
			return p + 1;
		for (;;) {
			if (obj) {
				p = js_string(js_ws(p));
				if (!p)
					return NULL;
				p = js_ws(p);
				if (*p++ != ':')
					return NULL;
			}
			p = js_value(p, depth + 1);
			if (!p)
				return NULL;
			p = js_ws(p);
			if (*p == ',') {
				p++;
				continue;
			}
			return *p == close ? p + 1 : NULL;
		}
	}
	if (*p == '"')
		return js_string(p);
	if (!strncmp(p, "true", 4))
		return p + 4;
	if (!strncmp(p, "false", 5))
		return p + 5;
	if (!strncmp(p, "null", 4))
		return p + 4;
	return js_number(p);
}

static int json_valid(const char *s)
{
	const char *p = js_value(s, 0);
	return p && *js_ws(p) == 0;
}

static void test_json_validator(void **state)
{
	(void)state;
	assert_true(json_valid("{\"a\": [1, -2.5e3, \"x\\n\", true, null, {}]}\n"));
	assert_false(json_valid("{\"a\": [1,]}"));
	assert_false(json_valid("{\"a\" 1}"));
	assert_false(json_valid("[\"unterminated]"));
	assert_false(json_valid("{} {}"));
}

static void expect_keys(const char *json, const char *const *keys)
{
	for (int i = 0; keys[i]; i++) {
		char k[64];
		snprintf(k, sizeof(k), "\"%s\":", keys[i]);
		if (!strstr(json, k))
			fail_msg("key %s missing in: %s", keys[i], json);
	}
}

static void test_commands(void **state)
{
	(void)state;
	assert_int_equal(bk_test_broker_start(&B, NULL), 0);
	bk_client *c = NULL;
	assert_int_equal(bk_connect(B.socket, NULL, &c), 0);
	bk_fn echo;
	assert_int_equal(bk_lookup(c, "echo.echo", &echo), 0);
	bk_future *f;
	assert_int_equal(bk_submit(c, echo, "hi", 2, &f), 0);
	assert_int_equal(bk_wait(f, 10000000000LL), 0);
	bk_release(f);

	struct run *r = malloc(sizeof(*r));
	assert_non_null(r);
	const char *a1[] = {"--socket", B.socket, "status", NULL};
	run(r, a1);
	assert_int_equal(r->status, 0);
	assert_non_null(strstr(r->out, "uptime"));
	assert_non_null(strstr(r->out, "workers"));
	assert_non_null(strstr(r->out, "tasks done"));
	assert_non_null(strstr(r->out, "migrations"));

	const char *a2[] = {"--socket", B.socket, "--json", "status", NULL};
	run(r, a2);
	assert_int_equal(r->status, 0);
	assert_true(json_valid(r->out));
	const char *sk[] = {"version", "pid", "uptime_ns", "workers", "connections", "tasks_done", "tasks_failed",
			    "inflight", "errors", "migrations", NULL};
	expect_keys(r->out, sk);

	const char *a3[] = {"--socket", B.socket, "modules", NULL};
	run(r, a3);
	assert_int_equal(r->status, 0);
	assert_non_null(strstr(r->out, "NAME"));
	const char *mods[] = {"echo", "timer", "file", "hash"};
	for (int i = 0; i < 4; i++)
		assert_non_null(strstr(r->out, mods[i]));
	const char *a4[] = {"--json", "modules", "--socket", B.socket, NULL};
	run(r, a4);
	assert_int_equal(r->status, 0);
	assert_true(json_valid(r->out));
	const char *mk[] = {"name", "version", "functions", "tasks_done", "inflight", NULL};
	expect_keys(r->out, mk);
	assert_non_null(strstr(r->out, "\"upper\""));

	const char *a5[] = {"--socket", B.socket, "clients", NULL};
	run(r, a5);
	assert_int_equal(r->status, 0);
	assert_non_null(strstr(r->out, "PID"));
	char pid[32];
	snprintf(pid, sizeof(pid), " %d ", (int)getpid());
	assert_non_null(strstr(r->out, pid));
	const char *a6[] = {"--socket", B.socket, "--json", "clients", NULL};
	run(r, a6);
	assert_int_equal(r->status, 0);
	assert_true(json_valid(r->out));
	const char *ck[] = {"pid", "uid", "sq_depth", "cq_depth", "inflight", "submitted", "completed", "errors", NULL};
	expect_keys(r->out, ck);
	snprintf(pid, sizeof(pid), "\"pid\": %d,", (int)getpid());
	assert_non_null(strstr(r->out, pid));

	/* unload, then load it back from the module folder; a bad path fails with exit 1. */
	const char *u1[] = {"--socket", B.socket, "unload", "echo", NULL};
	run(r, u1);
	assert_int_equal(r->status, 0);
	run(r, a3);
	assert_null(strstr(r->out, "noop,echo,upper"));
	char so[512];
	snprintf(so, sizeof(so), "%s/echo.so", getenv("BK_MODULE_DIR"));
	const char *l1[] = {"--socket", B.socket, "load", so, NULL};
	run(r, l1);
	assert_int_equal(r->status, 0);
	run(r, a3);
	assert_non_null(strstr(r->out, "noop,echo,upper"));
	const char *l2[] = {"--socket", B.socket, "--json", "load", "/nonexistent/mod.so", NULL};
	run(r, l2);
	assert_int_equal(r->status, 1);
	assert_true(json_valid(r->out));
	assert_non_null(strstr(r->err, "/nonexistent/mod.so"));

	bk_disconnect(c);
	free(r);
	bk_test_broker_cleanup(&B);
}

static void test_usage_and_no_broker(void **state)
{
	(void)state;
	struct run *r = malloc(sizeof(*r));
	assert_non_null(r);
	const char *cmds[] = {"status", "modules", "clients", "load", "unload"};
	for (int i = 0; i < 5; i++) {
		const char *a[] = {cmds[i], "--help", NULL};
		run(r, a);
		assert_int_equal(r->status, 0);
		assert_non_null(strstr(r->out, "usage: brokerctl"));
		assert_non_null(strstr(r->out, cmds[i]));
	}
	const char *h[] = {"--help", NULL};
	run(r, h);
	assert_int_equal(r->status, 0);
	assert_non_null(strstr(r->out, "clients"));
	const char *b1[] = {"frobnicate", NULL};
	run(r, b1);
	assert_int_equal(r->status, 2);
	const char *b2[] = {"--bogus", "status", NULL};
	run(r, b2);
	assert_int_equal(r->status, 2);
	const char *b3[] = {"load", NULL};
	run(r, b3);
	assert_int_equal(r->status, 2);
	const char *b4[] = {NULL};
	run(r, b4);
	assert_int_equal(r->status, 2);
	const char *n1[] = {"--socket", "/nonexistent/broker.sock", "status", NULL};
	run(r, n1);
	assert_int_equal(r->status, 1);
	assert_non_null(strstr(r->err, "no brokerd at /nonexistent/broker.sock"));
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_validator),
		cmocka_unit_test(test_usage_and_no_broker),
		cmocka_unit_test(test_commands),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
