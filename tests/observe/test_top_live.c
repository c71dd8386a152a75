// SPDX-License-Identifier: MIT
/*
 * test_top_live.c - `brokerctl top` in a real terminal: a detached tmux
 * session of 80x24 (its own server socket in the harness folder) runs top
 * while obs_load keeps calling echo.noop; capture-pane must show obs_load's
 * row with a completed/s rate above zero, the sort key p must switch the
 * header, and q must end top (and with it the session).  Every wait is
 * bounded.  Skipped when tmux is not installed.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "obs_util.h"

#define TMUX "/usr/bin/tmux"

static struct bkt_brokerd B;
static struct obs_proc *P, *L; /* tmux commands; the workload */
static char tsock[160];

static int tmux(const char *const *args)
{
	const char *argv[16] = {TMUX, "-S", tsock};
	int n = 3;
	for (int i = 0; args[i] && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return obs_run(P, argv, 10);
}

/* The pane's text now (in P->out), 0 or tmux's status. */
static int capture(void)
{
	const char *a[] = {"capture-pane", "-p", "-t", "top", NULL};
	return tmux(a);
}

/* obs_load's row: "PID obs_load UID SUBM/S COMP/S ..." with a COMP/S above 0. */
static int row_rate_positive(const char *screen, pid_t pid)
{
	char key[32];
	snprintf(key, sizeof(key), "%7d obs_load", (int)pid);
	const char *r = strstr(screen, key);
	if (!r)
		return 0;
	char comm[32], sub[32], comp[32];
	unsigned p, uid;
	if (sscanf(r, "%u %31s %u %31s %31s", &p, comm, &uid, sub, comp) != 5)
		return 0;
	return strtod(comp, NULL) > 0;
}

static void test_top_tmux(void **state)
{
	(void)state;
	if (access(TMUX, X_OK) != 0) {
		fprintf(stderr, "tmux is not installed (tools/deps.sh installs it): skipped\n");
		skip();
	}
	const char *ctl = getenv("BK_BROKERCTL"), *load = getenv("BK_OBS_LOAD");
	assert_non_null(ctl);
	assert_non_null(load);
	P = calloc(1, sizeof(*P));
	L = calloc(1, sizeof(*L));
	assert_true(P && L);
	assert_int_equal(bk_test_broker_start(&B, NULL), 0);
	snprintf(tsock, sizeof(tsock), "%s/tmux.sock", B.dir);
	const char *w[] = {load, B.socket, "echo.noop", "", "-60", NULL};
	assert_int_equal(obs_spawn(L, w), 0);
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "%s --socket %s top --interval 0.3", ctl, B.socket);
	const char *nw[] = {"-f", "/dev/null", "new-session", "-d", "-s", "top", "-x", "80", "-y", "24", cmd, NULL};
	assert_int_equal(tmux(nw), 0);

	int64_t deadline = bk_now_ns() + 15000000000LL;
	int seen = 0;
	while (!seen && bk_now_ns() < deadline) {
		if (capture() == 0)
			seen = row_rate_positive(P->out, L->pid) && strstr(P->out, "echo.noop") != NULL;
		obs_pump(L, 50);
	}
	if (!seen)
		fail_msg("top never showed obs_load with a rate; last screen:\n%s", P->out);
	assert_non_null(strstr(P->out, "sort completed/s"));

	const char *kp[] = {"send-keys", "-t", "top", "p", NULL};
	assert_int_equal(tmux(kp), 0);
	deadline = bk_now_ns() + 10000000000LL;
	for (seen = 0; !seen && bk_now_ns() < deadline; obs_pump(L, 50))
		seen = capture() == 0 && strstr(P->out, "sort p99") != NULL;
	if (!seen)
		fail_msg("the sort key p did not change the header; last screen:\n%s", P->out);

	const char *kq[] = {"send-keys", "-t", "top", "q", NULL};
	assert_int_equal(tmux(kq), 0);
	const char *has[] = {"has-session", "-t", "top", NULL};
	deadline = bk_now_ns() + 10000000000LL;
	int gone = 0;
	while (!gone && bk_now_ns() < deadline) {
		gone = tmux(has) != 0; /* top exited, so its session closed */
		obs_pump(L, 50);
	}
	assert_true(gone);
	kill(L->pid, SIGTERM);
	obs_wait(L, bk_now_ns() + 10000000000LL);
	assert_int_equal(bk_test_broker_stop(&B), 0);
}

static int teardown(void **state)
{
	(void)state;
	if (tsock[0]) {
		const char *k[] = {"kill-server", NULL};
		tmux(k); /* ends a session a failed test left behind */
	}
	if (L && L->pid > 0 && !L->reaped) {
		kill(L->pid, SIGKILL);
		obs_wait(L, bk_now_ns() + 5000000000LL);
	}
	bk_test_broker_cleanup(&B);
	free(P);
	free(L);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_top_tmux, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
