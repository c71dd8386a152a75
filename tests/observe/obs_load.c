// SPDX-License-Identifier: MIT
/*
 * obs_load.c - the known workload of the observability tests: one client
 * that makes N calls of FUNCTION with ARG, one at a time (each waited for,
 * so the counts brokerd keeps can be compared exactly), or keeps calling
 * for S seconds.  Prints "calls N ok K errors E" and exits 0, or 1 when a
 * call could not be made at all.
 *
 *   obs_load SOCKET FUNCTION ARG N [W]     N calls, W at a time (default 1)
 *   obs_load SOCKET FUNCTION ARG -S [W]    calls for S seconds
 * With W > 1 the calls go out W at a time and all W are waited for (the
 * per-task cost of a pipelined client, for measuring brokerd's cost).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/client.h"
#include "broker/sys.h"

int main(int argc, char **argv)
{
	if (argc != 5 && argc != 6) {
		fprintf(stderr, "usage: obs_load SOCKET FUNCTION ARG N|-SECONDS [WINDOW]\n");
		return 2;
	}
	long window = argc == 6 ? strtol(argv[5], NULL, 10) : 1;
	if (window < 1 || window > 256) {
		fprintf(stderr, "obs_load: WINDOW is 1..256\n");
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
	bk_future *f[256];
	while (r >= 0 && (until ? bk_now_ns() < until : calls < n)) {
		long w = 0;
		for (; w < window && (until || calls + w < n); w++) {
			r = bk_submit_wait(c, fn, argv[3], len, 5000000000LL, &f[w]);
			if (r < 0) {
				fprintf(stderr, "obs_load: submit: %s\n", bk_strerror(r));
				break;
			}
		}
		for (long i = 0; i < w; i++) {
			int s = bk_wait(f[i], 10000000000LL);
			const void *d;
			size_t dl;
			if (s == 0)
				s = bk_result(f[i], &d, &dl);
			bk_release(f[i]);
			calls++;
			if (s == -ETIMEDOUT) {
				fprintf(stderr, "obs_load: a call did not complete within 10 s\n");
				r = s;
			} else if (s < 0) {
				errors++;
			} else {
				ok++;
			}
		}
	}
	printf("calls %ld ok %ld errors %ld\n", calls, ok, errors);
	fflush(stdout);
	bk_disconnect(c);
	return r < 0 || (!until && calls < n) ? 1 : 0;
}
