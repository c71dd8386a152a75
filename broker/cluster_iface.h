// SPDX-License-Identifier: MIT
/*
 * cluster_iface.h - the internal, versioned interface between brokerd and
 * brokerd-cluster.so, the part that speaks NATS (docs/CLUSTER.md).  brokerd
 * dlopens the object only with --cluster, so a brokerd without it neither
 * links nor starts anything of NATS.  Two tables of functions, one each way,
 * each starting with its size and the interface version; a mismatch of
 * either refuses the object with a message naming both.
 *
 * Threads: the object runs its own threads (the NATS client's and its own);
 * brokerd calls call() on a worker and everything else on the control
 * thread.  The object never touches a worker's ring: a remote call ends in
 * host->call_done(), which posts the result to the task's worker inbox.
 */
#ifndef BROKER_CLUSTER_IFACE_H
#define BROKER_CLUSTER_IFACE_H

#include <stddef.h>
#include <stdint.h>

#include "broker/wire.h" /* the listing records */

#define BKD_CLUSTER_IFACE_VERSION 1u
#define BKD_CLUSTER_ENTRY_NAME "bkd_cluster_entry_v1"
#define BKD_CLUSTER_NAME_MAX 127u /* "module.function" */
#define BKD_CLUSTER_NODE_MAX 31u /* node name */

/* bkd_cluster_call.flags: a durable job (JetStream work queue) rather than a call. */
#define BKD_CLUSTER_JOB 0x80000000u

/* One call to run elsewhere; owned by brokerd until call_done(token, ...). */
struct bkd_cluster_call {
	void *token; /* brokerd's, handed back to call_done */
	const char *name; /* "module.function", valid until call_done */
	const void *arg;
	size_t arg_len; /* arg is valid until call_done */
	uint64_t deadline; /* absolute CLOCK_MONOTONIC ns, 0: none */
	uint32_t flags; /* BK_FN_IDEMPOTENT (module.h): may be retried once on another node; BKD_CLUSTER_JOB */
	uint8_t prio; /* BK_SQE_PRIO_* */
};

/* brokerd -> object: what the object may ask of brokerd. */
struct bkd_cluster_host {
	uint32_t size;
	uint32_t version;
	const char *url; /* nats://HOST:PORT */
	const char *node; /* this node's name */
	const char *socket; /* brokerd's own socket: local calls of remote callers go through it */
	/* A remote call ended (any thread, exactly once per call): status 0 or -errno, len result bytes. */
	void (*call_done)(void *token, int status, const void *res, size_t len);
	/* Log through brokerd's log (any thread). */
	void (*log)(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
};

/* object -> brokerd. */
struct bkd_cluster_ops {
	uint32_t size;
	uint32_t version;
	/* Start (control thread): connects in the background, so NATS may be down.  0 or -errno. */
	int (*start)(const struct bkd_cluster_host *h, void **ctx);
	/* Shutdown began: stop serving others and announcing (control thread). */
	void (*drain)(void *ctx);
	/* Fail every call still waiting for a reply with status (control thread). */
	void (*fail_all)(void *ctx, int status);
	/* Stop and free; every call has ended before it returns (control thread). */
	void (*stop)(void *ctx);
	/* The functions this node serves changed: names[i] with flags[i] (control thread; copied). */
	void (*set_local)(void *ctx, const char *const *names, const uint32_t *flags, uint32_t n);
	/* Is name served by some other node?  0 with *flags, or -ENOENT (control thread). */
	int (*lookup)(void *ctx, const char *name, uint32_t *flags);
	/* Send a call (a worker).  0: call_done follows exactly once; <0: it does not. */
	int (*call)(void *ctx, const struct bkd_cluster_call *c);
	/* Listings (control thread): records [start, start+max) into out; *total gets the count. */
	uint32_t (*list_fns)(void *ctx, struct bk_wire_rfn *out, uint32_t start, uint32_t max, uint32_t *total);
	uint32_t (*list_nodes)(void *ctx, struct bk_wire_node *out, uint32_t start, uint32_t max,
			       uint32_t *total);
	uint32_t (*list_jobs)(void *ctx, struct bk_wire_job *out, uint32_t start, uint32_t max, uint32_t *total);
};

typedef const struct bkd_cluster_ops *(*bkd_cluster_entry_fn)(void);

#endif /* BROKER_CLUSTER_IFACE_H */
