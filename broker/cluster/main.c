// SPDX-License-Identifier: MIT
/*
 * main.c - brokerd-cluster.so's entry (cluster_iface.h): the NATS connection
 * (reconnecting forever, so brokerd starts and keeps running while NATS is
 * down), its connection events, the ticker thread (heartbeats, deadlines,
 * dead nodes) and the order of start and stop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cl.h"

#define STOP_FLUSH_MS 2000 /* the last round trip to NATS at stop (a live server answers in ms) */

static void on_disconnected(natsConnection *nc, void *closure)
{
	(void)nc;
	struct cl_ctx *x = closure;
	x->h->log(1, "lost the NATS server; remote calls fail until it is back");
	/* What was sent may never be answered: fail it now rather than at each deadline. */
	cl_fail_all(x, -ECONNRESET);
	pthread_mutex_lock(&x->lock);
	cl_dir_clear(x);
	pthread_mutex_unlock(&x->lock);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
	struct cl_ctx *x = closure;
	x->h->log(2, "NATS server back");
	natsConnection_PublishString(nc, "bk.cluster.hello", x->h->node);
	pthread_mutex_lock(&x->lock);
	x->next_beat = 0;
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->lock);
}

static void on_closed(natsConnection *nc, void *closure)
{
	(void)nc;
	struct cl_ctx *x = closure;
	pthread_mutex_lock(&x->lock);
	x->closed = true;
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->lock);
}

static void on_hello(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	(void)nc;
	(void)sub;
	struct cl_ctx *x = closure;
	natsMsg_Destroy(msg);
	pthread_mutex_lock(&x->lock);
	x->next_beat = 0; /* a node joined: beat now so it learns the cluster at once */
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->lock);
}

static void *ticker_main(void *arg)
{
	struct cl_ctx *x = arg;
	pthread_mutex_lock(&x->lock);
	while (!x->stopping) {
		x->tick_wake = 0; /* scanning: a call with a deadline arriving meanwhile sets rescan */
		x->rescan = false;
		int64_t now = cl_now();
		if (now >= x->next_beat) {
			x->next_beat = now + (int64_t)CL_BEAT_MS * 1000000;
			pthread_mutex_unlock(&x->lock);
			cl_dir_beat(x);
			pthread_mutex_lock(&x->lock);
		}
		pthread_mutex_unlock(&x->lock);
		int64_t wake = cl_calls_tick(x, now);
		pthread_mutex_lock(&x->lock);
		if (x->next_beat < wake)
			wake = x->next_beat;
		x->tick_wake = wake; /* cl_call wakes the ticker only for an earlier deadline */
		if (x->stopping)
			break;
		if (x->rescan)
			continue; /* a deadline arrived during the scan */
		/* The condvar runs on CLOCK_MONOTONIC (start), the clock of every deadline. */
		struct timespec ts = {.tv_sec = wake / 1000000000, .tv_nsec = wake % 1000000000};
		pthread_cond_timedwait(&x->cond, &x->lock, &ts);
	}
	pthread_mutex_unlock(&x->lock);
	return NULL;
}

/* JetStream's requests block (up to its 2 s wait): on their own thread, never delaying a deadline. */
static void *jobs_main(void *arg)
{
	struct cl_ctx *x = arg;
	pthread_mutex_lock(&x->lock);
	while (!x->stopping) {
		pthread_mutex_unlock(&x->lock);
		cl_jobs_tick(x, cl_now());
		pthread_mutex_lock(&x->lock);
		int64_t t = cl_now() + (int64_t)CL_BEAT_MS * 1000000;
		struct timespec ts = {.tv_sec = t / 1000000000, .tv_nsec = t % 1000000000};
		if (!x->stopping)
			pthread_cond_timedwait(&x->cond, &x->lock, &ts);
	}
	pthread_mutex_unlock(&x->lock);
	return NULL;
}

static int nats_connect(struct cl_ctx *x)
{
	natsStatus s = natsOptions_Create(&x->opts);
	if (s == NATS_OK)
		s = natsOptions_SetURL(x->opts, x->h->url);
	if (s == NATS_OK)
		s = natsOptions_SetName(x->opts, x->h->node);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(x->opts, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(x->opts, 100);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(x->opts, 1000);
	if (s == NATS_OK)
		s = natsOptions_SetSendAsap(x->opts, true); /* a call or reply waits for no flusher thread (~1 ms) */
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(x->opts, on_disconnected, x);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(x->opts, on_reconnected, x);
	if (s == NATS_OK)
		s = natsOptions_SetClosedCB(x->opts, on_closed, x);
	if (s == NATS_OK)
		s = natsOptions_SetRetryOnFailedConnect(x->opts, true, on_reconnected, x);
	if (s == NATS_OK) {
		s = natsConnection_Connect(&x->nc, x->opts);
		if (s == NATS_NOT_YET_CONNECTED) {
			x->h->log(1, "NATS at %s not reachable yet; retrying in the background", x->h->url);
			s = NATS_OK;
		}
	}
	snprintf(x->reply_prefix, sizeof(x->reply_prefix), "_BK.%s.", x->h->node);
	char subj[80];
	snprintf(subj, sizeof(subj), "_BK.%s.*", x->h->node);
	if (s == NATS_OK)
		s = natsConnection_Subscribe(&x->reply_sub, x->nc, subj, cl_on_reply, x);
	if (s == NATS_OK)
		s = natsConnection_Subscribe(&x->beat_sub, x->nc, "bk.cluster.beat", cl_dir_on_beat, x);
	if (s == NATS_OK)
		s = natsConnection_Subscribe(&x->hello_sub, x->nc, "bk.cluster.hello", on_hello, x);
	if (s == NATS_OK)
		s = natsConnection_Subscribe(&x->bye_sub, x->nc, "bk.cluster.bye", cl_dir_on_bye, x);
	if (s == NATS_OK && natsConnection_Status(x->nc) == NATS_CONN_STATUS_CONNECTED)
		natsConnection_PublishString(x->nc, "bk.cluster.hello", x->h->node);
	if (s != NATS_OK) {
		x->h->log(0, "NATS %s: %s", x->h->url, natsStatus_GetText(s));
		return -EIO;
	}
	return cl_jobs_init(x);
}

static void free_all(struct cl_ctx *x)
{
	natsSubscription *subs[] = {x->reply_sub, x->beat_sub, x->hello_sub, x->bye_sub};
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		natsSubscription_Destroy(subs[i]);
	for (struct cl_local *l = x->locals; l; l = l->next) {
		natsSubscription_Destroy(l->q);
		natsSubscription_Destroy(l->d);
	}
	for (struct cl_local *l = x->locals; l; l = l->next)
		natsSubscription_Destroy(l->j);
	cl_jobs_fini(x);
	natsConnection_Destroy(x->nc);
	natsOptions_Destroy(x->opts);
	/* Every thread of the NATS library has exited (message deliveries included) before the closures go. */
	nats_CloseAndWait(5000);
	while (x->locals) {
		struct cl_local *l = x->locals;
		x->locals = l->next;
		free(l);
	}
	cl_dir_clear(x);
	pthread_cond_destroy(&x->cond);
	pthread_mutex_destroy(&x->lock);
	free(x);
}

static void cl_stop(void *ctx);

static int cl_start(const struct bkd_cluster_host *h, void **out)
{
	if (h->version != BKD_CLUSTER_IFACE_VERSION || h->size < sizeof(*h))
		return -EPROTO;
	struct cl_ctx *x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->h = h;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&x->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&x->lock, NULL);
	if (nats_Open(-1) != NATS_OK || nats_connect(x) < 0) {
		free_all(x);
		return -EIO;
	}
	int r = pthread_create(&x->ticker, NULL, ticker_main, x);
	if (r == 0) {
		x->ticker_started = true;
		r = pthread_create(&x->jobs, NULL, jobs_main, x);
	}
	if (r == 0) {
		x->jobs_started = true;
		r = cl_serve_start(x);
	}
	if (r) {
		cl_stop(x);
		return r > 0 ? -r : r;
	}
	*out = x;
	return 0;
}

static void cl_drain(void *ctx)
{
	struct cl_ctx *x = ctx;
	pthread_mutex_lock(&x->lock);
	x->draining = true;
	pthread_mutex_unlock(&x->lock);
	cl_serve_unsubscribe(x);
	natsConnection_PublishString(x->nc, "bk.cluster.bye", x->h->node);
}

static void cl_stop(void *ctx)
{
	struct cl_ctx *x = ctx;
	cl_drain(x);
	/*
	 * The bye and unsubscriptions reach the server before the close, when
	 * there is one: a flush while disconnected (NATS down, or never
	 * reached) waits out its whole timeout, which held SIGTERM for 10 s.
	 */
	if (natsConnection_Status(x->nc) == NATS_CONN_STATUS_CONNECTED)
		natsConnection_FlushTimeout(x->nc, STOP_FLUSH_MS);
	pthread_mutex_lock(&x->lock);
	x->stopping = true;
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->lock);
	if (x->ticker_started)
		pthread_join(x->ticker, NULL);
	if (x->jobs_started)
		pthread_join(x->jobs, NULL);
	cl_serve_stop(x);
	/* No reply can come once the connection is closed; the calls still waiting end here. */
	natsConnection_Close(x->nc);
	/* The closed callback is the last connection event: after it none of ours runs (bounded wait). */
	pthread_mutex_lock(&x->lock);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += 5;
	while (x->nc && !x->closed && pthread_cond_timedwait(&x->cond, &x->lock, &ts) == 0)
		;
	pthread_mutex_unlock(&x->lock);
	cl_fail_all(x, -ESHUTDOWN);
	free_all(x);
}

static const struct bkd_cluster_ops ops = {
	.size = sizeof(struct bkd_cluster_ops),
	.version = BKD_CLUSTER_IFACE_VERSION,
	.start = cl_start,
	.drain = cl_drain,
	.fail_all = cl_fail_all,
	.stop = cl_stop,
	.set_local = cl_set_local,
	.lookup = cl_dir_lookup,
	.call = cl_call,
	.list_fns = cl_dir_list_fns,
	.list_nodes = cl_dir_list_nodes,
	.list_jobs = cl_jobs_list,
};

__attribute__((visibility("default"))) const struct bkd_cluster_ops *bkd_cluster_entry_v1(void);
const struct bkd_cluster_ops *bkd_cluster_entry_v1(void)
{
	return &ops;
}

void cl_join(char *dst, size_t size, const char *add)
{
	size_t len = strlen(dst), n = strlen(add);
	if (len >= 4 && strcmp(dst + len - 3, "...") == 0)
		return;
	size_t need = n + (len ? 1 : 0);
	if (len + need + 4 >= size) {
		snprintf(dst + len, size - len, "%s", len ? ",..." : "...");
		return;
	}
	snprintf(dst + len, size - len, "%s%s", len ? "," : "", add);
}
