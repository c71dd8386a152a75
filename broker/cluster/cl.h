// SPDX-License-Identifier: MIT
/*
 * cl.h - brokerd-cluster.so's shared state (docs/CLUSTER.md): one NATS
 * connection, the directory of nodes (heartbeats), the calls this node sent
 * and waits for, and the functions it serves for others.  One mutex guards
 * the directory, the pending calls and the local set; nothing is called
 * back into brokerd or NATS with it held.
 *
 * Subjects:
 *   bk.fn.<module>.<function>              a call, queue group "bkd": one serving node takes it
 *   bk.node.<node>.fn.<module>.<function>  a call to that node only (the retry of an idempotent call)
 *   _BK.<node>.<id>                        replies to a call of <node>: an ack (who took it), then the result
 *   bk.cluster.beat                        every node's heartbeat: name, load, functions
 *   bk.cluster.hello / bk.cluster.bye      a node (re)joins (everyone beats at once) / leaves
 */
#ifndef BK_CLUSTER_CL_H
#define BK_CLUSTER_CL_H

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "broker/client.h"
#include "broker/module.h" /* BK_FN_IDEMPOTENT */
#include "broker/sys.h" /* bk_now_ns */
#include "cluster_iface.h"

#define CL_BEAT_MS 200 /* heartbeat period */
#define CL_DEAD_MS 1500 /* a node not heard of for this long is dead; also the wait for an ack */
#define CL_BUCKETS 1024u
#define CL_MAGIC_REQ 0x51524b42u /* "BKRQ" */
#define CL_MAGIC_REP 0x50524b42u /* "BKRP" */
#define CL_REP_ACK 1u
#define CL_REP_RESULT 2u

/* A call on the wire: this header, then the argument.  Little-endian hosts only (docs/CLUSTER.md). */
struct cl_req {
	uint32_t magic;
	uint16_t version; /* 1 */
	uint8_t prio;
	uint8_t rsvd;
	uint64_t remaining_ns; /* the caller's deadline as time left when sent, 0: none */
};

/* A reply: this header, then (CL_REP_RESULT, status 0) the result. */
struct cl_rep {
	uint32_t magic;
	uint8_t kind;
	uint8_t rsvd[3];
	int32_t status;
	uint32_t rsvd2;
	char node[32]; /* who took the call */
};

struct cl_node {
	char name[BKD_CLUSTER_NODE_MAX + 1];
	int64_t last_seen; /* CLOCK_MONOTONIC ns */
	uint64_t inflight, served;
	char **fns;
	uint32_t *fflags;
	uint32_t nfns;
	struct cl_node *next;
};

/* A call this node sent and waits for. */
struct cl_pending {
	uint64_t id;
	void *token;
	char name[BKD_CLUSTER_NAME_MAX + 1];
	uint8_t *msg; /* the request as sent (header + argument), kept for a retry */
	size_t msg_len;
	uint64_t deadline; /* 0: none */
	int64_t sent;
	uint32_t flags;
	bool acked, retried, job;
	char job_id[64];
	char node[BKD_CLUSTER_NODE_MAX + 1]; /* who took it, from the ack */
	struct cl_pending *hnext; /* hash bucket */
	struct cl_pending *next, *prev; /* every pending call */
};

/* A function this node serves: its two subscriptions.  Kept until stop (a callback may hold it). */
struct cl_local {
	char name[BKD_CLUSTER_NAME_MAX + 1];
	uint32_t flags;
	bool live;
	bk_fn fn; /* its id on this node's own connection, 0 until looked up */
	bool fn_known;
	natsSubscription *q, *d;
	natsSubscription *j; /* its durable jobs (jobs.c), the ticker's only */
	struct cl_ctx *x;
	struct cl_local *next;
};

/* A job this node sent that failed (failed ones are kept for brokerctl jobs). */
struct cl_failed_job {
	char id[64];
	char name[BKD_CLUSTER_NAME_MAX + 1];
	int status;
	int64_t when;
};

struct cl_ctx {
	const struct bkd_cluster_host *h;
	natsOptions *opts;
	natsConnection *nc;
	natsSubscription *reply_sub, *beat_sub, *hello_sub, *bye_sub;
	char reply_prefix[64];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t ticker;
	pthread_t jobs; /* JetStream upkeep (jobs.c) */
	bool ticker_started, jobs_started, stopping, draining, closed;
	int64_t next_beat;
	int64_t tick_wake; /* when the ticker wakes next, 0 while it scans (lock) */
	bool rescan; /* a call with an earlier deadline came: scan before sleeping (lock) */
	/* directory */
	struct cl_node *nodes;
	/* pending calls */
	struct cl_pending *buckets[CL_BUCKETS];
	struct cl_pending *all;
	uint64_t next_id;
	uint64_t npending;
	/* serving */
	struct cl_local *locals;
	bk_client *bk; /* this node's own connection, for the calls of others */
	pthread_t server;
	bool server_started;
	_Atomic bool bk_ready;
	_Atomic uint64_t serving, served;
	/* durable jobs (jobs.c) */
	jsCtx *js;
	bool stream_ok; /* the work-queue stream exists (checked once per connection) */
	int64_t next_progress;
	struct served *running;
	struct cl_failed_job failed[64];
	unsigned nfailed;
	uint64_t boot; /* part of every job id */
};

static inline int64_t cl_now(void)
{
	return bk_now_ns();
}

/* directory.c */
void cl_dir_beat(struct cl_ctx *x); /* publish this node's heartbeat */
void cl_dir_on_beat(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure);
void cl_dir_on_bye(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure);
void cl_dir_clear(struct cl_ctx *x); /* lock held: forget every other node */
/* lock held: nodes silent for CL_DEAD_MS are removed; their names go to dead[] (up to max). */
unsigned cl_dir_reap(struct cl_ctx *x, int64_t now, char (*dead)[BKD_CLUSTER_NODE_MAX + 1], unsigned max);
/* lock held: a live node other than not that serves name, or NULL. */
const struct cl_node *cl_dir_other(struct cl_ctx *x, const char *name, const char *not);
int cl_dir_lookup(void *ctx, const char *name, uint32_t *flags);
uint32_t cl_dir_list_fns(void *ctx, struct bk_wire_rfn *out, uint32_t start, uint32_t max, uint32_t *total);
uint32_t cl_dir_list_nodes(void *ctx, struct bk_wire_node *out, uint32_t start, uint32_t max, uint32_t *total);

/* caller.c */
int cl_call(void *ctx, const struct bkd_cluster_call *c);
void cl_on_reply(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure);
void cl_fail_all(void *ctx, int status);
/* The ticker's turn: expire deadlines, retry or fail calls of dead nodes; returns the next wake-up. */
int64_t cl_calls_tick(struct cl_ctx *x, int64_t now);

/* A call (or job) this node is serving for another; jobs are also on x->running. */
struct served {
	struct cl_ctx *x;
	void *buf; /* a zero-copy argument buffer, or NULL */
	natsMsg *job; /* the JetStream message, acked after completion; NULL for a call */
	struct served *next, *prev;
	int64_t started;
	char id[64];
	char name[BKD_CLUSTER_NAME_MAX + 1];
	char reply[];
};

/* serve.c */
extern pthread_rwlock_t cl_bk_rw; /* submissions (read) against the disconnect (write) of x->bk */
void cl_publish_rep(struct cl_ctx *x, const char *reply, uint8_t kind, int status, const void *res, size_t len);
/* Submit one call to our own brokerd (cl_bk_rw read-held, bk ready); 0, or the status to reply with. */
int cl_submit_local(struct cl_ctx *x, struct cl_local *l, const struct cl_req *h, const uint8_t *arg, size_t len,
		    struct served *s, bk_complete_cb cb);
int cl_serve_start(struct cl_ctx *x);
void cl_serve_stop(struct cl_ctx *x);
void cl_set_local(void *ctx, const char *const *names, const uint32_t *flags, uint32_t n);
void cl_serve_unsubscribe(struct cl_ctx *x);

/* jobs.c */
int cl_jobs_init(struct cl_ctx *x);
/* Publish job p (lock not held; p may end meanwhile): 0 or -errno. */
int cl_job_publish(struct cl_ctx *x, const char *name, const char *reply, const char *job_id, const void *msg,
		   size_t len);
void cl_jobs_tick(struct cl_ctx *x, int64_t now); /* ticker: stream, subscriptions, in-progress marks */
void cl_jobs_failed(struct cl_ctx *x, const struct cl_pending *p, int status); /* lock held */
uint32_t cl_jobs_list(void *ctx, struct bk_wire_job *out, uint32_t start, uint32_t max, uint32_t *total);
void cl_jobs_fini(struct cl_ctx *x);

/* Join a's comma-separated list in dst[size] ("...", when full). */
void cl_join(char *dst, size_t size, const char *add);

#endif /* BK_CLUSTER_CL_H */
