// SPDX-License-Identifier: MIT
/*
 * nats_rtt.c - broker-bench-nats: the round trip of one call three ways,
 * measured interleaved (docs/ARCHITECTURE.md, "Measuring"), on a private
 * nats-server over loopback (docs/CLUSTER.md, "Figures"):
 *   local   client -> brokerd A -> echo.noop -> client
 *   nats    a bare libnats request/reply (one responder thread, no brokerd)
 *   remote  client -> brokerd B -> NATS -> brokerd A -> NATS -> B -> client
 * usage: broker-bench-nats [--brokerd PATH] [--module-dir DIR] [--rounds N] [--iters N]
 * ($BK_BROKERD and $BK_MODULE_DIR are the defaults.)  Prints median and
 * p99 per path in microseconds.
 */
#include <errno.h>
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/client.h"
#include "broker/sys.h"
#include "brokerd_proc.h"
#include "nats_proc.h"

enum { P_LOCAL, P_NATS, P_REMOTE, NPATHS };
static const char *const names[NPATHS] = {"local call (brokerd, echo.noop)", "bare NATS request/reply (libnats)",
					  "remote call (brokerd -> NATS -> brokerd)"};

static void echo_cb(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
	(void)sub;
	(void)closure;
	natsConnection_Publish(nc, natsMsg_GetReply(m), natsMsg_GetData(m), natsMsg_GetDataLength(m));
	natsMsg_Destroy(m);
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int one_call(bk_client *c, bk_fn fn)
{
	bk_future *f;
	int r = bk_submit(c, fn, "x", 1, &f);
	if (r < 0)
		return r;
	r = bk_wait(f, 5000000000LL);
	if (r == 0)
		r = bk_result(f, NULL, NULL);
	bk_release(f);
	return r;
}

static int start_node(struct bkt_brokerd *b, const char *bin, const char *moddir, const char *url, const char *node)
{
	char err[512];
	if (bkt_brokerd_init(b, bin, moddir, BKT_BROKERD_DIE_WITH_PARENT | BKT_BROKERD_OWN_PGRP) < 0)
		return -EINVAL;
	const char *extra[] = {"--cluster", url, "--node", node, "--workers", "1", NULL};
	int r = bkt_brokerd_start(b, extra, err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "brokerd %s: %s\n", node, err);
	return r;
}

struct setup {
	struct bkt_nats nats;
	struct bkt_brokerd a, b;
	bk_client *ca, *cb;
	bk_fn fa, fb;
	natsConnection *req, *rep;
	natsSubscription *sub;
	char empty[128];
};

static int set_up(struct setup *s, const char *bin, const char *moddir)
{
	int r = bkt_nats_start(&s->nats);
	if (r < 0) {
		fprintf(stderr, "nats-server: %s\n", strerror(-r));
		return r;
	}
	snprintf(s->empty, sizeof(s->empty), "%s/nomodules", s->nats.dir);
	if (mkdir(s->empty, 0700) < 0)
		return -errno;
	if ((r = start_node(&s->a, bin, moddir, s->nats.url, "A")) < 0 ||
	    (r = start_node(&s->b, bin, s->empty, s->nats.url, "B")) < 0)
		return r;
	if ((r = bk_connect(s->a.socket, NULL, &s->ca)) < 0 || (r = bk_connect(s->b.socket, NULL, &s->cb)) < 0 ||
	    (r = bk_lookup(s->ca, "echo.noop", &s->fa)) < 0)
		return r;
	/* B learns of A by its heartbeat: bounded wait for the name to resolve. */
	for (int64_t end = bk_now_ns() + 10000000000LL; (r = bk_lookup(s->cb, "echo.noop", &s->fb)) < 0;)
		if (bk_now_ns() > end)
			return r;
	/* Both sides publish at once, as brokerd-cluster.so does (else libnats's flusher adds ~1 ms). */
	natsOptions *o = NULL;
	if (natsOptions_Create(&o) != NATS_OK || natsOptions_SetURL(o, s->nats.url) != NATS_OK ||
	    natsOptions_SetSendAsap(o, true) != NATS_OK)
		return -EIO;
	natsStatus st = natsConnection_Connect(&s->req, o);
	if (st == NATS_OK)
		st = natsConnection_Connect(&s->rep, o);
	natsOptions_Destroy(o);
	if (st != NATS_OK ||
	    natsConnection_Subscribe(&s->sub, s->rep, "bench.echo", echo_cb, NULL) != NATS_OK ||
	    natsConnection_Flush(s->rep) != NATS_OK)
		return -EIO;
	return 0;
}

static int64_t time_one(struct setup *s, int path)
{
	int64_t t0 = bk_now_ns();
	if (path == P_LOCAL) {
		if (one_call(s->ca, s->fa) < 0)
			return -1;
	} else if (path == P_REMOTE) {
		if (one_call(s->cb, s->fb) < 0)
			return -1;
	} else {
		natsMsg *m = NULL;
		if (natsConnection_Request(&m, s->req, "bench.echo", "x", 1, 5000) != NATS_OK)
			return -1;
		natsMsg_Destroy(m);
	}
	return bk_now_ns() - t0;
}

int main(int argc, char **argv)
{
	const char *bin = getenv("BK_BROKERD"), *moddir = getenv("BK_MODULE_DIR");
	int rounds = 20, iters = 500;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--brokerd"))
			bin = argv[i + 1];
		else if (!strcmp(argv[i], "--module-dir"))
			moddir = argv[i + 1];
		else if (!strcmp(argv[i], "--rounds"))
			rounds = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--iters"))
			iters = atoi(argv[i + 1]);
	}
	if (!bin || !moddir || rounds < 1 || iters < 1) {
		fprintf(stderr, "usage: broker-bench-nats --brokerd PATH --module-dir DIR [--rounds N] [--iters N]\n");
		return 2;
	}
	static struct setup s;
	int r = set_up(&s, bin, moddir);
	int64_t *t[NPATHS];
	size_t n = (size_t)rounds * (size_t)iters, k[NPATHS] = {0};
	for (int p = 0; p < NPATHS; p++)
		t[p] = calloc(n, sizeof(int64_t));
	for (int round = 0; r == 0 && round < rounds; round++) {
		for (int p = 0; p < NPATHS && r == 0; p++) {
			for (int i = 0; i < iters; i++) {
				int64_t d = time_one(&s, p);
				if (d < 0) {
					fprintf(stderr, "%s failed\n", names[p]);
					r = -EIO;
					break;
				}
				t[p][k[p]++] = d;
			}
		}
	}
	if (r == 0) {
		printf("round trip of one call, %d interleaved rounds of %d, loopback NATS\n", rounds, iters);
		for (int p = 0; p < NPATHS; p++) {
			qsort(t[p], k[p], sizeof(int64_t), cmp64);
			printf("  %-44s median %7.1f us   p99 %7.1f us\n", names[p], (double)t[p][k[p] / 2] / 1e3,
			       (double)t[p][k[p] * 99 / 100] / 1e3);
		}
	}
	natsSubscription_Destroy(s.sub);
	natsConnection_Destroy(s.req);
	natsConnection_Destroy(s.rep);
	if (s.ca)
		bk_disconnect(s.ca);
	if (s.cb)
		bk_disconnect(s.cb);
	bkt_brokerd_cleanup(&s.a, 5000);
	bkt_brokerd_cleanup(&s.b, 5000);
	bkt_nats_cleanup(&s.nats);
	for (int p = 0; p < NPATHS; p++)
		free(t[p]);
	return r == 0 ? 0 : 1;
}
