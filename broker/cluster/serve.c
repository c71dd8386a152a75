// SPDX-License-Identifier: MIT
/*
 * serve.c - the calls this node serves for others (docs/CLUSTER.md): one
 * queue subscription (group "bkd") and one direct subscription per local
 * function; a call is acked at once (so the caller knows who took it), then
 * submitted to this brokerd through an ordinary client connection to its
 * own socket (libbkclient), with the caller's time left and lane, so it
 * runs on a worker like any local call; the completion, dispatched on the
 * server thread, is published as the reply.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cl.h"

#define INLINE_SIZE 4096u /* the serving connection's inline argument/result bytes */
#define SERVE_SLOTS 4096u

pthread_rwlock_t cl_bk_rw = PTHREAD_RWLOCK_INITIALIZER; /* submissions (read) against disconnect (write) */

void cl_publish_rep(struct cl_ctx *x, const char *reply, uint8_t kind, int status, const void *res, size_t len)
{
	struct cl_rep rep = {.magic = CL_MAGIC_REP, .kind = kind, .status = status};
	snprintf(rep.node, sizeof(rep.node), "%s", x->h->node);
	uint8_t small[sizeof(rep) + 256];
	uint8_t *m = len <= 256 ? small : malloc(sizeof(rep) + len);
	if (!m)
		return; /* the caller times out or learns of the loss from the heartbeats */
	memcpy(m, &rep, sizeof(rep));
	if (len)
		memcpy(m + sizeof(rep), res, len);
	natsConnection_Publish(x->nc, reply, m, (int)(sizeof(rep) + len));
	if (m != small)
		free(m);
}

static void served_cb(bk_future *f, void *ud)
{
	struct served *s = ud;
	struct cl_ctx *x = s->x;
	const void *data = NULL;
	size_t len = 0;
	int st = bk_result(f, &data, &len);
	if (st < -4095)
		st = -ESHUTDOWN; /* BK_EGONE and friends: this brokerd went away under the call */
	cl_publish_rep(x, s->reply, CL_REP_RESULT, st, data, st == 0 ? len : 0);
	bk_release(f);
	if (s->buf)
		bk_buf_free(x->bk, s->buf);
	free(s);
	atomic_fetch_sub_explicit(&x->serving, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&x->served, 1, memory_order_relaxed);
}

static int submit_one(struct cl_ctx *x, struct cl_local *l, const struct cl_req *h, const uint8_t *arg, size_t len,
		      struct served *s, bk_complete_cb cb);

/* The function's id on our own connection; -EHOSTUNREACH when it is not served here (any more). */
static int local_fn(struct cl_ctx *x, struct cl_local *l, bk_fn *fn)
{
	pthread_mutex_lock(&x->lock);
	bool known = l->fn_known;
	*fn = l->fn;
	pthread_mutex_unlock(&x->lock);
	if (known)
		return 0;
	/* One lookup at a time on our connection: the queue and the direct subscription (two NATS threads)
	 * both meet a function's first call. */
	static pthread_mutex_t lookup_lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&lookup_lock);
	int r = bk_lookup(x->bk, l->name, fn);
	pthread_mutex_unlock(&lookup_lock);
	if (r < 0 || *fn >= 0x40000000u)
		return -EHOSTUNREACH; /* never forward: a remote id here would send the call on again */
	pthread_mutex_lock(&x->lock);
	l->fn = *fn;
	l->fn_known = true;
	pthread_mutex_unlock(&x->lock);
	return 0;
}

int cl_submit_local(struct cl_ctx *x, struct cl_local *l, const struct cl_req *h, const uint8_t *arg, size_t len,
		    struct served *s, bk_complete_cb cb)
{
	uint8_t *with_id = NULL;
	if (s->job) {
		/* A durable job: its id goes before the argument, for host->job_id (BK_CALL_JOB_ID). */
		with_id = calloc(1, BK_JOB_ID_LEN + len);
		if (!with_id)
			return -ENOMEM;
		memcpy(with_id, s->id, strnlen(s->id, BK_JOB_ID_LEN - 1)); /* calloc: NUL-padded */
		if (len)
			memcpy(with_id + BK_JOB_ID_LEN, arg, len);
		arg = with_id;
		len += BK_JOB_ID_LEN;
	}
	int r = submit_one(x, l, h, arg, len, s, cb);
	free(with_id); /* copied into the slot or the zero-copy buffer at submission */
	return r;
}

static int submit_one(struct cl_ctx *x, struct cl_local *l, const struct cl_req *h, const uint8_t *arg, size_t len,
		      struct served *s, bk_complete_cb cb)
{
	bk_fn fn;
	int r = local_fn(x, l, &fn);
	if (r < 0)
		return r;
	bk_call call = {.fn = fn, .arg = arg, .len = len, .cb = cb, .user_data = s};
	if (s->job)
		call.flags = BK_CALL_JOB_ID;
	call.priority = h->prio <= BK_PRIO_BACKGROUND ? h->prio : BK_PRIO_NORMAL;
	call.deadline_ns = h->remaining_ns > (uint64_t)BK_DEADLINE_MAX_NS ? BK_DEADLINE_MAX_NS : (int64_t)h->remaining_ns;
	if (len > INLINE_SIZE) {
		s->buf = bk_buf_alloc(x->bk, len);
		if (!s->buf)
			return -ENOMEM;
		memcpy(s->buf, arg, len);
		call.arg = s->buf;
	}
	bk_future *f;
	r = bk_submit_batch(x->bk, &call, 1, &f);
	if (r == 1)
		return 0;
	if (s->buf)
		bk_buf_free(x->bk, s->buf);
	s->buf = NULL;
	return r == -EAGAIN ? -EBUSY : (r < 0 ? r : -EBUSY);
}

static void on_call(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	(void)nc;
	(void)sub;
	struct cl_local *l = closure;
	struct cl_ctx *x = l->x;
	const char *reply = natsMsg_GetReply(msg);
	int len = natsMsg_GetDataLength(msg);
	struct cl_req h;
	if (!reply) {
		natsMsg_Destroy(msg);
		return;
	}
	if (len < (int)sizeof(h) || (memcpy(&h, natsMsg_GetData(msg), sizeof(h)), h.magic != CL_MAGIC_REQ)) {
		cl_publish_rep(x, reply, CL_REP_RESULT, -EPROTO, NULL, 0);
		natsMsg_Destroy(msg);
		return;
	}
	cl_publish_rep(x, reply, CL_REP_ACK, 0, NULL, 0);
	size_t rlen = strlen(reply) + 1;
	struct served *s = calloc(1, sizeof(*s) + rlen);
	int r = -ENOMEM;
	if (s) {
		s->x = x;
		memcpy(s->reply, reply, rlen);
		atomic_fetch_add_explicit(&x->serving, 1, memory_order_relaxed);
		pthread_rwlock_rdlock(&cl_bk_rw);
		r = atomic_load_explicit(&x->bk_ready, memory_order_acquire) ? 0 : -EHOSTUNREACH;
		if (r == 0)
			r = cl_submit_local(x, l, &h, (const uint8_t *)natsMsg_GetData(msg) + sizeof(h),
					    (size_t)len - sizeof(h), s, served_cb);
		pthread_rwlock_unlock(&cl_bk_rw);
	}
	if (r < 0) {
		cl_publish_rep(x, reply, CL_REP_RESULT, r, NULL, 0);
		if (s)
			atomic_fetch_sub_explicit(&x->serving, 1, memory_order_relaxed);
		free(s);
	}
	natsMsg_Destroy(msg);
}

/* lock held: subscribe l's two subjects. */
static void subscribe(struct cl_ctx *x, struct cl_local *l)
{
	char subj[BKD_CLUSTER_NAME_MAX + BKD_CLUSTER_NODE_MAX + 24];
	snprintf(subj, sizeof(subj), "bk.fn.%s", l->name);
	natsStatus s = natsConnection_QueueSubscribe(&l->q, x->nc, subj, "bkd", on_call, l);
	snprintf(subj, sizeof(subj), "bk.node.%s.fn.%s", x->h->node, l->name);
	if (s == NATS_OK)
		s = natsConnection_Subscribe(&l->d, x->nc, subj, on_call, l);
	if (s != NATS_OK)
		x->h->log(0, "subscribing to %s: %s", subj, natsStatus_GetText(s));
}

/* lock held */
static void unsubscribe(struct cl_local *l)
{
	natsSubscription *subs[2] = {l->q, l->d};
	for (int i = 0; i < 2; i++) {
		if (!subs[i])
			continue;
		natsSubscription_Unsubscribe(subs[i]);
		natsSubscription_Destroy(subs[i]);
	}
	l->q = l->d = NULL;
	l->fn_known = false;
}

/* lock held: subscriptions follow the live set once our own connection is up. */
static void apply(struct cl_ctx *x)
{
	bool ready = atomic_load_explicit(&x->bk_ready, memory_order_acquire) && !x->draining;
	for (struct cl_local *l = x->locals; l; l = l->next) {
		if (l->live && ready && !l->q)
			subscribe(x, l);
		else if ((!l->live || !ready) && l->q)
			unsubscribe(l);
	}
}

void cl_set_local(void *ctx, const char *const *names, const uint32_t *flags, uint32_t n)
{
	struct cl_ctx *x = ctx;
	pthread_mutex_lock(&x->lock);
	for (struct cl_local *l = x->locals; l; l = l->next)
		l->live = false;
	for (uint32_t i = 0; i < n; i++) {
		struct cl_local *l = x->locals;
		while (l && strcmp(l->name, names[i]) != 0)
			l = l->next;
		if (!l && (l = calloc(1, sizeof(*l))) != NULL) {
			snprintf(l->name, sizeof(l->name), "%s", names[i]);
			l->x = x;
			l->next = x->locals;
			x->locals = l;
		}
		if (l) {
			l->live = true;
			l->flags = flags[i];
		}
	}
	apply(x);
	x->next_beat = 0; /* tell the others now */
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->lock);
}

void cl_serve_unsubscribe(struct cl_ctx *x)
{
	pthread_mutex_lock(&x->lock);
	apply(x); /* draining: every subscription goes */
	pthread_mutex_unlock(&x->lock);
}

/* Wait up to ms on the ticker's condvar; true when stopping. */
static bool stopping_after(struct cl_ctx *x, int ms)
{
	pthread_mutex_lock(&x->lock);
	if (!x->stopping && ms > 0) {
		int64_t t = cl_now() + (int64_t)ms * 1000000;
		struct timespec ts = {.tv_sec = t / 1000000000, .tv_nsec = t % 1000000000};
		pthread_cond_timedwait(&x->cond, &x->lock, &ts);
	}
	bool s = x->stopping;
	pthread_mutex_unlock(&x->lock);
	return s;
}

static void *server_main(void *arg)
{
	struct cl_ctx *x = arg;
	bk_options o;
	bk_options_init(&o);
	o.max_inflight = SERVE_SLOTS;
	o.sq_entries = SERVE_SLOTS;
	o.inline_size = INLINE_SIZE;
	o.zero_copy_size = 64u << 20;
	o.spin_ns = 0;
	char err[256];
	/* brokerd's control loop starts after the cluster: keep trying until it answers. */
	while (bk_connect_error(x->h->socket, &o, &x->bk, err, sizeof(err)) < 0) {
		if (stopping_after(x, 50))
			return NULL;
	}
	atomic_store_explicit(&x->bk_ready, true, memory_order_release);
	pthread_mutex_lock(&x->lock);
	apply(x);
	x->next_beat = 0;
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->lock);
	struct pollfd pfd = {.fd = bk_fd(x->bk), .events = POLLIN};
	while (!stopping_after(x, 0)) {
		if (poll(&pfd, 1, 100) < 0 && errno != EINTR)
			break;
		if (bk_dispatch(x->bk) < 0)
			break; /* this brokerd is going away */
	}
	atomic_store_explicit(&x->bk_ready, false, memory_order_release);
	return NULL;
}

int cl_serve_start(struct cl_ctx *x)
{
	int r = pthread_create(&x->server, NULL, server_main, x);
	if (r)
		return r;
	x->server_started = true;
	return 0;
}

void cl_serve_stop(struct cl_ctx *x)
{
	if (x->server_started)
		pthread_join(x->server, NULL);
	x->server_started = false;
	pthread_rwlock_wrlock(&cl_bk_rw);
	atomic_store_explicit(&x->bk_ready, false, memory_order_release);
	if (x->bk)
		bk_disconnect(x->bk);
	x->bk = NULL;
	pthread_rwlock_unlock(&cl_bk_rw);
}
