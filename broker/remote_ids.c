// SPDX-License-Identifier: MIT
/*
 * remote_ids.c - routing a task whose function id names a function of
 * another node (cluster.h): the reference points at brokerd's one remote
 * handler, with the remote function's record as its state.  It sits below
 * task.c and calls nothing above it; the handler itself (remote_call.c) is
 * reached through the pointer set when the cluster starts.
 */
#include <errno.h>

#include "cluster.h"

int bkd_remote_acquire(struct bkd_broker *b, uint32_t fn, struct bkd_fn_ref *out)
{
	struct bkd_cluster *cl = b->cluster;
	if (!cl || !bkd_remote_is_id(fn))
		return -ENOENT;
	/* Acquire: pairs with the release store of the lookup that made the record. */
	struct bkd_remote_fn *rf = atomic_load_explicit(&cl->ids[fn - BKD_REMOTE_FN_BASE], memory_order_acquire);
	if (!rf)
		return -ENOENT;
	out->handler = cl->handler;
	out->state = rf;
	out->mod = NULL; /* no module to count or drain: bkd_registry_release ignores it */
	out->access = NULL; /* the serving node runs it as its own uid (docs/CLUSTER.md) */
	out->fn = fn;
	return 0;
}
