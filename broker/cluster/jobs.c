// SPDX-License-Identifier: MIT
/*
 * jobs.c - durable background jobs (docs/CLUSTER.md, "Durable jobs"): a
 * JetStream work-queue stream BKJOBS on subjects bkjobs.<module>.<function>,
 * each job deduplicated by its id (Nats-Msg-Id) and carrying the reply
 * subject of the node that sent it (Bk-Reply).  Every node serving a
 * function joins one durable push consumer per function with queue group
 * "bkd", acks a job only after its task completed (marking it in progress
 * every second meanwhile), so a job whose node dies is redelivered after
 * CL_JOB_ACK_WAIT_MS.  The sending node completes its client's call with
 * the first result and drops the others by id: exactly one completion,
 * execution at least once.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl.h"

#define CL_JOB_ACK_WAIT_MS 3000
#define CL_JOB_PROGRESS_MS 1000
#define CL_STREAM "BKJOBS"

static void on_pub_err(jsCtx *js, jsPubAckErr *pae, void *closure)
{
	(void)js;
	struct cl_ctx *x = closure;
	x->h->log(1, "a durable job was not stored: %s", pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err));
	/* Its call waits for its deadline or NATS's loss; a store refusal is rare (stream full). */
}

int cl_jobs_init(struct cl_ctx *x)
{
	jsOptions o;
	jsOptions_Init(&o);
	o.PublishAsync.ErrHandler = on_pub_err;
	o.PublishAsync.ErrHandlerClosure = x;
	o.Wait = 2000;
	x->boot = (uint64_t)cl_now();
	return natsConnection_JetStream(&x->js, x->nc, &o) == NATS_OK ? 0 : -EIO;
}

void cl_jobs_fini(struct cl_ctx *x)
{
	jsCtx_Destroy(x->js);
	x->js = NULL;
}

int cl_job_publish(struct cl_ctx *x, const char *name, const char *reply, const char *job_id, const void *msg,
		   size_t len)
{
	char subj[BKD_CLUSTER_NAME_MAX + 16];
	snprintf(subj, sizeof(subj), "bkjobs.%s", name);
	natsMsg *m = NULL;
	natsStatus s = natsMsg_Create(&m, subj, NULL, msg, (int)len);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, "Bk-Reply", reply);
	jsPubOptions po;
	jsPubOptions_Init(&po);
	po.MsgId = job_id; /* JetStream drops a second copy of the same id (its duplicate window) */
	po.MaxWait = 5000;
	if (s == NATS_OK)
		s = js_PublishMsgAsync(x->js, &m, &po);
	natsMsg_Destroy(m); /* NULL once the library took it */
	return s == NATS_OK ? 0 : -EHOSTUNREACH;
}

static void ensure_stream(struct cl_ctx *x)
{
	jsStreamConfig sc;
	jsStreamConfig_Init(&sc);
	const char *subjects[] = {"bkjobs.>"};
	sc.Name = CL_STREAM;
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.Retention = js_WorkQueuePolicy;
	sc.Storage = js_FileStorage;
	jsErrCode jerr = 0;
	jsStreamInfo *si = NULL;
	natsStatus s = js_AddStream(&si, x->js, &sc, NULL, &jerr);
	jsStreamInfo_Destroy(si);
	if (s == NATS_OK || jerr == JSStreamNameExistErr) {
		x->stream_ok = true;
		return;
	}
	x->h->log(1, "JetStream stream %s: %s (jerr %d); durable jobs wait for it (is nats-server run with -js?)",
		  CL_STREAM, natsStatus_GetText(s), (int)jerr);
}

/* Take s off the list of jobs this node runs (brokerctl jobs reads it). */
static void running_unlink(struct cl_ctx *x, struct served *s)
{
	pthread_mutex_lock(&x->lock);
	if (s->prev)
		s->prev->next = s->next;
	else
		x->running = s->next;
	if (s->next)
		s->next->prev = s->prev;
	pthread_mutex_unlock(&x->lock);
}

static void job_done(bk_future *f, void *ud)
{
	struct served *s = ud;
	struct cl_ctx *x = s->x;
	const void *data = NULL;
	size_t len = 0;
	int st = bk_result(f, &data, &len);
	running_unlink(x, s);
	if (st < -4095) {
		natsMsg_Nak(s->job, NULL); /* this brokerd went away under it: let another node run it */
	} else {
		cl_publish_rep(x, s->reply, CL_REP_RESULT, st, data, st == 0 ? len : 0);
		natsMsg_Ack(s->job, NULL); /* after the result: a loss in between only means one more run */
	}
	bk_release(f);
	if (s->buf)
		bk_buf_free(x->bk, s->buf);
	natsMsg_Destroy(s->job);
	free(s);
	atomic_fetch_sub_explicit(&x->serving, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&x->served, 1, memory_order_relaxed);
}

static void on_job(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	(void)nc;
	(void)sub;
	struct cl_local *l = closure;
	struct cl_ctx *x = l->x;
	const char *reply = NULL, *id = NULL;
	struct cl_req h;
	int len = natsMsg_GetDataLength(msg);
	if (natsMsgHeader_Get(msg, "Bk-Reply", &reply) != NATS_OK || len < (int)sizeof(h)) {
		natsMsg_Term(msg, NULL); /* not one of ours: never deliver it again */
		natsMsg_Destroy(msg);
		return;
	}
	if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) != NATS_OK)
		id = "?";
	memcpy(&h, natsMsg_GetData(msg), sizeof(h));
	size_t rlen = strlen(reply) + 1;
	struct served *s = calloc(1, sizeof(*s) + rlen);
	int r = -ENOMEM;
	if (s) {
		s->x = x;
		s->job = msg;
		s->started = cl_now();
		snprintf(s->id, sizeof(s->id), "%s", id);
		snprintf(s->name, sizeof(s->name), "%s", l->name);
		memcpy(s->reply, reply, rlen);
		atomic_fetch_add_explicit(&x->serving, 1, memory_order_relaxed);
		pthread_mutex_lock(&x->lock);
		s->next = x->running;
		if (x->running)
			x->running->prev = s;
		x->running = s;
		pthread_mutex_unlock(&x->lock);
		pthread_rwlock_rdlock(&cl_bk_rw);
		r = atomic_load_explicit(&x->bk_ready, memory_order_acquire) ? 0 : -EHOSTUNREACH;
		/* A job has no deadline of its own beyond the caller's; h carries it. */
		if (r == 0)
			r = cl_submit_local(x, l, &h, (const uint8_t *)natsMsg_GetData(msg) + sizeof(h),
					    (size_t)len - sizeof(h), s, job_done);
		pthread_rwlock_unlock(&cl_bk_rw);
	}
	if (r < 0) {
		if (s) {
			running_unlink(x, s);
			atomic_fetch_sub_explicit(&x->serving, 1, memory_order_relaxed);
			free(s);
		}
		natsMsg_NakWithDelay(msg, 100, NULL); /* busy or not here: again soon, maybe elsewhere */
		natsMsg_Destroy(msg);
	}
}

static natsSubscription *job_subscribe(struct cl_ctx *x, struct cl_local *l)
{
	char subj[BKD_CLUSTER_NAME_MAX + 16], durable[BKD_CLUSTER_NAME_MAX + 16];
	snprintf(subj, sizeof(subj), "bkjobs.%s", l->name);
	snprintf(durable, sizeof(durable), "bkjob-%s", l->name);
	for (char *p = durable; *p; p++)
		if (*p == '.')
			*p = '_'; /* a durable name has no dot */
	/* Made here and only bound by the subscription, so that a node leaving (unsubscribing) never
	 * deletes the consumer the other nodes share, nor its jobs not yet acked. */
	char deliver[BKD_CLUSTER_NAME_MAX + 16];
	snprintf(deliver, sizeof(deliver), "bkjobsd.%s", l->name);
	jsConsumerConfig cc;
	jsConsumerConfig_Init(&cc);
	cc.Durable = durable;
	cc.DeliverSubject = deliver;
	cc.DeliverGroup = "bkd";
	cc.FilterSubject = subj;
	cc.AckPolicy = js_AckExplicit;
	cc.AckWait = (int64_t)CL_JOB_ACK_WAIT_MS * 1000000;
	cc.MaxAckPending = 8192;
	jsConsumerInfo *ci = NULL;
	jsErrCode jerr = 0;
	natsStatus s = js_AddConsumer(&ci, x->js, CL_STREAM, &cc, NULL, &jerr);
	jsConsumerInfo_Destroy(ci);
	if (s != NATS_OK && jerr != JSConsumerNameExistErr) {
		x->h->log(1, "durable jobs of %s: consumer: %s (jerr %d); trying again", l->name, natsStatus_GetText(s),
			  (int)jerr);
		return NULL;
	}
	jsSubOptions so;
	jsSubOptions_Init(&so);
	so.Stream = CL_STREAM;
	so.Consumer = durable;
	so.Queue = "bkd";
	so.ManualAck = true;
	natsSubscription *sub = NULL;
	s = js_Subscribe(&sub, x->js, subj, on_job, l, NULL, &so, &jerr);
	if (s != NATS_OK) {
		x->h->log(1, "durable jobs of %s: %s (jerr %d); trying again", l->name, natsStatus_GetText(s), (int)jerr);
		return NULL;
	}
	natsSubscription_SetPendingLimits(sub, 65536, 256 << 20);
	return sub;
}

/* Ticker: (re)subscribe the job consumers of the live local functions; drop those of the others. */
static void sync_subs(struct cl_ctx *x)
{
	struct cl_local *want[256], *drop[256];
	unsigned nw = 0, nd = 0;
	pthread_mutex_lock(&x->lock);
	bool ready = atomic_load_explicit(&x->bk_ready, memory_order_acquire) && !x->draining && !x->stopping;
	for (struct cl_local *l = x->locals; l; l = l->next) {
		if (l->live && ready && !l->j && nw < 256)
			want[nw++] = l;
		else if ((!l->live || !ready) && l->j && nd < 256)
			drop[nd++] = l;
	}
	pthread_mutex_unlock(&x->lock);
	for (unsigned i = 0; i < nd; i++) {
		/* Bound, not created, by the subscription: unsubscribing leaves the consumer to the others. */
		natsSubscription_Unsubscribe(drop[i]->j);
		natsSubscription_Destroy(drop[i]->j);
		drop[i]->j = NULL;
	}
	for (unsigned i = 0; i < nw; i++)
		want[i]->j = job_subscribe(x, want[i]);
}

void cl_jobs_tick(struct cl_ctx *x, int64_t now)
{
	if (natsConnection_Status(x->nc) != NATS_CONN_STATUS_CONNECTED) {
		x->stream_ok = false; /* the server may come back without it: check again */
		return;
	}
	if (!x->stream_ok)
		ensure_stream(x);
	if (x->stream_ok)
		sync_subs(x);
	if (now < x->next_progress)
		return;
	x->next_progress = now + (int64_t)CL_JOB_PROGRESS_MS * 1000000;
	pthread_mutex_lock(&x->lock);
	/* Still running: reset the server's redelivery timer, so only a dead node's jobs go elsewhere. */
	for (struct served *s = x->running; s; s = s->next)
		natsMsg_InProgress(s->job, NULL);
	pthread_mutex_unlock(&x->lock);
}

void cl_jobs_failed(struct cl_ctx *x, const struct cl_pending *p, int status)
{
	struct cl_failed_job *f = &x->failed[x->nfailed++ % 64];
	snprintf(f->id, sizeof(f->id), "%s", p->job_id);
	snprintf(f->name, sizeof(f->name), "%s", p->name);
	f->status = status;
	f->when = cl_now();
}

uint32_t cl_jobs_list(void *ctx, struct bk_wire_job *out, uint32_t start, uint32_t max, uint32_t *total)
{
	struct cl_ctx *x = ctx;
	uint32_t idx = 0, n = 0;
	int64_t now = cl_now();
	pthread_mutex_lock(&x->lock);
	for (const struct cl_pending *p = x->all; p; p = p->next) {
		if (!p->job || idx++ < start || n >= max)
			continue;
		struct bk_wire_job *w = &out[n++];
		memset(w, 0, sizeof(*w));
		snprintf(w->id, sizeof(w->id), "%s", p->job_id);
		snprintf(w->name, sizeof(w->name), "%s", p->name);
		w->state = BK_JOB_PENDING;
		w->age_ns = (uint64_t)(now - p->sent);
	}
	for (const struct served *s = x->running; s; s = s->next) {
		if (idx++ < start || n >= max)
			continue;
		struct bk_wire_job *w = &out[n++];
		memset(w, 0, sizeof(*w));
		snprintf(w->id, sizeof(w->id), "%s", s->id);
		snprintf(w->name, sizeof(w->name), "%s", s->name);
		w->state = BK_JOB_RUNNING;
		w->age_ns = (uint64_t)(now - s->started);
	}
	unsigned kept = x->nfailed < 64 ? x->nfailed : 64;
	for (unsigned i = 0; i < kept; i++) {
		const struct cl_failed_job *f = &x->failed[(x->nfailed - 1 - i) % 64];
		if (idx++ < start || n >= max)
			continue;
		struct bk_wire_job *w = &out[n++];
		memset(w, 0, sizeof(*w));
		snprintf(w->id, sizeof(w->id), "%s", f->id);
		snprintf(w->name, sizeof(w->name), "%s", f->name);
		w->state = BK_JOB_FAILED;
		w->status = f->status;
		w->age_ns = (uint64_t)(now - f->when);
	}
	pthread_mutex_unlock(&x->lock);
	*total = idx;
	return n;
}
