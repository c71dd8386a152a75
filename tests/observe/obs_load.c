// SPDX-License-Identifier: MIT
/*
 * obs_load.c - the known workload of the observability tests: one client
 * that makes N calls of FUNCTION with ARG, one at a time (each waited for,
 * so the counts brokerd keeps can be compared exactly), or keeps calling
 * for S seconds.  Prints "calls N ok K errors E" and exits 0, or 1 when a
 * call could not be made at all.
 *
 *   obs_load SOCKET FUNCTION ARG N         N calls
 *   obs_load SOCKET FUNCTION ARG -S        calls for S seconds
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/client.h"
#include "broker/sys.h"

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: obs_load SOCKET FUNCTION ARG N|-SECONDS\n");
		return 2;
	}
	long n = strtol(argv[4], NULL, 10);
	int64_t until = n < 0 ? bk_now_ns() - n * 1000000000LL : 0;
	bk_client *c;
	int r = bk_connect(argv[1], NULL, &c);
	if (r < 0) {
		fprintf(stderr, "obs_load: connect: %s\n", bk_strerror(r));
		return 1;
	}
	bk_fn fn;
	r = bk_lookup(c, argv[2], &fn);
	if (r < 0) {
		fprintf(stderr, "obs_load: lookup %s: %s\n", argv[2], bk_strerror(r));
		bk_disconnect(c);
		return 1;
	}
	long calls = 0, ok = 0, errors = 0;
	size_t len = strlen(argv[3]);
	while (until ? bk_now_ns() < until : calls < n) {
		bk_future *f;
		r = bk_submit_wait(c, fn, argv[3], len, 5000000000LL, &f);
		if (r < 0) {
			fprintf(stderr, "obs_load: submit: %s\n", bk_strerror(r));
			break;
		}
		r = bk_wait(f, 10000000000LL);
		if (r == 0)
			{
			const void *d;
			size_t dl;
			r = bk_result(f, &d, &dl);
		}
		bk_release(f);
		calls++;
		if (r == -ETIMEDOUT) {
			fprintf(stderr, "obs_load: a call did not complete within 10 s\n");
			break;
		}
		if (r < 0)
			errors++;
		else
			ok++;
	}
	printf("calls %ld ok %ld errors %ld\n", calls, ok, errors);
	fflush(stdout);
	bk_disconnect(c);
	return r == -ETIMEDOUT || (until == 0 && calls < n) ? 1 : 0;
}
