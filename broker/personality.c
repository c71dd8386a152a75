// SPDX-License-Identifier: MIT
/*
 * personality.c - per-worker caches of io_uring personalities
 * (personality.h).  A hit costs a compare of the connection's cached
 * (worker, slot, generation) against the table; a miss switches the worker
 * thread to the caller's credentials for the one io_uring_register call.
 */
#include "personality.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "worker.h"

struct pers_entry {
	struct bkd_caller *key; /* our own copy of the credentials; NULL while free */
	uint64_t used; /* the table's clock at the last use: least recently used goes first */
	uint32_t gen; /* bumped whenever the entry changes hands, so cached references go stale */
	uint16_t id;
};

struct pers_table {
	uint64_t clock;
	struct pers_entry e[BKD_PERS_PER_WORKER];
};

struct bkd_pers {
	unsigned n;
	struct pers_table t[];
};

int bkd_pers_create(unsigned nworkers, struct bkd_pers **out)
{
	struct bkd_pers *p = calloc(1, sizeof(*p) + nworkers * sizeof(struct pers_table));
	if (!p)
		return -ENOMEM;
	p->n = nworkers;
	*out = p;
	return 0;
}

void bkd_pers_destroy(struct bkd_pers *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->n; i++)
		for (unsigned k = 0; k < BKD_PERS_PER_WORKER; k++)
			bkd_caller_free(p->t[i].e[k].key);
	free(p);
}

/* Register c's credentials on w's ring: switch this (the worker's) thread to them, register, switch back. */
static int register_as(struct bkd_worker *w, const struct bkd_caller *c)
{
	struct bkd_creds_saved s;
	int r = bkd_creds_enter(c, &s);
	if (r < 0)
		return r;
	int id = io_uring_register_personality(&w->ring);
	bkd_creds_leave(&s);
	if (id == 0) {
		/* 0 means "no personality" in an SQE; the kernel never hands it out. */
		io_uring_unregister_personality(&w->ring, 0);
		return -EINVAL;
	}
	return id;
}

/* A free entry, else the least recently used one, unregistered. */
static struct pers_entry *take_entry(struct bkd_worker *w, struct pers_table *t)
{
	struct pers_entry *victim = &t->e[0];
	for (unsigned k = 0; k < BKD_PERS_PER_WORKER; k++) {
		if (!t->e[k].key)
			return &t->e[k];
		if (t->e[k].used < victim->used)
			victim = &t->e[k];
	}
	/* Queued SQEs may carry the id: submitted requests hold their own reference to the credentials. */
	int r = io_uring_submit(&w->ring);
	if (r < 0)
		bkd_warn("worker %u: submit before dropping a personality: %s", w->idx, strerror(-r));
	r = io_uring_unregister_personality(&w->ring, victim->id);
	if (r < 0)
		bkd_warn("worker %u: unregister personality %u: %s", w->idx, victim->id, strerror(-r));
	bkd_caller_free(victim->key);
	victim->key = NULL;
	victim->gen++;
	return victim;
}

static int lookup_slow(struct bkd_worker *w, struct pers_table *t, struct bkd_caller *c)
{
	struct pers_entry *e = NULL;
	for (unsigned k = 0; k < BKD_PERS_PER_WORKER && !e; k++)
		if (t->e[k].key && bkd_caller_same_creds(t->e[k].key, c))
			e = &t->e[k];
	if (!e) {
		struct bkd_caller *key;
		int r = bkd_caller_new(c->uid, c->gid, 0, c->groups, c->ngroups, &key);
		if (r < 0)
			return r;
		int id = register_as(w, key);
		if (id < 0) {
			bkd_caller_free(key);
			bkd_warn("worker %u: cannot register the credentials of uid %u: %s", w->idx, (unsigned)c->uid,
				 strerror(-id));
			return id;
		}
		e = take_entry(w, t);
		e->key = key;
		e->id = (uint16_t)id;
		e->gen++;
	}
	e->used = ++t->clock;
	c->pers_w = w;
	c->pers_slot = (uint32_t)(e - t->e);
	c->pers_gen = e->gen;
	c->pers_id = e->id;
	return e->id;
}

int bkd_pers_for(struct bkd_pers *p, struct bkd_worker *w, struct bkd_caller *c)
{
	/*
	 * A privileged brokerd gives every client operation a personality, its own credentials included for
	 * a caller that has them: an SQE without one runs with whatever credentials the thread issuing it has,
	 * and an io-wq thread the kernel creates from task work that runs while the worker is switched (during
	 * a registration) would have the switched ones for life.
	 */
	if (!bkd_creds_privileged())
		return 0;
	struct pers_table *t = &p->t[w->idx];
	if (c->pers_w == w) {
		struct pers_entry *e = &t->e[c->pers_slot];
		if (e->gen == c->pers_gen) {
			e->used = ++t->clock;
			return c->pers_id;
		}
	}
	return lookup_slow(w, t, c);
}
