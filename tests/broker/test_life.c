// SPDX-License-Identifier: MIT
/*
 * test_life.c - brokerd's life cycle and its command line: bad flags exit 2,
 * a second brokerd on a live socket is refused while the first keeps
 * serving, a stale socket is replaced, SIGTERM with tasks in flight drains
 * and exits 0 (or cancels after --grace-ms), STATUS and CLIENTS report what
 * happened, and an idle brokerd uses ~0 % CPU.
 */
#include <errno.h>
#include <fcntl.h>
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

#include "bk_config.h"
#include "bt_util.h"
#include "child_wait.h"
#include "control.h"

/* Run brokerd with argv tail, output to files; returns its exit status, or fails after 10 s. */
static int run_brokerd(const char *const *args, char *out, size_t outlen)
{
	char path[] = "/tmp/bk-life-out-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *argv[32];
	int n = 0;
	argv[n++] = getenv("BK_BROKERD");
	for (int i = 0; args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	int st = 0;
	if (bkt_child_wait(pid, bk_now_ns() + 10 * BT_SEC, &st, true) < 0)
		fail_msg("brokerd did not exit within 10 s (killed)");
	ssize_t k = pread(fd, out, outlen - 1, 0);
	out[k > 0 ? k : 0] = 0;
	close(fd);
	unlink(path);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void test_flags(void **state)
{
	(void)state;
	char out[4096];
	static const char *const bad[][4] = {
		{ "--workers", "0", NULL }, { "--bogus", NULL },	   { "--spin-us", "abc", NULL },
		{ "--log-level", "loud", NULL }, { "--workers", NULL }, { "stray", NULL },
		{ "--grace-ms", "-5", NULL },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(run_brokerd(bad[i], out, sizeof(out)), 2);
		assert_non_null(strstr(out, "brokerd: "));
	}
	static const char *const help[] = { "--help", NULL };
	assert_int_equal(run_brokerd(help, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "Usage: brokerd"));
	assert_non_null(strstr(out, "--module-dir"));
	static const char *const version[] = { "--version", NULL };
	assert_int_equal(run_brokerd(version, out, sizeof(out)), 0);
	assert_non_null(strstr(out, BK_VERSION));
}

static void echo_works(const char *socket)
{
	bk_client *c = bt_connect(socket);
	char out[16];
	size_t n = 0;
	assert_int_equal(bt_call(c, bt_lookup(c, "echo.echo"), "alive", 5, out, sizeof(out), &n), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(out, "alive", 5);
	bk_disconnect(c);
}

static void test_second_refused(void **state)
{
	(void)state;
	struct bkt_brokerd b;
	bt_start(&b, NULL);
	char out[4096];
	const char *const args[] = { "--foreground", "--socket", b.socket, "--module-dir", getenv("BK_MODULE_DIR"),
				     NULL };
	assert_int_equal(run_brokerd(args, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "another brokerd already serves"));
	echo_works(b.socket); /* the first one is untouched */

	/* A killed brokerd leaves a stale socket file behind: the next one replaces it. */
	bk_test_broker_kill(&b);
	assert_int_equal(access(b.socket, F_OK), 0);
	assert_int_equal(bk_test_broker_restart(&b, NULL), 0);
	echo_works(b.socket);
	assert_true(bt_log_count(&b, "replacing stale socket") >= 1);

	/* Something that is not a socket is never removed. */
	int rc = bk_test_broker_stop(&b);
	assert_int_equal(rc, 0);
	assert_int_equal(access(b.socket, F_OK), -1); /* a clean stop removes its socket */
	int fd = open(b.socket, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(run_brokerd(args, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "is not a socket"));
	assert_int_equal(access(b.socket, F_OK), 0);
	unlink(b.socket);
	bk_test_broker_cleanup(&b);
}

static void wait_inflight(const char *socket, uint64_t want)
{
	struct bk_msg_status_reply st;
	int64_t deadline = bk_now_ns() + 5 * BT_SEC;
	for (;;) {
		bt_status(socket, &st);
		if (st.inflight == want)
			return;
		if (bk_now_ns() > deadline)
			fail_msg("in flight stayed %llu, expected %llu", (unsigned long long)st.inflight,
				 (unsigned long long)want);
		struct timespec ts = { 0, 2000000 };
		nanosleep(&ts, NULL);
	}
}

#define NT 20

static void sigterm_case(const char *const *extra, const char *ms, int want_status)
{
	struct bkt_brokerd b;
	bt_start(&b, extra);
	bk_client *c = bt_connect(b.socket);
	bk_fn fn = bt_lookup(c, "timer.sleep");
	bk_future *f[NT];
	for (int i = 0; i < NT; i++)
		assert_int_equal(bk_submit(c, fn, ms, strlen(ms), &f[i]), 0);
	wait_inflight(b.socket, NT);
	int64_t t0 = bk_now_ns();
	int rc = bk_test_broker_stop(&b);
	double secs = (double)(bk_now_ns() - t0) / 1e9;
	if (rc != 0)
		bk_test_broker_dump_log(&b);
	assert_int_equal(rc, 0);
	for (int i = 0; i < NT; i++) {
		/* brokerd completed every task before it exited. */
		assert_int_equal(bk_poll(f[i]), 1);
		assert_int_equal(bk_result(f[i], NULL, NULL), want_status);
		bk_release(f[i]);
	}
	bk_disconnect(c);
	assert_true(bt_log_count(&b, "shutting down") == 1);
	print_message("SIGTERM with %d x timer.sleep %s in flight: exit 0 after %.3f s\n", NT, ms, secs);
	bk_test_broker_cleanup(&b);
}

static void test_sigterm_drains(void **state)
{
	(void)state;
	sigterm_case(NULL, "300", 0); /* they finish within the default grace period */
}

static void test_sigterm_cancels_after_grace(void **state)
{
	(void)state;
	static const char *const extra[] = { "--grace-ms", "200", NULL };
	sigterm_case(extra, "60000", -ECANCELED);
}

/*
 * SIGTERM while a worker is stuck for a while in one long handler (echo.upper
 * over 64 MiB of zero-copy argument), right after its client went: the
 * worker then finds the teardown, the drain and the stop in one turn, and
 * must leave its loop instead of going to sleep with nobody left to wake it.
 */
static void test_sigterm_after_long_handler(void **state)
{
	(void)state;
	static const char *const extra[] = { "--workers", "1", "--spin-us", "0", NULL };
	for (int round = 0; round < 3; round++) {
		struct bkt_brokerd b;
		bt_start(&b, extra);
		bk_client *c;
		bk_options o;
		bk_options_init(&o);
		o.zero_copy_size = 160u << 20;
		assert_int_equal(bk_connect(b.socket, &o, &c), 0);
		bk_fn up = bt_lookup(c, "echo.upper");
		const size_t len = 64u << 20;
		void *arg = bk_buf_alloc(c, len), *res = bk_buf_alloc(c, len);
		assert_non_null(arg);
		assert_non_null(res);
		memset(arg, 'a', len);
		bk_call k = { .fn = up, .arg = arg, .len = len, .result = res, .result_cap = len };
		bk_future *f;
		assert_int_equal(bk_submit_batch(c, &k, 1, &f), 1);
		bk_disconnect(c);
		int rc = bk_test_broker_stop(&b); /* fails (-ETIMEDOUT) if brokerd hangs */
		if (rc != 0)
			bk_test_broker_dump_log(&b);
		assert_int_equal(rc, 0);
		bk_test_broker_cleanup(&b);
	}
}

static void test_status_and_clients(void **state)
{
	(void)state;
	struct bkt_brokerd b;
	static const char *const extra[] = { "--workers", "2", NULL };
	bt_start(&b, extra);
	bk_client *c = bt_connect(b.socket);
	bk_fn fn = bt_lookup(c, "echo.echo");
	char out[8];
	for (int i = 0; i < 6; i++)
		assert_int_equal(bt_call(c, fn, "x", 1, out, sizeof(out), NULL), 0);

	struct bk_msg_status_reply st;
	bt_status(b.socket, &st);
	assert_string_equal(st.version, BK_VERSION);
	assert_int_equal(st.pid, (uint32_t)b.pid);
	assert_int_equal(st.workers, 2);
	assert_true(st.modules >= 4);
	assert_int_equal(st.connections, 2); /* the client and this control connection */
	assert_true(st.tasks_done >= 6);
	assert_int_equal(st.inflight, 0);
	/* STATUS counted while its own control connection was open; /proc is read after it closed. */
	int fds_now = bk_test_broker_fd_count(&b);
	assert_true((int)st.open_fds >= fds_now && (int)st.open_fds <= fds_now + 1);
	assert_true(st.rss_bytes > 0);

	struct bkc_ctl k;
	char err[256];
	assert_int_equal(bkc_ctl_open(&k, b.socket, 5000, err, sizeof(err)), 0);
	struct bk_msg_list req = { .h.type = BK_MSG_CLIENTS, .start = 0 };
	static _Alignas(8) uint8_t buf[BK_WIRE_MAX_MSG];
	int n = bkc_ctl_call(&k, &req, sizeof(req), BK_MSG_CLIENTS_REPLY, buf, sizeof(buf), err, sizeof(err));
	assert_true(n >= (int)sizeof(struct bk_msg_list_reply));
	const struct bk_msg_list_reply *rep = (const void *)buf;
	assert_int_equal(rep->total, 1); /* control connections are not clients */
	assert_int_equal(rep->count, 1);
	const struct bk_wire_client *cl = (const void *)(rep + 1);
	assert_int_equal(cl->pid, (uint32_t)getpid());
	assert_int_equal(cl->uid, (uint32_t)getuid());
	assert_int_equal(cl->submitted, 6);
	assert_int_equal(cl->completed, 6);
	assert_int_equal(cl->inflight, 0);
	assert_int_equal(cl->nslots, BK_DEFAULT_SLOTS);

	/* Paging past the end gives the total and no records. */
	req.start = 5;
	n = bkc_ctl_call(&k, &req, sizeof(req), BK_MSG_CLIENTS_REPLY, buf, sizeof(buf), err, sizeof(err));
	assert_int_equal(n, (int)sizeof(struct bk_msg_list_reply));
	assert_int_equal(rep->total, 1);
	assert_int_equal(rep->count, 0);

	struct bk_msg_list mreq = { .h.type = BK_MSG_MODULES, .start = 0 };
	n = bkc_ctl_call(&k, &mreq, sizeof(mreq), BK_MSG_MODULES_REPLY, buf, sizeof(buf), err, sizeof(err));
	assert_true(n > (int)sizeof(struct bk_msg_list_reply));
	assert_true(rep->count >= 4);

	/* LOAD of a file that does not exist: a RESULT with an error and a message, brokerd carries on. */
	struct bk_msg_path lreq = { .h.type = BK_MSG_LOAD };
	snprintf(lreq.path, sizeof(lreq.path), "/nonexistent/mod.so");
	n = bkc_ctl_call(&k, &lreq, sizeof(lreq), BK_MSG_RESULT, buf, sizeof(buf), err, sizeof(err));
	assert_int_equal(n, (int)sizeof(struct bk_msg_result));
	const struct bk_msg_result *res = (const void *)buf;
	assert_int_equal(res->status, -ENOENT);
	assert_non_null(strstr(res->message, "/nonexistent/mod.so"));
	bkc_ctl_close(&k);

	bk_disconnect(c);
	assert_int_equal(bk_test_broker_stop(&b), 0);
	bk_test_broker_cleanup(&b);
}

static unsigned long long cpu_ticks(pid_t pid)
{
	char path[64], buf[2048];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	const char *p = strrchr(buf, ')'); /* comm may contain spaces */
	assert_non_null(p);
	unsigned long long ut = 0, stt = 0;
	/* After ")": state(3) ... utime is field 14, stime 15. */
	int r = sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &stt);
	assert_int_equal(r, 2);
	return ut + stt;
}

static void test_idle_cpu(void **state)
{
	(void)state;
	struct bkt_brokerd b;
	bt_start(&b, NULL);
	/* A connected client with a served call: the worker has a wake request armed for it. */
	bk_client *c = bt_connect(b.socket);
	assert_int_equal(bt_call(c, bt_lookup(c, "echo.noop"), "", 0, NULL, 0, NULL), 0);
	const char *env = getenv("BK_IDLE_SECONDS");
	int secs = env && atoi(env) > 0 ? atoi(env) : 2;
	struct timespec one = { 1, 0 }; /* the 1 s of idleness before the measurement window */
	nanosleep(&one, NULL);
	unsigned long long t0 = cpu_ticks(b.pid);
	struct timespec win = { secs, 0 }; /* the measurement window itself */
	nanosleep(&win, NULL);
	unsigned long long t1 = cpu_ticks(b.pid);
	long hz = sysconf(_SC_CLK_TCK);
	double pct = 100.0 * (double)(t1 - t0) / ((double)hz * secs);
	print_message("idle brokerd: %llu ticks over %d s = %.2f %% CPU\n", t1 - t0, secs, pct);
	assert_true(pct <= 1.0);
	bk_disconnect(c);
	assert_int_equal(bk_test_broker_stop(&b), 0);
	bk_test_broker_cleanup(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_second_refused),
		cmocka_unit_test(test_sigterm_drains),
		cmocka_unit_test(test_sigterm_cancels_after_grace),
		cmocka_unit_test(test_sigterm_after_long_handler),
		cmocka_unit_test(test_status_and_clients),
		cmocka_unit_test(test_idle_cpu),
	};
	return cmocka_run_group_tests_name("brokerd life cycle", tests, NULL, NULL);
}
