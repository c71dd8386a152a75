// SPDX-License-Identifier: MIT
/*
 * registry_refs.h - a worker's module references, counted per turn instead
 * of per task (docs/ARCHITECTURE.md, "Modules": "References in batches").
 *
 * bkd_registry_acquire/release cost three locked read-modify-writes per
 * task (inflight up, done, inflight down), and each one waits for the
 * worker's store buffer to drain, which is full of completion entries for
 * another CPU's cache: a third of a worker's time at window 256.  A worker
 * instead pays one locked increment per module and turn (the "hold",
 * still with the Dekker check of bkd_registry_acquire), counts its tasks
 * in plain fields, and applies the net change in one locked add when it
 * flushes, which it does before it sleeps and at the end of every turn.
 * A module therefore drains at most one turn later than it would have.
 *
 * Worker thread only: the cache belongs to one worker.
 */
#ifndef BROKER_REGISTRY_REFS_H
#define BROKER_REGISTRY_REFS_H

#include <stdint.h>

#include "registry.h"

#define BKD_REFS_MODULES 8 /* modules a turn counts at once; one more flushes one entry early */

struct bkd_refs_entry {
	struct bkd_module *mod;
	long counted; /* +1s this turn added to mod->inflight (each with the Dekker check) */
	long delta; /* task references taken minus dropped this turn */
	uint64_t done, failed; /* statistics, added at the flush */
};

struct bkd_refs {
	struct bkd_registry *reg;
	unsigned n;
	struct bkd_refs_entry e[BKD_REFS_MODULES];
};

void bkd_refs_init(struct bkd_refs *rc, struct bkd_registry *reg);

/*
 * bkd_registry_acquire through the cache.  The same results, except that a
 * function whose module was retired during this turn may still be taken
 * until the worker reads the retirement (relaxed); the hold keeps that
 * module's code until the flush, and the next turn's first acquire checks.
 */
int bkd_refs_acquire(struct bkd_refs *rc, uint32_t fn, struct bkd_fn_ref *out);

/* bkd_registry_release through the cache: the count drops at the next flush. */
void bkd_refs_release(struct bkd_refs *rc, const struct bkd_fn_ref *ref, int status);

/* Apply this turn's counts to the modules (and notify a drained one).  Cheap when there is nothing.
 * Module statistics (done, failed) and inflight lag by at most a turn. */
void bkd_refs_flush_slow(struct bkd_refs *rc);
static inline void bkd_refs_flush(struct bkd_refs *rc)
{
	if (rc->n)
		bkd_refs_flush_slow(rc);
}

#endif /* BROKER_REGISTRY_REFS_H */
