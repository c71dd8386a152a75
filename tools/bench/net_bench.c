// SPDX-License-Identifier: MIT
/*
 * net_bench.c - broker-net-bench: the figures of the host API's network
 * operations and child tasks, against a private brokerd it starts.
 *
 *   chain  hash.sha256_file PATH (one task: open, chunked reads, digest,
 *          inside brokerd) against the same two steps as two client round
 *          trips (file.read into a zero-copy buffer, then hash.sha256 of
 *          it), interleaved round by round (docs/ARCHITECTURE.md,
 *          "Measuring"), for a 4 KiB and a 1 MiB file: time per call.
 *   net    N concurrent net.requests (default 10,000) to a loopback echo
 *          server in this process: time from the first submission to the
 *          last completion, and brokerd's resident size before, at its
 *          peak (VmHWM) and after.
 *
 * broker-net-bench [--brokerd PATH] [--module-dir DIR] [--requests N] [--rounds R]
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bk_config.h"
#include "broker/client.h"
#include "brokerd_proc.h"
#include "echo_server.h"
#include "paths.h"
#include "proc_info.h"

#define SEC 1000000000LL

struct nb_opts {
	const char *brokerd, *moddir;
	unsigned requests, rounds;
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* One call into res (cap bytes of a zero-copy buffer) with a zero-copy or inline arg; 0 or the error. */
static int call(bk_client *c, bk_fn fn, const void *arg, size_t len, void *res, size_t cap, size_t *out_len)
{
	bk_call k = {.fn = fn, .arg = arg, .len = len, .result = res, .result_cap = cap};
	bk_future *f;
	int r = bk_submit_batch(c, &k, 1, &f);
	if (r != 1)
		return r < 0 ? r : -EAGAIN;
	r = bk_wait(f, 10 * SEC);
	if (r == 0) {
		const void *d;
		r = bk_result(f, &d, out_len);
	}
	bk_release(f);
	return r;
}

struct chain_ctx {
	bk_client *c;
	bk_fn sha_file, read, sha;
	char path[256], read_arg[300];
	size_t size;
	unsigned char *data, *digest; /* zero-copy buffers */
};

static int one_chained(struct chain_ctx *x)
{
	size_t n;
	return call(x->c, x->sha_file, x->path, strlen(x->path), x->digest, 64, &n);
}

static int one_two_trips(struct chain_ctx *x)
{
	size_t n;
	int r = call(x->c, x->read, x->read_arg, strlen(x->read_arg), x->data, x->size, &n);
	if (r == 0)
		r = call(x->c, x->sha, x->data, n, x->digest, 64, &n);
	return r;
}

/* Median over rounds of the mean time per call in each round, the two kinds interleaved. */
static int chain_run(struct chain_ctx *x, unsigned rounds, double *chained_us, double *trips_us)
{
	enum { PER_ROUND = 200 };
	int64_t *a = calloc(rounds, sizeof(*a)), *b = calloc(rounds, sizeof(*b));
	int r = a && b ? 0 : -ENOMEM;
	for (unsigned i = 0; r == 0 && i < rounds; i++) {
		int64_t t0 = now_ns();
		for (int k = 0; r == 0 && k < PER_ROUND; k++)
			r = one_chained(x);
		int64_t t1 = now_ns();
		for (int k = 0; r == 0 && k < PER_ROUND; k++)
			r = one_two_trips(x);
		a[i] = (t1 - t0) / PER_ROUND;
		b[i] = (now_ns() - t1) / PER_ROUND;
	}
	if (r == 0) {
		qsort(a, rounds, sizeof(*a), cmp_i64);
		qsort(b, rounds, sizeof(*b), cmp_i64);
		*chained_us = (double)a[rounds / 2] / 1000.0;
		*trips_us = (double)b[rounds / 2] / 1000.0;
	}
	free(a);
	free(b);
	return r;
}

/* Both ways must give the same digest before any timing means something. */
static int chain_check(struct chain_ctx *x)
{
	unsigned char one[32];
	int r = one_chained(x);
	if (r < 0)
		return r;
	memcpy(one, x->digest, 32);
	r = one_two_trips(x);
	return r < 0 ? r : memcmp(one, x->digest, 32) == 0 ? 0 : -EILSEQ;
}

static int write_file(const char *path, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	char buf[4096];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 131u);
	for (size_t done = 0; done < size;) {
		size_t n = size - done < sizeof(buf) ? size - done : sizeof(buf);
		if (write(fd, buf, n) != (ssize_t)n) {
			close(fd);
			return -EIO;
		}
		done += n;
	}
	return close(fd) < 0 ? -errno : 0;
}

static int bench_chain(bk_client *c, const char *dir, unsigned rounds)
{
	static const size_t sizes[] = {4096, 1u << 20};
	struct chain_ctx x = {.c = c};
	int r;
	if ((r = bk_lookup(c, "hash.sha256_file", &x.sha_file)) < 0 || (r = bk_lookup(c, "file.read", &x.read)) < 0 ||
	    (r = bk_lookup(c, "hash.sha256", &x.sha)) < 0)
		return r;
	x.digest = bk_buf_alloc(c, 64);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		x.size = sizes[s];
		snprintf(x.path, sizeof(x.path), "%s/chain-%zu", dir, x.size);
		snprintf(x.read_arg, sizeof(x.read_arg), "0 %zu %s", x.size, x.path);
		x.data = bk_buf_alloc(c, x.size);
		if (!x.data || !x.digest || (r = write_file(x.path, x.size)) < 0 || (r = chain_check(&x)) < 0)
			return r < 0 ? r : -ENOMEM;
		double a = 0, b = 0;
		if ((r = chain_run(&x, rounds, &a, &b)) < 0)
			return r;
		printf("chain  %7zu-byte file: hash.sha256_file %8.1f us/call, file.read + hash.sha256 %8.1f us/call "
		       "(%.2fx)\n", x.size, a, b, b / a);
		bk_buf_free(c, x.data);
		unlink(x.path);
	}
	return 0;
}

static long peak_rss_kib(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	long kib = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

static int bench_net(bk_client *c, pid_t pid, unsigned n)
{
	struct bkt_echo echo;
	bk_fn fn;
	int r = bk_lookup(c, "net.request", &fn);
	if (r < 0 || (r = bkt_echo_start(&echo, BKT_ECHO)) < 0)
		return r;
	bk_future **fs = calloc(n, sizeof(*fs));
	bk_call *calls = calloc(n, sizeof(*calls));
	char (*args)[48] = calloc(n, 48);
	if (!fs || !calls || !args) {
		r = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < n; i++) {
		int len = snprintf(args[i], 48, "127.0.0.1 %u 60000\nreq-%u", echo.port, i);
		calls[i] = (bk_call){.fn = fn, .arg = args[i], .len = (size_t)len};
	}
	long before = bkt_proc_rss_kib(pid);
	int64_t t0 = now_ns();
	for (unsigned i = 0; i < n;) {
		int k = bk_submit_batch(c, calls + i, n - i, fs + i);
		if (k == -EAGAIN && now_ns() - t0 < 60 * SEC) {
			sched_yield(); /* the SQ is full: brokerd takes entries as fast as it can */
			continue;
		}
		if (k < 0) {
			r = k;
			goto out;
		}
		i += (unsigned)k;
	}
	r = bk_wait_all(fs, n, 120 * SEC);
	int64_t took = now_ns() - t0;
	unsigned bad = 0;
	for (unsigned i = 0; r == 0 && i < n; i++) {
		const void *d;
		size_t len;
		char want[24];
		int w = snprintf(want, sizeof(want), "req-%u", i);
		if (bk_result(fs[i], &d, &len) != 0 || len != (size_t)w || memcmp(d, want, len) != 0)
			bad++;
	}
	for (unsigned i = 0; i < n; i++)
		if (fs[i])
			bk_release(fs[i]);
	printf("net    %u concurrent net.requests to a loopback echo server: %.1f ms, %u wrong; brokerd RSS %ld KiB "
	       "before, %ld KiB peak, %ld KiB after\n", n, (double)took / 1e6, bad, before, peak_rss_kib(pid),
	       bkt_proc_rss_kib(pid));
	r = r < 0 ? r : bad ? -EIO : 0;
out:
	free(args);
	free(calls);
	free(fs);
	bkt_echo_stop(&echo);
	return r;
}

static int parse(int argc, char **argv, struct nb_opts *o, char *bin, size_t binlen)
{
	o->brokerd = bk_tool_default_brokerd(bin, binlen);
	o->requests = 10000;
	o->rounds = 20;
	for (int i = 1; i < argc; i += 2) { /* every option takes a value */
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			return -1;
		if (strcmp(argv[i], "--brokerd") == 0)
			o->brokerd = v;
		else if (strcmp(argv[i], "--module-dir") == 0)
			o->moddir = v;
		else if (strcmp(argv[i], "--requests") == 0)
			o->requests = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(argv[i], "--rounds") == 0)
			o->rounds = (unsigned)strtoul(v, NULL, 10);
		else
			return -1;
	}
	return o->requests && o->requests <= 60000 && o->rounds ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct nb_opts o = {0};
	char bin[512], err[1024];
	static const char usage[] = "usage: broker-net-bench [--brokerd PATH] [--module-dir DIR] [--requests N<=60000] "
				    "[--rounds R] [--help] [--version]\n";
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "--version") == 0)) {
		if (argv[1][2] == 'h')
			fputs(usage, stdout);
		else
			printf("broker-net-bench %s\n", BK_VERSION);
		return 0;
	}
	if (parse(argc, argv, &o, bin, sizeof(bin)) < 0) {
		fputs(usage, stderr);
		return 2;
	}
	/* Both ends of every request hold a descriptor: brokerd inherits the raised limit. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	struct bkt_brokerd b;
	int r = bkt_brokerd_init(&b, o.brokerd, o.moddir, BKT_BROKERD_DIE_WITH_PARENT | BKT_BROKERD_OWN_PGRP);
	if (r == 0)
		r = bkt_brokerd_arg(&b, "--workers");
	if (r == 0)
		r = bkt_brokerd_arg(&b, "1");
	if (r == 0)
		r = bkt_brokerd_start(&b, NULL, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "broker-net-bench: cannot start %s: %s\n%s\n", o.brokerd, strerror(-r), err);
		bkt_brokerd_cleanup(&b, 0);
		return 1;
	}
	bk_options opts;
	bk_options_init(&opts);
	opts.max_inflight = o.requests < 256 ? 256 : o.requests;
	opts.sq_entries = 16384;
	opts.zero_copy_size = 8u << 20;
	bk_client *c;
	r = bk_connect(b.socket, &opts, &c);
	if (r == 0) {
		printf("brokerd with 1 worker; %u rounds of 200 calls per kind for chain\n", o.rounds);
		r = bench_chain(c, b.dir, o.rounds);
		if (r == 0)
			r = bench_net(c, b.pid, o.requests);
		bk_disconnect(c);
	}
	if (r < 0)
		fprintf(stderr, "broker-net-bench: %s\n", bk_strerror(r));
	bkt_brokerd_cleanup(&b, 10000);
	return r < 0;
}
