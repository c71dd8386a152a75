// SPDX-License-Identifier: MIT
/*
 * remote_ids.c - routing a task whose function id names a function of
 * another node, or that is a durable job (cluster.h): the reference points
 * at brokerd's remote (or job) handler, with the function's record as its
 * state.  It sits below task.c and calls nothing above it; the handlers
 * (remote_call.c) are reached through the pointers set when the cluster
 * starts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cluster.h"

/* The record of a local id for a durable job: made once, by whichever worker gets there first. */
static struct bkd_remote_fn *local_record(struct bkd_broker *b, struct bkd_cluster *cl, uint32_t fn)
{
	const size_t n = sizeof(cl->local_ids) / sizeof(cl->local_ids[0]);
	if (fn >= n)
		return NULL;
	/* Acquire: pairs with the CAS's release below, so the record is seen filled. */
	struct bkd_remote_fn *rf = atomic_load_explicit(&cl->local_ids[fn], memory_order_acquire);
	if (rf)
		return rf;
	const struct bkd_access_rule *access = NULL;
	const char *name = bkd_registry_fn_served(b->reg, fn, &access);
	if (!name || !(rf = calloc(1, sizeof(*rf))))
		return NULL;
	snprintf(rf->name, sizeof(rf->name), "%s", name);
	rf->access = access;
	struct bkd_remote_fn *expected = NULL;
	if (!atomic_compare_exchange_strong_explicit(&cl->local_ids[fn], &expected, rf, memory_order_acq_rel,
						     memory_order_acquire)) {
		free(rf);
		rf = expected;
	}
	return rf;
}

int bkd_remote_acquire(struct bkd_broker *b, uint32_t fn, uint8_t sqe_flags, struct bkd_fn_ref *out)
{
	struct bkd_cluster *cl = b->cluster;
	bool job = sqe_flags & BK_SQE_F_DURABLE;
	if (!cl)
		return job ? -EOPNOTSUPP : -ENOENT;
	struct bkd_remote_fn *rf = NULL;
	if (bkd_remote_is_id(fn)) {
		/* Acquire: pairs with the release store of the lookup that made the record. */
		rf = atomic_load_explicit(&cl->ids[fn - BKD_REMOTE_FN_BASE], memory_order_acquire);
	} else if (job) {
		rf = local_record(b, cl, fn);
	}
	if (!rf)
		return -ENOENT;
	out->handler = job ? cl->job_handler : cl->handler;
	out->state = rf;
	out->mod = NULL; /* no module to count or drain: bkd_registry_release ignores it */
	/* A job of a local function keeps its --module-access rule; the serving node runs it as its own uid. */
	out->access = rf->access;
	out->fn = fn;
	return 0;
}
