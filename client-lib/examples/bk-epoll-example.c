// SPDX-License-Identifier: MIT
/*
 * bk-epoll-example.c - libbkclient in an event loop: bk_fd() sits in an
 * epoll set, bk_dispatch() runs completion callbacks, and each callback
 * checks its result and submits the next task so that 1,000 futures stay in
 * flight until the total is done.
 *
 *   broker-epoll-example [--socket PATH] [--tasks N] [--inflight N]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "bk_config.h"

#include <broker/client.h>

struct loop {
	bk_client *c;
	bk_fn echo;
	long total, submitted, completed, bad, inflight, max_inflight;
	int submit_error;
	unsigned char *seen;
};

static int submit_one(struct loop *l);

static void on_complete(bk_future *f, void *ud)
{
	struct loop *l = ud;
	const void *data;
	size_t len;
	int st = bk_result(f, &data, &len);
	/* The argument was "task-<k>": echo must return it byte for byte, and each k exactly once. */
	char tmp[32];
	if (st != 0 || len < 6 || len >= sizeof(tmp) || memcmp(data, "task-", 5) != 0) {
		l->bad++;
	} else {
		memcpy(tmp, data, len);
		tmp[len] = 0;
		char *end;
		long k = strtol(tmp + 5, &end, 10);
		if (*end || k < 0 || k >= l->total || l->seen[k])
			l->bad++;
		else
			l->seen[k] = 1;
	}
	l->completed++;
	l->inflight--;
	bk_release(f);
	if (l->submitted < l->total && !l->submit_error)
		submit_one(l);
}

static int submit_one(struct loop *l)
{
	char arg[32];
	int n = snprintf(arg, sizeof(arg), "task-%ld", l->submitted);
	bk_future *f;
	int r = bk_submit(l->c, l->echo, arg, (size_t)n, &f);
	if (r == 0)
		r = bk_on_complete(f, on_complete, l);
	if (r < 0) {
		if (r != -EAGAIN)
			l->submit_error = r;
		return r;
	}
	l->submitted++;
	if (++l->inflight > l->max_inflight)
		l->max_inflight = l->inflight;
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *sock = NULL;
	long total = 100000, window = 1000;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--version")) {
			printf("broker-epoll-example %s\n", BK_VERSION);
			return 0;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: broker-epoll-example [--socket PATH] [--tasks N] [--inflight N]\n"
			       "Runs N (default 100000) echo.echo tasks from an epoll loop with bk_fd/bk_dispatch,\n"
			       "keeping --inflight (default 1000) futures in flight, checks every result and\n"
			       "prints a summary.  Exit status 0 only if every task came back right.\n");
			return 0;
		} else if (!strcmp(argv[i], "--socket") && i + 1 < argc) {
			sock = argv[++i];
		} else if (!strcmp(argv[i], "--tasks") && i + 1 < argc) {
			total = atol(argv[++i]);
		} else if (!strcmp(argv[i], "--inflight") && i + 1 < argc) {
			window = atol(argv[++i]);
		} else {
			fprintf(stderr, "broker-epoll-example: unknown argument '%s' (try --help)\n", argv[i]);
			return 2;
		}
	}
	if (total <= 0 || window <= 0 || window > 65536) {
		fprintf(stderr, "broker-epoll-example: --tasks must be > 0 and --inflight in 1..65536\n");
		return 2;
	}
	bk_options o;
	bk_options_init(&o);
	o.max_inflight = (uint32_t)window;
	o.sq_entries = (uint32_t)window;
	bk_client *c;
	char err[512];
	int r = bk_connect_error(sock, &o, &c, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "broker-epoll-example: cannot connect: %s (%s)\n", err, bk_strerror(r));
		return 1;
	}
	struct loop l = {.c = c, .total = total, .seen = calloc((size_t)total, 1)};
	if (!l.seen) {
		fprintf(stderr, "broker-epoll-example: out of memory\n");
		bk_disconnect(c);
		return 1;
	}
	if ((r = bk_lookup(c, "echo.echo", &l.echo)) < 0) {
		fprintf(stderr, "broker-epoll-example: lookup echo.echo: %s\n", bk_strerror(r));
		bk_disconnect(c);
		return 1;
	}
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN};
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, bk_fd(c), &ev) < 0) {
		perror("broker-epoll-example: epoll");
		bk_disconnect(c);
		return 1;
	}
	double t0 = now_s();
	while (l.submitted < total && l.inflight < window && submit_one(&l) == 0)
		;
	int rc = 0;
	while (l.completed < l.submitted && !l.submit_error) {
		struct epoll_event out;
		int n = epoll_wait(ep, &out, 1, 10000);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "broker-epoll-example: no completion for 10 s (%ld of %ld done)\n", l.completed, total);
			rc = 1;
			break;
		}
		r = bk_dispatch(c);
		if (r < 0) {
			fprintf(stderr, "broker-epoll-example: dispatch: %s\n", bk_strerror(r));
			rc = 1;
			break;
		}
		/* Refill if callbacks could not (ring momentarily full). */
		while (l.submitted < total && l.inflight < window && submit_one(&l) == 0)
			;
	}
	double dt = now_s() - t0;
	if (l.submit_error) {
		fprintf(stderr, "broker-epoll-example: submit: %s\n", bk_strerror(l.submit_error));
		rc = 1;
	}
	printf("%ld tasks, %ld completed, %ld wrong, max in flight %ld, %.3f s, %.0f tasks/s\n", total, l.completed,
	       l.bad, l.max_inflight, dt, dt > 0 ? l.completed / dt : 0.0);
	close(ep);
	free(l.seen);
	bk_disconnect(c);
	return rc || l.bad || l.completed != total ? 1 : 0;
}
