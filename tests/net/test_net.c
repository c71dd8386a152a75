// SPDX-License-Identifier: MIT
/*
 * test_net.c - net.request, net.http_get and net.fanout inside a real
 * brokerd (one worker) against servers this test starts on 127.0.0.1: an
 * echo server and a silent one (tools/bench/echo_server.h), and
 * `python3 -m http.server` over a temporary folder.  Every wait is bounded.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "bt_util.h"
#include "echo_server.h"
#include "net_util.h"

#define SEC 1000000000LL
#define MS 1000000LL

static struct bkt_brokerd B;
static struct bkt_echo echo, silent;
static bk_client *C;
static bk_fn f_req, f_http, f_fan;
static pid_t http_pid;
static uint16_t http_port;
static char http_dir[128];

static const char hello_body[] = "hello from the file system\n";

static bool http_up(void *arg)
{
	(void)arg;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(http_port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* python3 -m http.server on a free port, serving a folder with hello.txt. */
static int start_http(void)
{
	snprintf(http_dir, sizeof(http_dir), "%s/www", B.dir);
	char file[256];
	snprintf(file, sizeof(file), "%s/hello.txt", http_dir);
	if (mkdir(http_dir, 0700) < 0)
		return -1;
	FILE *f = fopen(file, "w");
	if (!f || fputs(hello_body, f) < 0 || fclose(f) != 0)
		return -1;
	http_port = nt_closed_port();
	char port[8];
	snprintf(port, sizeof(port), "%u", http_port);
	http_pid = fork();
	if (http_pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, 1);
		dup2(devnull, 2);
		execlp("python3", "python3", "-m", "http.server", port, "--bind", "127.0.0.1", "--directory", http_dir,
		       (char *)NULL);
		_exit(127);
	}
	return http_pid > 0 && nt_wait_for(http_up, NULL, 20 * SEC) ? 0 : -1;
}

static int setup(void **state)
{
	(void)state;
	const char *extra[] = {"--workers", "1", NULL};
	if (bk_test_broker_start(&B, extra) != 0 || bkt_echo_start(&echo, BKT_ECHO) != 0 ||
	    bkt_echo_start(&silent, BKT_SILENT) != 0 || start_http() != 0)
		return -1;
	bk_options o;
	bk_options_init(&o);
	o.max_inflight = 1024;
	o.sq_entries = 1024;
	o.zero_copy_size = 16u << 20;
	if (bk_connect(B.socket, &o, &C) != 0 || bk_lookup(C, "net.request", &f_req) != 0 ||
	    bk_lookup(C, "net.http_get", &f_http) != 0 || bk_lookup(C, "net.fanout", &f_fan) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (C)
		bk_disconnect(C);
	if (http_pid > 0) {
		kill(http_pid, SIGKILL);
		waitpid(http_pid, NULL, 0);
	}
	bkt_echo_stop(&echo);
	bkt_echo_stop(&silent);
	/* A clean exit: under ASan a leak, or any error on the way out, makes brokerd's status nonzero. */
	int st = bk_test_broker_stop(&B);
	if (st != 0) {
		fprintf(stderr, "brokerd exited with %d\n", st);
		bk_test_broker_dump_log(&B);
	}
	bk_test_broker_cleanup(&B);
	return st == 0 ? 0 : -1;
}

/* "127.0.0.1 PORT TIMEOUT\n" + payload, malloc'd. */
static char *req_arg(uint16_t port, unsigned timeout_ms, const void *payload, size_t plen, size_t *len)
{
	char head[64];
	int h = snprintf(head, sizeof(head), "127.0.0.1 %u %u\n", port, timeout_ms);
	char *a = malloc((size_t)h + plen + 1);
	assert_non_null(a);
	memcpy(a, head, (size_t)h);
	if (plen)
		memcpy(a + h, payload, plen);
	*len = (size_t)h + plen;
	return a;
}

static void request_small(void **state)
{
	(void)state;
	size_t len, n;
	char *a = req_arg(echo.port, 2000, "hello", 5, &len), *out;
	assert_int_equal(nt_call(C, f_req, a, len, 64, &out, &n), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(out, "hello", 5);
	free(out);
	free(a);
}

/* 1 MiB out through a zero-copy argument, 1 MiB back into a zero-copy result: every byte. */
static void request_large_exact(void **state)
{
	(void)state;
	size_t plen = 1u << 20, len, n;
	unsigned char *p = malloc(plen);
	assert_non_null(p);
	for (size_t i = 0; i < plen; i++)
		p[i] = (unsigned char)(i * 2654435761u >> 13);
	char *a = req_arg(echo.port, 5000, p, plen, &len), *out;
	assert_int_equal(nt_call(C, f_req, a, len, plen + 4096, &out, &n), 0);
	assert_int_equal(n, plen);
	assert_memory_equal(out, p, plen);
	free(out);
	free(a);
	free(p);
}

/* A result buffer smaller than the answer: the request ends with the bytes that fit. */
static void request_buffer_full(void **state)
{
	(void)state;
	size_t len, n;
	char *a = req_arg(echo.port, 2000, "0123456789", 10, &len), *out;
	struct nt_call call;
	nt_submit(C, f_req, a, len, 4, &call);
	assert_int_equal(nt_finish(&call, 10 * SEC, &out, &n), 0);
	assert_int_equal(n, 4);
	assert_memory_equal(out, "0123", 4);
	free(out);
	free(a);
}

static void request_refused(void **state)
{
	(void)state;
	size_t len;
	char *a = req_arg(nt_closed_port(), 2000, "x", 1, &len);
	assert_int_equal(nt_call(C, f_req, a, len, 64, NULL, NULL), -ECONNREFUSED);
	free(a);
}

/* A server that accepts and never answers: the request's own timeout ends it. */
static void request_timeout(void **state)
{
	(void)state;
	size_t len;
	char *a = req_arg(silent.port, 200, "ping", 4, &len);
	int64_t t0 = bk_now_ns();
	assert_int_equal(nt_call(C, f_req, a, len, 64, NULL, NULL), -ETIMEDOUT);
	int64_t took = bk_now_ns() - t0;
	assert_true(took >= 190 * MS);
	assert_true(took < 5 * SEC);
	free(a);
}

struct accepted_at {
	struct bkt_echo *e;
	uint64_t n;
};

static bool accepted(void *arg)
{
	struct accepted_at *a = arg;
	return atomic_load(&a->e->accepted) >= a->n;
}

/* Cancelled while waiting for an answer that never comes: -ECANCELED, and its socket is closed. */
static void request_cancel_mid_recv(void **state)
{
	(void)state;
	int base = bk_test_broker_fd_count(&B);
	size_t len;
	char *a = req_arg(silent.port, 0, "ping", 4, &len);
	struct accepted_at at = {&silent, atomic_load(&silent.accepted) + 1};
	struct nt_call call;
	nt_submit(C, f_req, a, len, 64, &call);
	assert_true(nt_wait_for(accepted, &at, 10 * SEC));
	assert_int_equal(bk_cancel(call.f), 0);
	assert_int_equal(nt_finish(&call, 5 * SEC, NULL, NULL), -ECANCELED);
	nt_expect_fds(&B, base);
	free(a);
}

static void request_by_name(void **state)
{
	(void)state;
	char a[64];
	int len = snprintf(a, sizeof(a), "localhost %u 2000\nname", echo.port);
	char *out;
	size_t n;
	assert_int_equal(nt_call(C, f_req, a, (size_t)len, 64, &out, &n), 0);
	assert_int_equal(n, 4);
	assert_memory_equal(out, "name", 4);
	free(out);
}

static void request_hostile_args(void **state)
{
	(void)state;
	static const char *bad[] = {
		"", "127.0.0.1", "127.0.0.1 80", "127.0.0.1 0 10", "127.0.0.1 65536 10", "127.0.0.1 80 -1",
		"127.0.0.1  80 10", "127.0.0.1 80 10 ", " 127.0.0.1 80 10", "127.0.0.1 80 3600001",
		"127.0.0.1 80 99999999999", "127.0.0.1 +80 10", "h\x01st 80 10", "h/st 80 10\nx", "127.0.0.1 8 0 1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(nt_call(C, f_req, bad[i], strlen(bad[i]), 64, NULL, NULL), -EINVAL);
	char longhead[400];
	memset(longhead, 'a', sizeof(longhead));
	assert_int_equal(nt_call(C, f_req, longhead, sizeof(longhead), 64, NULL, NULL), -EINVAL);
	char nul[] = "127.0.0.1\0 80 10";
	assert_int_equal(nt_call(C, f_req, nul, sizeof(nul) - 1, 64, NULL, NULL), -EINVAL);
}

/* 1,000 requests in flight at once on the one worker: all finish, each with its own bytes. */
static void request_1000_concurrent(void **state)
{
	(void)state;
	enum { N = 1000 };
	struct nt_call *calls = calloc(N, sizeof(*calls));
	char (*args)[64] = calloc(N, 64);
	assert_non_null(calls);
	assert_non_null(args);
	for (int i = 0; i < N; i++) {
		int len = snprintf(args[i], 64, "127.0.0.1 %u 30000\nreq-%d", echo.port, i);
		nt_submit(C, f_req, args[i], (size_t)len, 32, &calls[i]);
	}
	for (int i = 0; i < N; i++) {
		char *out, want[16];
		size_t n;
		int w = snprintf(want, sizeof(want), "req-%d", i);
		assert_int_equal(nt_finish(&calls[i], 60 * SEC, &out, &n), 0);
		assert_int_equal(n, (size_t)w);
		assert_memory_equal(out, want, (size_t)w);
		free(out);
	}
	free(args);
	free(calls);
}

static void http_get_ok(void **state)
{
	(void)state;
	char url[128], *out;
	size_t n;
	int len = snprintf(url, sizeof(url), "http://127.0.0.1:%u/hello.txt", http_port);
	assert_int_equal(nt_call(C, f_http, url, (size_t)len, 8192, &out, &n), 0);
	assert_true(n > sizeof(hello_body));
	assert_memory_equal(out, "HTTP/1.", 7);
	assert_memory_equal(out + 8, " 200", 4);
	assert_non_null(strstr(out, "\r\n\r\n"));
	assert_string_equal(strstr(out, "\r\n\r\n") + 4, hello_body);
	free(out);
}

static void http_get_404(void **state)
{
	(void)state;
	char url[128], *out;
	size_t n;
	int len = snprintf(url, sizeof(url), "http://127.0.0.1:%u/missing 3000", http_port);
	assert_int_equal(nt_call(C, f_http, url, (size_t)len, 8192, &out, &n), 0);
	assert_memory_equal(out + 8, " 404", 4);
	free(out);
}

/* The echo server sends our own GET back: not an HTTP response. */
static void http_get_malformed(void **state)
{
	(void)state;
	char url[128];
	int len = snprintf(url, sizeof(url), "http://127.0.0.1:%u/", echo.port);
	assert_int_equal(nt_call(C, f_http, url, (size_t)len, 8192, NULL, NULL), -EPROTO);
}

static void http_get_small_buffer(void **state)
{
	(void)state;
	char url[128];
	size_t n;
	int len = snprintf(url, sizeof(url), "http://127.0.0.1:%u/hello.txt", http_port);
	struct nt_call call;
	nt_submit(C, f_http, url, (size_t)len, 40, &call);
	assert_int_equal(nt_finish(&call, 10 * SEC, NULL, &n), -ENOBUFS);
	assert_true(n > 40);
}

static void http_get_hostile(void **state)
{
	(void)state;
	static const char *bad[] = {
		"", "ftp://x/", "http://", "http:///x", "http://h:0/", "http://h:99999/", "http://h:/",
		"http://h/a b", "http://h/a\r\nX: y", "http://[::1/", "http://h/ 1x", "http://h\x7f/", "HTTP://h/",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(nt_call(C, f_http, bad[i], strlen(bad[i]), 1024, NULL, NULL), -EINVAL);
}

static size_t put_record(char *at, const char *req, size_t rlen)
{
	int h = sprintf(at, "%zu\n", rlen);
	memcpy(at + h, req, rlen);
	return (size_t)h + rlen;
}

/* Three echoes and a refusal in parallel: each record in order, in the documented format. */
static void fanout_mixed(void **state)
{
	(void)state;
	char arg[512], req[64];
	size_t at = 0;
	for (int i = 0; i < 3; i++) {
		int n = snprintf(req, sizeof(req), "127.0.0.1 %u 5000\nfan-%d", echo.port, i);
		at += put_record(arg + at, req, (size_t)n);
	}
	int n = snprintf(req, sizeof(req), "127.0.0.1 %u 5000\nx", nt_closed_port());
	at += put_record(arg + at, req, (size_t)n);
	char *out;
	size_t len;
	assert_int_equal(nt_call(C, f_fan, arg, at, 4096, &out, &len), 0);
	char want[256];
	snprintf(want, sizeof(want), "0 5\nfan-00 5\nfan-10 5\nfan-2%d 0\n", -ECONNREFUSED);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(out, want, len);
	free(out);
	assert_int_equal(nt_call(C, f_fan, "5\nabc", 5, 4096, NULL, NULL), -EINVAL);
	assert_int_equal(nt_call(C, f_fan, "", 0, 4096, NULL, NULL), -EINVAL);
}

/*
 * Lookups from an epoll loop: three at once, none blocking; the loop also
 * watches bk_fd and runs a call with the id it got, from the same loop.
 */
static void lookup_async_epoll(void **state)
{
	(void)state;
	static const char *names[] = {"net.request", "no.such", "net.fanout"};
	bk_lookup_req *r[3];
	int ep = epoll_create1(EPOLL_CLOEXEC);
	assert_true(ep >= 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(bk_lookup_async(C, names[i], &r[i]), 0);
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
		assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, bk_lookup_fd(r[i]), &ev), 0);
	}
	struct epoll_event bev = {.events = EPOLLIN, .data.u32 = 99};
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, bk_fd(C), &bev), 0);
	int res[3] = {1, 1, 1}, left = 3;
	bk_fn fn[3] = {0, 0, 0};
	bk_future *f = NULL;
	bool call_done = false;
	int64_t deadline = bk_now_ns() + 10 * SEC;
	while ((left || !call_done) && bk_now_ns() < deadline) {
		struct epoll_event evs[4];
		int n = epoll_wait(ep, evs, 4, 100);
		assert_true(n >= 0);
		for (int k = 0; k < n; k++) {
			uint32_t i = evs[k].data.u32;
			if (i == 99) {
				assert_true(bk_dispatch(C) >= 0);
				call_done = f && bk_poll(f) == 1;
				continue;
			}
			int rr = bk_lookup_result(r[i], &fn[i]);
			if (rr == -EAGAIN)
				continue;
			res[i] = rr;
			left--;
			assert_int_equal(epoll_ctl(ep, EPOLL_CTL_DEL, bk_lookup_fd(r[i]), NULL), 0);
			if (i == 0) {
				char a[64];
				int len = snprintf(a, sizeof(a), "127.0.0.1 %u 2000\nloop", echo.port);
				assert_int_equal(bk_submit(C, fn[0], a, (size_t)len, &f), 0);
			}
		}
	}
	assert_int_equal(res[0], 0);
	assert_int_equal(fn[0], f_req);
	assert_int_equal(res[1], -ENOENT);
	assert_int_equal(res[2], 0);
	assert_int_equal(fn[2], f_fan);
	assert_true(call_done);
	const void *data;
	size_t len;
	assert_int_equal(bk_result(f, &data, &len), 0);
	assert_int_equal(len, 4);
	assert_memory_equal(data, "loop", 4);
	bk_release(f);
	for (int i = 0; i < 3; i++)
		bk_lookup_free(r[i]);
	close(ep);
	bk_lookup_free(NULL);
	assert_int_equal(bk_lookup_async(C, "", &r[0]), -EINVAL);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(request_small),
		cmocka_unit_test(request_large_exact),
		cmocka_unit_test(request_buffer_full),
		cmocka_unit_test(request_refused),
		cmocka_unit_test(request_timeout),
		cmocka_unit_test(request_cancel_mid_recv),
		cmocka_unit_test(request_by_name),
		cmocka_unit_test(request_hostile_args),
		cmocka_unit_test(request_1000_concurrent),
		cmocka_unit_test(http_get_ok),
		cmocka_unit_test(http_get_404),
		cmocka_unit_test(http_get_malformed),
		cmocka_unit_test(http_get_small_buffer),
		cmocka_unit_test(http_get_hostile),
		cmocka_unit_test(fanout_mixed),
		cmocka_unit_test(lookup_async_epoll),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
