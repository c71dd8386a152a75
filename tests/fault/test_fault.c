// SPDX-License-Identifier: MIT
/*
 * test_fault.c - fault injection into a running brokerd: while
 * memfd_create fails, while shared mmap fails (tests/fault/faultshim.c,
 * preloaded into brokerd and switched through a control file) and while its
 * RLIMIT_NOFILE is down to what it already holds (prlimit), a new
 * connection is refused with a reason naming the cause, a client connected
 * before keeps being served, no descriptor is left behind, and once the
 * fault is gone new connections are served again.  A brokerd whose
 * io_uring_setup fails (seccomp, since liburing makes the system call
 * itself) does not start and says why.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "bt_util.h"
#include "child_wait.h"

#define MS 1000000LL

struct fault_env {
	struct bkt_brokerd b;
	char ctl[160]; /* the shim's control file */
	bk_client *before; /* connected before the fault */
	bk_fn upper;
};

static void ctl_write(const struct fault_env *e, const char *words)
{
	int fd = open(e->ctl, O_WRONLY | O_TRUNC | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	size_t n = strlen(words);
	assert_int_equal(write(fd, words, n), (ssize_t)n);
	assert_int_equal(close(fd), 0);
}

static void call_upper(bk_client *c, bk_fn fn)
{
	char out[16];
	size_t len = 0;
	assert_int_equal(bt_call(c, fn, "served", 6, out, sizeof(out), &len), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(out, "SERVED", 6);
}

/* brokerd with the shim preloaded; the variables are set only around the start, so this test runs without. */
static void start_shimmed(struct fault_env *e)
{
	const char *shim = getenv("BK_FAULT_SHIM");
	assert_non_null(shim);
	snprintf(e->ctl, sizeof(e->ctl), "%s/fault-ctl.%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
	ctl_write(e, "");
	const char *asan = getenv("ASAN_OPTIONS");
	char *saved = asan ? strdup(asan) : NULL;
	char opts[512];
	/* The sanitizer runtime wants to come first; a preloaded library is first by definition. */
	snprintf(opts, sizeof(opts), "%s%sverify_asan_link_order=0", asan ? asan : "", asan && *asan ? ":" : "");
	assert_int_equal(setenv("ASAN_OPTIONS", opts, 1), 0);
	assert_int_equal(setenv("LD_PRELOAD", shim, 1), 0);
	assert_int_equal(setenv("BK_FAULT_CTL", e->ctl, 1), 0);
	static const char *const extra[] = { "--workers", "1", NULL };
	int r = bk_test_broker_start(&e->b, extra);
	unsetenv("LD_PRELOAD");
	unsetenv("BK_FAULT_CTL");
	if (saved)
		setenv("ASAN_OPTIONS", saved, 1);
	else
		unsetenv("ASAN_OPTIONS");
	free(saved);
	if (r < 0)
		fail_msg("brokerd did not start with the shim: %s", strerror(-r));
	e->before = bt_connect(e->b.socket);
	e->upper = bt_lookup(e->before, "echo.upper");
	call_upper(e->before, e->upper);
}

/* brokerd's descriptors are back at base within 10 s (a refused connection is closed asynchronously). */
static void fds_settle(const struct fault_env *e, int base)
{
	int64_t deadline = bk_now_ns() + 10 * BT_SEC;
	int n;
	while ((n = bk_test_broker_fd_count(&e->b)) != base && bk_now_ns() < deadline) {
		struct timespec ts = { 0, 10 * MS };
		nanosleep(&ts, NULL);
	}
	assert_int_equal(n, base);
}

/* While the fault lasts: refused with a reason containing want; the earlier client is served. */
static void refused_then_served(struct fault_env *e, const char *want)
{
	int base = bk_test_broker_fd_count(&e->b);
	assert_true(base > 0);
	for (int i = 0; i < 3; i++) {
		char why[512] = "";
		bk_client *c = NULL;
		int r = bk_connect_error(e->b.socket, NULL, &c, why, sizeof(why));
		if (r == 0 || !strstr(why, want))
			bk_test_broker_dump_log(&e->b);
		if (r == 0)
			fail_msg("connection %d was accepted while %s failed", i, want);
		if (!strstr(why, want))
			fail_msg("refusal %d (%d, %s) does not name %s: '%s'", i, r, bk_strerror(r), want, why);
		if (i == 0)
			print_message("  refused: %s\n", why);
		call_upper(e->before, e->upper);
	}
	fds_settle(e, base);
}

static void recovered(struct fault_env *e)
{
	bk_client *c = bt_connect(e->b.socket);
	call_upper(c, bt_lookup(c, "echo.upper"));
	call_upper(e->before, e->upper);
	bk_disconnect(c);
}

static void finish(struct fault_env *e)
{
	bk_disconnect(e->before);
	assert_int_equal(bk_test_broker_stop(&e->b), 0);
	bk_test_broker_cleanup(&e->b);
	unlink(e->ctl);
}

/* The shim fails `word` while a client connects: refused naming `want`; served again once the word is gone. */
static void shim_fault(const char *word, const char *want)
{
	struct fault_env e = { 0 };
	start_shimmed(&e);
	ctl_write(&e, word);
	refused_then_served(&e, want);
	ctl_write(&e, "");
	recovered(&e);
	finish(&e);
}

static void test_memfd_create_fails(void **state)
{
	(void)state;
	shim_fault("memfd", "memfd_create");
}

static void test_region_mmap_fails(void **state)
{
	(void)state;
	shim_fault("mmap", "mmap");
}

/*
 * The soft limit down to what brokerd holds now plus `spare`: with two, room
 * to accept a connection and take its HELLO (which carries the client's
 * eventfd), none for its region.
 */
static void fd_limit_then_raised(unsigned spare, const char *want)
{
	struct fault_env e = { 0 };
	static const char *const extra[] = { "--workers", "1", NULL };
	bt_start(&e.b, extra);
	e.before = bt_connect(e.b.socket);
	e.upper = bt_lookup(e.before, "echo.upper");
	call_upper(e.before, e.upper);
	struct rlimit was, tight;
	assert_int_equal(prlimit(e.b.pid, RLIMIT_NOFILE, NULL, &was), 0);
	int held = bk_test_broker_fd_count(&e.b);
	assert_true(held > 0);
	tight = (struct rlimit){ .rlim_cur = (rlim_t)held + spare, .rlim_max = was.rlim_max };
	assert_int_equal(prlimit(e.b.pid, RLIMIT_NOFILE, &tight, NULL), 0);
	refused_then_served(&e, want);
	assert_int_equal(prlimit(e.b.pid, RLIMIT_NOFILE, &was, NULL), 0);
	recovered(&e);
	finish(&e);
}

static void test_fd_limit_then_raised(void **state)
{
	(void)state;
	fd_limit_then_raised(2, "file descriptors");
}

/*
 * One descriptor free: the accepted connection takes it, and the next
 * accept4 fails with EMFILE even with nothing queued (the kernel reserves
 * the descriptor first).  brokerd used to spin in bkd_admit_accept here (the
 * spare closed, its accept finding nothing, the spare reopened, accept4
 * failing again, ...) and answer nobody: the client then waited out its
 * 5 s HELLO timeout ("no HELLO reply within").  Now the client is told at
 * once, though with no reason: its HELLO carries an eventfd that brokerd has
 * no descriptor left to receive, so all brokerd can do is close.
 */
static void test_fd_limit_exactly_one_free(void **state)
{
	(void)state;
	fd_limit_then_raised(1, "closed the connection");
}

/* A child that cannot set up an io_uring: seccomp answers io_uring_setup with ENOMEM. */
static void deny_io_uring_setup(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOMEM & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
		_exit(120);
}

static void test_io_uring_setup_fails(void **state)
{
	(void)state;
	const char *bin = getenv("BK_BROKERD"), *moddir = getenv("BK_MODULE_DIR");
	assert_non_null(bin);
	assert_non_null(moddir);
	char sock[128];
	snprintf(sock, sizeof(sock), "%s/fault-uring.%d.sock", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
	int pfd[2];
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		deny_io_uring_setup();
		execl(bin, bin, "--foreground", "--socket", sock, "--module-dir", moddir, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	char log[8192];
	size_t have = 0;
	int64_t deadline = bk_now_ns() + 10 * BT_SEC;
	for (;;) { /* read until brokerd closes its end (it exits) or the deadline */
		int left = (int)((deadline - bk_now_ns()) / MS);
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		if (left <= 0 || poll(&p, 1, left) <= 0)
			break;
		ssize_t n = read(pfd[0], log + have, sizeof(log) - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	log[have] = 0;
	close(pfd[0]);
	int st = 0;
	/* Its end of the pipe closes as it exits; the exit itself may take a moment more (bounded). */
	int w = bkt_child_wait(pid, deadline, &st, true);
	unlink(sock);
	if (w == -ETIMEDOUT)
		fail_msg("brokerd kept running without io_uring (killed); its log:\n%s", log);
	assert_int_equal(w, 0);
	assert_true(WIFEXITED(st));
	assert_int_not_equal(WEXITSTATUS(st), 120); /* the filter was installed */
	assert_int_not_equal(WEXITSTATUS(st), 0);
	const char *why = strstr(log, "io_uring");
	if (!why)
		fail_msg("brokerd's refusal to start does not name io_uring:\n%s", log);
	print_message("  exit status %d: ...%.*s\n", WEXITSTATUS(st), (int)strcspn(why, "\n"), why);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memfd_create_fails),
		cmocka_unit_test(test_region_mmap_fails),
		cmocka_unit_test(test_fd_limit_then_raised),
		cmocka_unit_test(test_fd_limit_exactly_one_free),
		cmocka_unit_test(test_io_uring_setup_fails),
	};
	return cmocka_run_group_tests_name("brokerd under fault injection", tests, NULL, NULL);
}
