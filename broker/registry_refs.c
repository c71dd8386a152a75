// SPDX-License-Identifier: MIT
/*
 * registry_refs.c - per-turn module references of one worker
 * (registry_refs.h).  The invariant: while an entry has counted > 0, its
 * module's inflight is at least counted (nothing is subtracted before the
 * flush), so the control thread cannot see it drained; after the flush,
 * inflight has gained exactly delta, the net task references of the turn.
 */
#include "registry_refs.h"

#include <errno.h>
#include <stddef.h>

#include "registry_impl.h"

void bkd_refs_init(struct bkd_refs *rc, struct bkd_registry *reg)
{
	rc->reg = reg;
	rc->n = 0;
}

/* Apply one entry's counts: statistics, then the net change of inflight. */
static void flush_entry(struct bkd_registry *r, const struct bkd_refs_entry *e)
{
	struct bkd_module *m = e->mod;
	/* Statistics only: relaxed. */
	if (e->done)
		atomic_fetch_add_explicit(&m->done, e->done, memory_order_relaxed);
	if (e->failed)
		atomic_fetch_add_explicit(&m->failed, e->failed, memory_order_relaxed);
	long adj = e->delta - e->counted;
	/*
	 * seq_cst, as bkd_registry_release's decrement: every task dropped
	 * this turn is past the module's code, and that happens before the
	 * control thread sees inflight reach 0 and unloads.
	 */
	if (adj && atomic_fetch_add_explicit(&m->inflight, adj, memory_order_seq_cst) + adj == 0)
		bkd_registry_notify_if_drained(r, m);
}

void bkd_refs_flush_slow(struct bkd_refs *rc)
{
	for (unsigned i = 0; i < rc->n; i++)
		flush_entry(rc->reg, &rc->e[i]);
	rc->n = 0;
}

/*
 * m's entry, or a new one.  With all taken, the last one is flushed and
 * reused: a turn that touches many modules pays one flush per extra
 * module, not a flush of all of them.  Only route() and task release call
 * this, and a task whose code is on the stack is still counted in delta,
 * so an early flush never drops the last reference of running code.
 */
static struct bkd_refs_entry *entry(struct bkd_refs *rc, struct bkd_module *m)
{
	for (unsigned i = 0; i < rc->n; i++)
		if (rc->e[i].mod == m)
			return &rc->e[i];
	if (rc->n == BKD_REFS_MODULES)
		flush_entry(rc->reg, &rc->e[--rc->n]);
	struct bkd_refs_entry *e = &rc->e[rc->n++];
	*e = (struct bkd_refs_entry){ .mod = m };
	return e;
}

int bkd_refs_acquire(struct bkd_refs *rc, uint32_t fn, struct bkd_fn_ref *out)
{
	struct bkd_registry *r = rc->reg;
	if (fn >= BKD_REG_MAX_FNS)
		return -ENOENT;
	/* acquire: pairs with the release store in load: the binding and module are initialised. */
	struct bkd_binding *b = atomic_load_explicit(&r->slots[fn], memory_order_acquire);
	if (!b)
		return -ENOENT;
	struct bkd_module *m = b->mod;
	for (unsigned i = 0; i < rc->n; i++) {
		struct bkd_refs_entry *e = &rc->e[i];
		/*
		 * Held this turn: m cannot be unloaded before our flush, so no
		 * Dekker check is needed for its code to stay.  The relaxed load
		 * of active only stops new tasks soon after a retirement, as the
		 * slow path would; one that reads a stale 1 is a task that came
		 * just before the retirement.
		 */
		if (e->mod == m && e->counted > 0 && atomic_load_explicit(&m->active, memory_order_relaxed)) {
			*out = (struct bkd_fn_ref){ .handler = b->handler, .state = m->state, .mod = m,
						    .access = m->access, .fn = fn };
			e->delta++;
			return 0;
		}
	}
	int rv = bkd_registry_acquire(r, fn, out); /* +1 on inflight, checked against a retirement */
	if (rv < 0)
		return rv;
	struct bkd_refs_entry *e = entry(rc, out->mod);
	e->counted++;
	e->delta++;
	return 0;
}

void bkd_refs_release(struct bkd_refs *rc, const struct bkd_fn_ref *ref, int status)
{
	if (!ref || !ref->mod)
		return; /* no module to count or drain (remote_ids.c) */
	struct bkd_refs_entry *e = entry(rc, ref->mod);
	e->delta--;
	e->done++;
	if (status < 0)
		e->failed++;
}
