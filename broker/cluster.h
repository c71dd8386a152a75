// SPDX-License-Identifier: MIT
/*
 * cluster.h - brokerd's side of --cluster (docs/CLUSTER.md): the loaded
 * brokerd-cluster.so (cluster_iface.h), the ids of remote functions, and the
 * hooks the rest of brokerd calls.  Without --cluster b->cluster is NULL and
 * every hook returns at once.
 *
 * Remote function ids are BKD_REMOTE_FN_BASE + index, far above any id of
 * the module registry, so routing tells them apart by value.  A name gets
 * its id at its first lookup and keeps it for brokerd's life.
 */
#ifndef BROKER_CLUSTER_H
#define BROKER_CLUSTER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "brokerd.h"
#include "cluster_iface.h"

#define BKD_REMOTE_FN_BASE 0x40000000u
#define BKD_REMOTE_MAX 4096u

struct bkd_remote_fn {
	char name[BKD_CLUSTER_NAME_MAX + 1];
	uint32_t flags; /* BK_FN_* as the serving node announced it at lookup */
	const struct bkd_access_rule *access; /* a local function's --module-access rule (durable jobs), else NULL */
};

struct bkd_cluster {
	void *dl;
	int fd; /* the checked file dlopen loaded through (modcheck.h) */
	const struct bkd_cluster_ops *ops;
	void *ctx;
	struct bkd_cluster_host host;
	char node[BKD_CLUSTER_NODE_MAX + 1];
	bk_handler_fn handler; /* the handler of every remote function (remote_call.c) */
	bk_handler_fn job_handler; /* the handler of every durable job (remote_call.c) */
	/* Records of local ids named by durable jobs, made on first use by a worker (CAS); freed at fini. */
	_Atomic(struct bkd_remote_fn *) local_ids[4096];
	/* Written by the control thread (release), read by workers (acquire); never freed before fini. */
	_Atomic(struct bkd_remote_fn *) ids[BKD_REMOTE_MAX];
	uint32_t nids; /* control thread */
};

static inline bool bkd_remote_is_id(uint32_t fn)
{
	return fn >= BKD_REMOTE_FN_BASE && fn - BKD_REMOTE_FN_BASE < BKD_REMOTE_MAX;
}

/*
 * Route a task of a remote id, or a durable job (sqe_flags BK_SQE_F_DURABLE) of any id (task.c): as
 * bkd_registry_acquire; -ENOENT when unknown, -EOPNOTSUPP for a job without --cluster.  Any worker.
 */
int bkd_remote_acquire(struct bkd_broker *b, uint32_t fn, uint8_t sqe_flags, struct bkd_fn_ref *out);

/* remote_call.c: the handler of remote functions, and the object's call_done. */
int bkd_remote_handler(bk_task *t, const bk_host_api *host, void *state);
int bkd_remote_job_handler(bk_task *t, const bk_host_api *host, void *state);
void bkd_remote_call_done(void *token, int status, const void *res, size_t len);

/* ---- hooks (control thread) ---------------------------------------------------- */

/* --cluster: load brokerd-cluster.so and start it.  0 (also without --cluster) or -errno. */
int bkd_cluster_start(struct bkd_broker *b);
/* The local modules changed (load, unload): tell the cluster what this node serves. */
void bkd_cluster_local_changed(struct bkd_broker *b);
/* A name the registry does not know: a remote id when another node serves it, else -ENOENT. */
int bkd_cluster_lookup(struct bkd_broker *b, const char *name, uint32_t *fn);
/* Shutdown began: stop serving other nodes. */
void bkd_cluster_drain(struct bkd_broker *b);
/* The grace period is over: remote calls still waiting end with -ECANCELED. */
void bkd_cluster_cancel_all(struct bkd_broker *b);
/* Stop and unload; every remote call has ended when it returns. */
void bkd_cluster_stop(struct bkd_broker *b);
/* BK_MSG_REMOTE_FNS / BK_MSG_NODES / BK_MSG_JOBS: one page of the listing into buf (BK_WIRE_MAX_MSG); its length. */
size_t bkd_cluster_list(struct bkd_broker *b, uint16_t type, uint32_t start, uint32_t seq, void *buf);

#endif /* BROKER_CLUSTER_H */
