// SPDX-License-Identifier: MIT
/*
 * child_wait.c - a deadline-bounded waitpid (child_wait.h).  waitpid has no
 * timeout, so it polls with WNOHANG and sleeps a millisecond between looks:
 * the children waited for here live for milliseconds to seconds.
 */
#include "child_wait.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "broker/sys.h"

#define STEP_NS 1000000L

int bkt_child_wait(pid_t pid, int64_t deadline, int *status, bool kill_late)
{
	for (;;) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid) {
			*status = st;
			return 0;
		}
		if (r < 0 && errno != EINTR)
			return -errno;
		if (bk_now_ns() >= deadline)
			break;
		struct timespec ts = { 0, STEP_NS };
		nanosleep(&ts, NULL); /* an early wake-up (EINTR) only looks sooner */
	}
	if (kill_late && kill(pid, SIGKILL) == 0) {
		/* SIGKILL cannot be caught or ignored: this wait ends. */
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	return -ETIMEDOUT;
}
