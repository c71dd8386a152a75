// SPDX-License-Identifier: MIT
/*
 * test_service.c - brokerd under a service manager, without systemd as PID
 * 1: readiness through a NOTIFY_SOCKET datagram socket the test owns
 * (READY=1 only once a client is served, WATCHDOG=1 at half of
 * WATCHDOG_USEC, RELOADING=1 then READY=1 on SIGHUP, STOPPING=1 on
 * SIGTERM), socket activation through systemd-socket-activate, and the
 * SIGHUP rescan of a module folder (a new, an upgraded and a removed file).
 * Every wait is bounded and fails the test when it runs out.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/client.h"
#include "broker/sys.h"

#define SEC 1000000000ll
#define WAIT (10 * SEC)

static struct {
	char dir[40], mods[64], sock[80], notify[80];
	int nfd; /* the test's NOTIFY_SOCKET */
	pid_t pid;
} T;

static void copy_file(const char *src, const char *dst)
{
	char buf[65536], tmp[256];
	snprintf(tmp, sizeof(tmp), "%s.tmp", dst);
	int in = open(src, O_RDONLY | O_CLOEXEC), out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t n;
	assert_true(in >= 0 && out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	assert_int_equal(n, 0);
	close(in);
	assert_int_equal(close(out), 0);
	assert_int_equal(rename(tmp, dst), 0); /* a new file at the path, as an install does */
}

static void test_module(const char *file, const char *as)
{
	char src[512], dst[256];
	snprintf(src, sizeof(src), "%s/%s", BK_TEST_MODULE_DIR, file);
	snprintf(dst, sizeof(dst), "%s/%s", T.mods, as);
	copy_file(src, dst);
}

static int setup(void **state)
{
	(void)state;
	memset(&T, 0, sizeof(T));
	snprintf(T.dir, sizeof(T.dir), "/tmp/bk-service.XXXXXX");
	if (!mkdtemp(T.dir))
		return -1;
	snprintf(T.mods, sizeof(T.mods), "%s/mods", T.dir);
	snprintf(T.sock, sizeof(T.sock), "%s/broker.sock", T.dir);
	snprintf(T.notify, sizeof(T.notify), "%s/notify", T.dir);
	if (mkdir(T.mods, 0755) < 0)
		return -1;
	T.nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", T.notify);
	if (T.nfd < 0 || bind(T.nfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];
	(void)state;
	if (T.pid > 0) {
		kill(T.pid, SIGKILL);
		waitpid(T.pid, NULL, 0);
	}
	if (T.nfd > 0)
		close(T.nfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", T.dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Start argv with NOTIFY_SOCKET (and WATCHDOG_USEC when given) in its environment. */
static void spawn(const char *const *argv, const char *watchdog_usec)
{
	T.pid = fork();
	assert_true(T.pid >= 0);
	if (T.pid == 0) {
		setenv("NOTIFY_SOCKET", T.notify, 1);
		if (watchdog_usec)
			setenv("WATCHDOG_USEC", watchdog_usec, 1);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
}

/* The next notification that contains want (others are skipped), within WAIT; its arrival time. */
static int64_t expect_notify(const char *want)
{
	int64_t deadline = bk_now_ns() + WAIT;
	char msg[1024];
	for (;;) {
		int64_t left = deadline - bk_now_ns();
		struct pollfd p = { .fd = T.nfd, .events = POLLIN };
		if (left <= 0)
			fail_msg("no \"%s\" from brokerd within %lld s", want, WAIT / SEC);
		int r = poll(&p, 1, (int)(left / 1000000) + 1);
		assert_true(r >= 0 || errno == EINTR);
		if (r <= 0)
			continue;
		ssize_t n = recv(T.nfd, msg, sizeof(msg) - 1, 0);
		assert_true(n >= 0);
		msg[n] = 0;
		if (strstr(msg, want))
			return bk_now_ns();
	}
}

/* brokerd's exit status within WAIT after sig. */
static int stop(int sig)
{
	assert_int_equal(kill(T.pid, sig), 0);
	int64_t deadline = bk_now_ns() + WAIT;
	int st;
	pid_t r;
	while ((r = waitpid(T.pid, &st, WNOHANG)) == 0) {
		if (bk_now_ns() > deadline)
			fail_msg("brokerd did not exit within %lld s", WAIT / SEC);
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	assert_int_equal(r, T.pid);
	T.pid = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Call fn on a fresh connection and compare the text result; returns the call's status. */
static int call(const char *fn_name, const char *arg, const char *want)
{
	bk_client *c;
	char err[512];
	bk_fn fn;
	bk_future *f;
	const void *data;
	size_t len;
	if (bk_connect_error(T.sock, NULL, &c, err, sizeof(err)) != 0)
		fail_msg("connect %s: %s", T.sock, err);
	int rc = bk_lookup(c, fn_name, &fn);
	if (rc == 0) {
		assert_int_equal(bk_submit(c, fn, arg, strlen(arg), &f), 0);
		assert_int_equal(bk_wait(f, 5 * SEC), 0);
		rc = bk_result(f, &data, &len);
		if (rc == 0 && want && (len != strlen(want) || memcmp(data, want, len) != 0))
			fail_msg("%s: got \"%.*s\", want \"%s\"", fn_name, (int)len, (const char *)data, want);
		bk_release(f);
	}
	bk_disconnect(c);
	return rc;
}

static void test_readiness(void **state)
{
	(void)state;
	test_module("good.so", "good.so");
	const char *argv[] = { BK_BROKERD, "--foreground", "--workers", "1", "--socket", T.sock, "--module-dir",
			       T.mods, NULL };
	spawn(argv, "300000");
	expect_notify("READY=1");
	/* Ready means serving: the first connection attempt after READY=1 works. */
	assert_int_equal(call("good.ping", "", "pong"), 0);
	/* WATCHDOG=1 every 150 ms (half of WATCHDOG_USEC): three more, never closer than the period. */
	int64_t prev = expect_notify("WATCHDOG=1");
	for (int i = 0; i < 3; i++) {
		int64_t t = expect_notify("WATCHDOG=1");
		if (t - prev < 100 * 1000000ll)
			fail_msg("WATCHDOG=1 %lld ms after the previous one", (long long)((t - prev) / 1000000));
		prev = t;
	}
	assert_int_equal(kill(T.pid, SIGHUP), 0);
	expect_notify("RELOADING=1");
	expect_notify("READY=1");
	assert_int_equal(kill(T.pid, SIGTERM), 0);
	expect_notify("STOPPING=1");
	assert_int_equal(stop(0), 0); /* signal 0: already sent */
}

static void test_socket_activation(void **state)
{
	(void)state;
	test_module("good.so", "good.so");
	const char *argv[] = { BK_SOCKET_ACTIVATE, "--seqpacket", "-l", T.sock, "-E", "NOTIFY_SOCKET", BK_BROKERD,
			       "--foreground", "--workers", "1", "--module-dir", T.mods, NULL };
	spawn(argv, NULL);
	/* systemd-socket-activate binds before it starts brokerd; wait for the socket file (bounded). */
	int64_t deadline = bk_now_ns() + WAIT;
	struct stat st;
	while (lstat(T.sock, &st) < 0) {
		if (bk_now_ns() > deadline)
			fail_msg("systemd-socket-activate did not bind %s", T.sock);
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	/* The first client starts brokerd on the inherited socket and is served. */
	assert_int_equal(call("good.ping", "", "pong"), 0);
	expect_notify("READY=1");
	assert_int_equal(stop(SIGTERM), 0);
	/* The socket belongs to the activating side: brokerd leaves the file alone. */
	assert_int_equal(lstat(T.sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
}

static void reload(void)
{
	assert_int_equal(kill(T.pid, SIGHUP), 0);
	expect_notify("RELOADING=1");
	expect_notify("READY=1"); /* sent after the rescan */
}

static void test_sighup_rescan(void **state)
{
	(void)state;
	test_module("good.so", "good.so");
	const char *argv[] = { BK_BROKERD, "--foreground", "--workers", "1", "--socket", T.sock, "--module-dir",
			       T.mods, NULL };
	spawn(argv, NULL);
	expect_notify("READY=1");
	assert_int_equal(call("upgrade.version", "", NULL), -ENOENT);
	test_module("upgrade_v1.so", "up.so"); /* a new file */
	reload();
	assert_int_equal(call("upgrade.version", "", "1"), 0);
	assert_int_equal(call("good.ping", "", "pong"), 0);
	test_module("upgrade_v2.so", "up.so"); /* an upgraded file */
	reload();
	assert_int_equal(call("upgrade.version", "", "2"), 0);
	char gone[160];
	snprintf(gone, sizeof(gone), "%s/good.so", T.mods);
	assert_int_equal(unlink(gone), 0); /* a removed file */
	reload();
	assert_int_equal(call("good.ping", "", NULL), -ENOENT);
	assert_int_equal(call("upgrade.version", "", "2"), 0);
	assert_int_equal(stop(SIGTERM), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_readiness, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_activation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sighup_rescan, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
