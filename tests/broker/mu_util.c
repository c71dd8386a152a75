// SPDX-License-Identifier: MIT
/*
 * mu_util.c - helpers of the multi-user tests (mu_util.h).
 */
#include "mu_util.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <poll.h>
#include <grp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "child_wait.h"
#include "control.h"

#define CHILD_TIMEOUT_NS (30LL * BT_SEC)

/* In a child: groups, gid, uid (all three of each); false if any step failed. */
static bool become(const struct mu_ids *ids)
{
	if (ids->comm)
		prctl(PR_SET_NAME, ids->comm);
	/* A single-threaded child: the glibc wrappers change the whole (one-thread) process. */
	return setgroups(ids->ngroups, ids->groups) == 0 && setresgid(ids->gid, ids->gid, ids->gid) == 0 &&
	       setresuid(ids->uid, ids->uid, ids->uid) == 0;
}

pid_t mu_spawn_as(const struct mu_ids *ids, int (*body)(void *arg), void *arg)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (!become(ids))
			_exit(MU_SETID);
		int rc = body(arg);
		fflush(NULL);
		_exit(rc);
	}
	return pid;
}

int mu_wait_status(pid_t pid)
{
	int st;
	int r = bkt_child_wait(pid, bk_now_ns() + CHILD_TIMEOUT_NS, &st, true);
	if (r == -ETIMEDOUT)
		fail_msg("child %d did not finish within 30 s (killed)", (int)pid);
	assert_int_equal(r, 0);
	return st;
}

int mu_wait(pid_t pid)
{
	int st = mu_wait_status(pid);
	if (WIFSIGNALED(st))
		fail_msg("child %d died of signal %d", (int)pid, WTERMSIG(st));
	return WEXITSTATUS(st);
}

int mu_run_as(const struct mu_ids *ids, int (*body)(void *arg), void *arg)
{
	return mu_wait(mu_spawn_as(ids, body, arg));
}

int mu_need_root(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	return 0;
}

void mu_start(struct bkt_brokerd *b, const char *const *extra)
{
	const char *mod = getenv("BK_CREDMOD");
	if (!mod)
		fail_msg("BK_CREDMOD is not set");
	const char *argv[48];
	int n = 0;
	argv[n++] = "--socket-mode";
	argv[n++] = "0666";
	argv[n++] = "--module";
	argv[n++] = mod;
	for (int i = 0; extra && extra[i] && n < 47; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	bt_start(b, argv);
	assert_int_equal(chmod(b->dir, 0711), 0); /* the harness's folder is 0700 */
}

int mu_connect(const char *socket, bk_client **c, char *why, size_t len)
{
	why[0] = 0;
	*c = NULL;
	return bk_connect_error(socket, NULL, c, why, len);
}

int mu_call(bk_client *c, const char *name, const char *arg, char *out, size_t cap)
{
	bk_fn fn;
	int r = bk_lookup(c, name, &fn);
	if (r < 0)
		return r;
	bk_future *f = NULL;
	r = bk_submit(c, fn, arg, arg ? strlen(arg) : 0, &f);
	if (r < 0)
		return r;
	r = bk_wait(f, 10 * BT_SEC);
	if (r < 0) {
		bk_release(f);
		return r;
	}
	const void *data = NULL;
	size_t n = 0;
	int st = bk_result(f, &data, &n);
	if (out && cap) {
		size_t k = st == 0 && data ? (n < cap - 1 ? n : cap - 1) : 0;
		memcpy(out, data, k);
		out[k] = 0;
	}
	bk_release(f);
	return st;
}

int mu_ctl(const char *socket, uint16_t type, const char *arg, char *msg, size_t len)
{
	struct bkc_ctl k;
	msg[0] = 0;
	int r = bkc_ctl_open(&k, socket, 5000, msg, len);
	if (r < 0)
		return r;
	struct bk_msg_path req = { .h.type = type };
	snprintf(req.path, sizeof(req.path), "%s", arg);
	struct bk_msg_result res;
	r = bkc_ctl_call(&k, &req, sizeof(req), BK_MSG_RESULT, &res, sizeof(res), msg, len);
	bkc_ctl_close(&k);
	if (r >= (int)sizeof(res)) {
		res.message[sizeof(res.message) - 1] = 0;
		snprintf(msg, len, "%s", res.message);
		return res.status;
	}
	return r;
}

int mu_brokerctl(const struct mu_ids *ids, const char *const *args, char *out, size_t cap)
{
	const char *bin = getenv("BK_BROKERCTL");
	if (!bin)
		return -EINVAL;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (ids && !become(ids))
			_exit(MU_SETID);
		dup2(p[1], STDOUT_FILENO);
		dup2(p[1], STDERR_FILENO);
		const char *argv[32] = { bin };
		for (int i = 0; args[i] && i < 30; i++)
			argv[i + 1] = args[i];
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	size_t got = 0;
	int64_t deadline = bk_now_ns() + 10 * BT_SEC;
	for (;;) {
		struct pollfd pf = { .fd = p[0], .events = POLLIN };
		int64_t left_ms = (deadline - bk_now_ns()) / 1000000;
		if (left_ms <= 0 || poll(&pf, 1, (int)left_ms) <= 0)
			break;
		char tmp[512];
		ssize_t n = read(p[0], tmp, sizeof(tmp));
		if (n <= 0)
			break;
		size_t k = (size_t)n < cap - 1 - got ? (size_t)n : cap - 1 - got;
		memcpy(out + got, tmp, k);
		got += k;
	}
	out[got] = 0;
	close(p[0]);
	return mu_wait(pid);
}
