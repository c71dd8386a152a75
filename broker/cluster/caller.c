// SPDX-License-Identifier: MIT
/*
 * caller.c - the calls this node sends (docs/CLUSTER.md, "Remote calls"):
 * a NATS request on the function's queue subject with the argument, the
 * time left before the caller's deadline and the lane; replies come to this
 * node's reply subject: an ack naming the node that took the call, then the
 * result.  Every call ends exactly once through host->call_done: with the
 * result, -EHOSTUNREACH (no responders, or NATS down when it is sent),
 * -ETIMEDOUT at its deadline, -ECONNRESET when the serving node died (or
 * NATS went away) first, unless the function is idempotent: then it is sent
 * once more, to another node serving it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl.h"

static struct cl_pending **bucket(struct cl_ctx *x, uint64_t id)
{
	return &x->buckets[id % CL_BUCKETS];
}

/* lock held */
static struct cl_pending *find(struct cl_ctx *x, uint64_t id)
{
	for (struct cl_pending *p = *bucket(x, id); p; p = p->hnext)
		if (p->id == id)
			return p;
	return NULL;
}

/* lock held */
static void unlink_pending(struct cl_ctx *x, struct cl_pending *p)
{
	for (struct cl_pending **pp = bucket(x, p->id); *pp; pp = &(*pp)->hnext) {
		if (*pp == p) {
			*pp = p->hnext;
			break;
		}
	}
	if (p->prev)
		p->prev->next = p->next;
	else
		x->all = p->next;
	if (p->next)
		p->next->prev = p->prev;
	x->npending--;
}

static void finish(struct cl_ctx *x, struct cl_pending *p, int status, const void *res, size_t len)
{
	if (p->job && status < 0) {
		pthread_mutex_lock(&x->lock);
		cl_jobs_failed(x, p, status);
		pthread_mutex_unlock(&x->lock);
	}
	x->h->call_done(p->token, status, res, len);
	free(p->msg);
	free(p);
}

static void *build_msg(const struct bkd_cluster_call *c, int64_t now, size_t *len)
{
	struct cl_req hdr = {.magic = CL_MAGIC_REQ, .version = 1, .prio = c->prio};
	if (c->deadline)
		hdr.remaining_ns = c->deadline > (uint64_t)now ? c->deadline - (uint64_t)now : 1;
	uint8_t *m = malloc(sizeof(hdr) + c->arg_len);
	if (!m)
		return NULL;
	memcpy(m, &hdr, sizeof(hdr));
	if (c->arg_len)
		memcpy(m + sizeof(hdr), c->arg, c->arg_len);
	*len = sizeof(hdr) + c->arg_len;
	return m;
}

int cl_call(void *ctx, const struct bkd_cluster_call *c)
{
	struct cl_ctx *x = ctx;
	int64_t now = cl_now();
	if (c->deadline && (uint64_t)now >= c->deadline)
		return -ETIMEDOUT;
	if (natsConnection_Status(x->nc) != NATS_CONN_STATUS_CONNECTED)
		return -EHOSTUNREACH; /* fail fast: no NATS, no other node */
	struct cl_pending *p = calloc(1, sizeof(*p));
	size_t len = 0;
	uint8_t *msg = p ? build_msg(c, now, &len) : NULL;
	if (!msg) {
		free(p);
		return -ENOMEM;
	}
	p->token = c->token;
	snprintf(p->name, sizeof(p->name), "%s", c->name);
	p->deadline = c->deadline;
	p->flags = c->flags;
	p->sent = now;
	p->job = c->flags & BKD_CLUSTER_JOB;
	pthread_mutex_lock(&x->lock);
	p->id = ++x->next_id;
	snprintf(p->job_id, sizeof(p->job_id), "%s-%" PRIx64 "-%" PRIu64, x->h->node, x->boot, p->id);
	char job_id[sizeof(p->job_id)];
	memcpy(job_id, p->job_id, sizeof(job_id));
	bool job = p->job;
	p->hnext = *bucket(x, p->id);
	*bucket(x, p->id) = p;
	p->next = x->all;
	if (x->all)
		x->all->prev = p;
	x->all = p;
	x->npending++;
	uint64_t id = p->id;
	if (c->deadline && (x->tick_wake == 0 || (int64_t)c->deadline < x->tick_wake)) {
		/* The ticker scans now (0) or sleeps past this deadline: it must look again before sleeping. */
		x->rescan = true;
		pthread_cond_broadcast(&x->cond);
	}
	pthread_mutex_unlock(&x->lock);
	char subj[BKD_CLUSTER_NAME_MAX + 16], reply[96];
	snprintf(subj, sizeof(subj), "bk.fn.%s", c->name);
	snprintf(reply, sizeof(reply), "%s%" PRIu64, x->reply_prefix, id);
	natsStatus s = job ? (cl_job_publish(x, c->name, reply, job_id, msg, len) == 0 ? NATS_OK : NATS_ERR)
			   : natsConnection_PublishRequest(x->nc, subj, reply, msg, (int)len);
	pthread_mutex_lock(&x->lock);
	/* From here p may already have ended (a reply, a disconnect): only touch it if still pending. */
	p = find(x, id);
	if (p && s != NATS_OK)
		unlink_pending(x, p);
	else if (p && (c->flags & BK_FN_IDEMPOTENT) && !p->msg)
		p->msg = msg, p->msg_len = len, msg = NULL; /* kept for a retry */
	pthread_mutex_unlock(&x->lock);
	free(msg);
	if (p && s != NATS_OK) {
		x->h->log(3, "sending %s: %s", c->name, natsStatus_GetText(s));
		free(p->msg);
		free(p);
		return -EHOSTUNREACH;
	}
	return 0;
}

static bool parse_id(const struct cl_ctx *x, const char *subj, uint64_t *id)
{
	size_t n = strlen(x->reply_prefix);
	if (strncmp(subj, x->reply_prefix, n) != 0)
		return false;
	char *end;
	*id = strtoull(subj + n, &end, 10);
	return *end == '\0';
}

void cl_on_reply(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	(void)nc;
	(void)sub;
	struct cl_ctx *x = closure;
	uint64_t id;
	struct cl_rep rep;
	const char *data = natsMsg_GetData(msg);
	int len = natsMsg_GetDataLength(msg);
	bool none = natsMsg_IsNoResponders(msg);
	if (!parse_id(x, natsMsg_GetSubject(msg), &id) || (!none && (len < (int)sizeof(rep)))) {
		natsMsg_Destroy(msg);
		return;
	}
	if (!none)
		memcpy(&rep, data, sizeof(rep));
	if (!none && (rep.magic != CL_MAGIC_REP || (rep.kind != CL_REP_ACK && rep.kind != CL_REP_RESULT))) {
		natsMsg_Destroy(msg);
		return;
	}
	pthread_mutex_lock(&x->lock);
	struct cl_pending *p = find(x, id);
	if (p && !none && rep.kind == CL_REP_ACK) {
		p->acked = true;
		snprintf(p->node, sizeof(p->node), "%.*s", (int)sizeof(rep.node), rep.node);
		p = NULL; /* still pending */
	} else if (p) {
		unlink_pending(x, p);
	}
	pthread_mutex_unlock(&x->lock);
	if (p && none)
		x->h->log(3, "%s: no responders%s", p->name, p->retried ? " (retry)" : "");
	if (p && none)
		finish(x, p, p->retried ? -ECONNRESET : -EHOSTUNREACH, NULL, 0);
	else if (p)
		finish(x, p, rep.status > 0 ? -EIO : rep.status, data + sizeof(rep), (size_t)len - sizeof(rep));
	natsMsg_Destroy(msg);
}

void cl_fail_all(void *ctx, int status)
{
	struct cl_ctx *x = ctx;
	pthread_mutex_lock(&x->lock);
	struct cl_pending *p = x->all;
	x->all = NULL;
	memset(x->buckets, 0, sizeof(x->buckets));
	x->npending = 0;
	pthread_mutex_unlock(&x->lock);
	while (p) {
		struct cl_pending *next = p->next;
		finish(x, p, status, NULL, 0);
		p = next;
	}
}

struct retry {
	char subj[BKD_CLUSTER_NAME_MAX + BKD_CLUSTER_NODE_MAX + 24];
	char reply[96];
	uint8_t *msg;
	size_t len;
	struct retry *next;
};

static bool in(char (*dead)[BKD_CLUSTER_NODE_MAX + 1], unsigned n, const char *name)
{
	for (unsigned i = 0; i < n; i++)
		if (strcmp(dead[i], name) == 0)
			return true;
	return false;
}

/* lock held: a lost call sent again to another node (true), or not (false: it fails). */
static bool plan_retry(struct cl_ctx *x, struct cl_pending *p, int64_t now, struct retry **list)
{
	if (!(p->flags & BK_FN_IDEMPOTENT) || p->retried || !p->msg)
		return false;
	const struct cl_node *n = cl_dir_other(x, p->name, p->node);
	struct retry *r = n ? calloc(1, sizeof(*r)) : NULL;
	if (r)
		r->msg = malloc(p->msg_len);
	if (!r || !r->msg) {
		free(r);
		return false;
	}
	memcpy(r->msg, p->msg, p->msg_len);
	r->len = p->msg_len;
	struct cl_req *h = (struct cl_req *)(void *)r->msg;
	if (p->deadline)
		h->remaining_ns = p->deadline > (uint64_t)now ? p->deadline - (uint64_t)now : 1;
	snprintf(r->subj, sizeof(r->subj), "bk.node.%s.fn.%s", n->name, p->name);
	snprintf(r->reply, sizeof(r->reply), "%s%" PRIu64, x->reply_prefix, p->id);
	x->h->log(2, "retrying %s (idempotent) on node %s", p->name, n->name);
	r->next = *list;
	*list = r;
	p->retried = true;
	p->acked = false;
	p->node[0] = '\0';
	p->sent = now;
	return true;
}

int64_t cl_calls_tick(struct cl_ctx *x, int64_t now)
{
	char dead[16][BKD_CLUSTER_NODE_MAX + 1];
	struct cl_pending *done = NULL;
	struct retry *retries = NULL;
	int64_t wake = now + (int64_t)CL_BEAT_MS * 1000000;
	const int64_t lost_after = (int64_t)CL_DEAD_MS * 1000000;
	pthread_mutex_lock(&x->lock);
	unsigned ndead = cl_dir_reap(x, now, dead, 16);
	for (struct cl_pending *p = x->all, *next; p; p = next) {
		next = p->next;
		int status = 0;
		if (p->deadline && (uint64_t)now >= p->deadline)
			status = -ETIMEDOUT;
		else if (p->job)
			status = 0; /* stored in JetStream: a dead node's job is redelivered, not lost */
		else if ((p->acked && in(dead, ndead, p->node)) || (!p->acked && now - p->sent >= lost_after))
			status = plan_retry(x, p, now, &retries) ? 0 : -ECONNRESET;
		if (status) {
			unlink_pending(x, p);
			p->acked = status == -ETIMEDOUT; /* reused as the status marker below */
			p->hnext = done;
			done = p;
			continue;
		}
		if (p->deadline && (int64_t)p->deadline < wake)
			wake = (int64_t)p->deadline;
		if (!p->acked && !p->job && p->sent + lost_after < wake)
			wake = p->sent + lost_after;
	}
	pthread_mutex_unlock(&x->lock);
	while (retries) {
		struct retry *r = retries;
		retries = r->next;
		natsConnection_PublishRequest(x->nc, r->subj, r->reply, r->msg, (int)r->len);
		free(r->msg);
		free(r);
	}
	while (done) {
		struct cl_pending *p = done;
		done = p->hnext;
		finish(x, p, p->acked ? -ETIMEDOUT : -ECONNRESET, NULL, 0);
	}
	return wake;
}
