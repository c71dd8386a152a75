// SPDX-License-Identifier: MIT
/*
 * ring_util.h - helpers shared by the ring tests: monotonic clock, a
 * watchdog that fails the test (and kills the forked "broker") when a
 * deadline passes, a payload hash both sides compute, and counts that the
 * sanitizer runs may scale down through the environment.
 */
#ifndef BK_RING_UTIL_H
#define BK_RING_UTIL_H

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker/sys.h"

/* splitmix64 finaliser: the per-entry payload and the broker's answer. */
static inline uint64_t rt_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/*
 * A count from the environment (the sanitizer runs set it in tests/ring/
 * meson.build to scale stress counts down); the plain run uses the default.
 */
static inline uint64_t rt_env_count(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);
	if (!s || !*s)
		return dflt;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v == 0) {
		fprintf(stderr, "bad %s=%s, using %llu\n", name, s, (unsigned long long)dflt);
		return dflt;
	}
	return v;
}

/* ---- watchdog: a deadline that fails the test instead of hanging ------- */

struct rt_watchdog {
	pthread_t thr;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	int64_t deadline_ns; /* CLOCK_MONOTONIC */
	const char *what;
	pid_t child; /* killed on expiry when > 0 */
	void (*report)(void); /* prints progress on expiry, may be NULL */
};

static inline void *rt_watchdog_main(void *arg)
{
	struct rt_watchdog *w = arg;
	pthread_mutex_lock(&w->mu);
	while (!w->done) {
		struct timespec ts = { .tv_sec = w->deadline_ns / 1000000000, .tv_nsec = w->deadline_ns % 1000000000 };
		int r = pthread_cond_timedwait(&w->cv, &w->mu, &ts);
		if (r == ETIMEDOUT && !w->done) {
			fprintf(stderr, "WATCHDOG: %s did not finish before its deadline (a hang or a lost wakeup)\n",
				w->what);
			if (w->report)
				w->report();
			if (w->child > 0)
				kill(w->child, SIGKILL);
			fflush(stderr);
			_exit(3);
		}
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static inline void rt_watchdog_start(struct rt_watchdog *w, double seconds, const char *what, pid_t child,
				     void (*report)(void))
{
	pthread_condattr_t ca;
	memset(w, 0, sizeof(*w));
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&w->mu, NULL);
	w->deadline_ns = bk_now_ns() + (int64_t)(seconds * 1e9);
	w->what = what;
	w->child = child;
	w->report = report;
	if (pthread_create(&w->thr, NULL, rt_watchdog_main, w) != 0) {
		fprintf(stderr, "cannot start the watchdog thread\n");
		_exit(4);
	}
}

static inline void rt_watchdog_stop(struct rt_watchdog *w)
{
	pthread_mutex_lock(&w->mu);
	w->done = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thr, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
}

/*
 * Wait for the forked broker process, bounded: returns its exit status
 * (0-255), 128+signal, or -ETIMEDOUT after killing it.
 */
static inline int rt_wait_child(pid_t pid, double seconds)
{
	int64_t end = bk_now_ns() + (int64_t)(seconds * 1e9);
	for (;;) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (r < 0)
			return -errno;
		if (bk_now_ns() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -ETIMEDOUT;
		}
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
}

/* In the forked broker: die with the parent so a failed test leaves nothing behind. */
static inline void rt_child_setup(void)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(5);
}

#endif /* BK_RING_UTIL_H */
