// SPDX-License-Identifier: MIT
/*
 * registry.c - brokerd's module registry: every "module.function" gets a
 * numeric id that lives as long as the registry; each task is routed to the
 * module version serving its id now; modules that were unloaded or upgraded
 * are finalised (fini + dlclose) once drained.  Files are loaded by
 * loader.c, which hands finished module records to bkd_reg_commit.
 *
 * Concurrency model.  Control-thread functions (load, unload, lookup, list,
 * collect, destroy) are serialised by the caller; they own the module list
 * and the slot names.  Workers only call acquire/release, which touch nothing
 * but atomics:
 *   - slots[fn]      atomic pointer to the binding (module version + handler)
 *                    that serves id fn, or NULL;
 *   - mod->active    1 while the module may take new tasks;
 *   - mod->inflight  tasks acquired and not yet released.
 * A module's bookkeeping struct (not its code) is kept until the registry is
 * destroyed, so a worker that read a stale slot pointer never touches freed
 * memory: it only bumps a counter of a retired module and backs out.  That
 * costs a few hundred bytes per load, which is bounded by how often an
 * operator loads modules.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "log.h"
#include "registry_impl.h"

void bkd_reg_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int bkd_registry_create(const bk_host_api *host, void (*notify)(void *arg), void *arg, struct bkd_registry **out)
{
	struct bkd_registry *r;

	if (!out)
		return -EINVAL;
	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->slots = calloc(BKD_REG_MAX_FNS, sizeof(*r->slots));
	r->slot_names = calloc(BKD_REG_MAX_FNS, sizeof(*r->slot_names));
	if (!r->slots || !r->slot_names) {
		free(r->slots);
		free(r->slot_names);
		free(r);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < BKD_REG_MAX_FNS; i++)
		atomic_init(&r->slots[i], NULL);
	r->host = host;
	r->notify = notify;
	r->notify_arg = arg;
	*out = r;
	return 0;
}

void bkd_registry_set_access(struct bkd_registry *r, const struct bkd_access *a)
{
	r->access = a;
}

void bkd_reg_module_free(struct bkd_module *m)
{
	if (m->fnames) {
		for (uint32_t i = 0; i < m->nfunctions; i++)
			free(m->fnames[i]);
		free(m->fnames);
	}
	free(m->bindings);
	free(m->path);
	if (m->fd >= 0)
		close(m->fd);
	free(m);
}

static void module_finalise(struct bkd_module *m)
{
	if (m->finalised)
		return;
	m->finalised = true;
	if (m->fini)
		m->fini(m->state);
	if (m->dl && dlclose(m->dl) != 0)
		bkd_warn("dlclose of module %s (%s): %s", m->name, m->path, dlerror());
	m->dl = NULL;
	/* Only now: glibc knows the module by its /proc/self/fd name until dlclose. */
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
}

void bkd_registry_destroy(struct bkd_registry *r)
{
	struct bkd_module *m, *next;

	if (!r)
		return;
	for (m = r->modules; m; m = next) {
		next = m->next;
		module_finalise(m);
		bkd_reg_module_free(m);
	}
	for (uint32_t i = 0; i < r->nslots; i++)
		free(r->slot_names[i]);
	free(r->slot_names);
	free((void *)r->slots);
	free(r);
}

static struct bkd_module *find_active(struct bkd_registry *r, const char *name)
{
	for (struct bkd_module *m = r->modules; m; m = m->next)
		if (atomic_load_explicit(&m->active, memory_order_relaxed) && strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

const struct bkd_module *bkd_reg_find_path(const struct bkd_registry *r, const char *path)
{
	for (const struct bkd_module *m = r->modules; m; m = m->next)
		if (atomic_load_explicit(&m->active, memory_order_relaxed) && strcmp(m->path, path) == 0)
			return m;
	return NULL;
}

bool bkd_reg_find_dl(const struct bkd_registry *r, const void *dl)
{
	for (const struct bkd_module *m = r->modules; m; m = m->next)
		if (!m->finalised && m->dl == dl)
			return true;
	return false;
}

unsigned bkd_registry_active(const struct bkd_registry *r, struct bkd_module_file *out, unsigned max)
{
	unsigned n = 0;
	for (const struct bkd_module *m = r->modules; m; m = m->next) {
		if (!atomic_load_explicit(&m->active, memory_order_relaxed))
			continue;
		if (n < max) {
			snprintf(out[n].name, sizeof(out[n].name), "%s", m->name);
			out[n].path = m->path;
		}
		n++;
	}
	return n;
}

const char *bkd_registry_fn_name(const struct bkd_registry *r, uint32_t fn)
{
	return fn < r->nslots ? r->slot_names[fn] : NULL;
}

static int find_slot(const struct bkd_registry *r, const char *full)
{
	for (uint32_t i = 0; i < r->nslots; i++)
		if (strcmp(r->slot_names[i], full) == 0)
			return (int)i;
	return -1;
}

/* Wake the control thread if m is retired and idle; called after the last task or the retirement. */
void bkd_registry_notify_if_drained(struct bkd_registry *r, struct bkd_module *m)
{
	/*
	 * seq_cst pairs with the seq_cst store of active=0 in retire() and the
	 * seq_cst decrement in release(): of a release dropping inflight to 0
	 * and a retirement, at least one sees the other's write, so at least
	 * one of them notifies (both may, which only costs an extra collect).
	 */
	if (atomic_load_explicit(&m->active, memory_order_seq_cst) == 0 &&
	    atomic_load_explicit(&m->inflight, memory_order_seq_cst) == 0 && r->notify)
		r->notify(r->notify_arg);
}

/* Stop m taking new tasks. Its slots must already point elsewhere (or NULL). */
static void retire(struct bkd_registry *r, struct bkd_module *m)
{
	/*
	 * seq_cst: Dekker pattern with acquire(), which increments inflight and
	 * then loads active (both seq_cst).  In the single total order either
	 * acquire's load comes after this store (it sees 0 and backs out) or its
	 * increment comes before the inflight load in collect() (which then
	 * sees the task and does not finalise).  So no task runs the handler of
	 * a finalised module.
	 */
	atomic_store_explicit(&m->active, 0, memory_order_seq_cst);
	bkd_registry_notify_if_drained(r, m);
}

int bkd_reg_reserve(struct bkd_registry *r, const char *path, const bk_module_desc *d, uint32_t *ids,
		    uint32_t *nnew, char *err, size_t errlen)
{
	*nnew = 0;
	for (uint32_t i = 0; i < d->nfunctions; i++) {
		char full[BKD_REG_FULLNAME_MAX + 1];

		snprintf(full, sizeof(full), "%s.%s", d->name, d->functions[i].name);
		int s = find_slot(r, full);
		if (s < 0) {
			if (r->nslots + *nnew >= BKD_REG_MAX_FNS) {
				bkd_reg_set_err(err, errlen, "refusing module %s: function table full (%u ids used)", path,
						BKD_REG_MAX_FNS);
				return -ENOSPC;
			}
			s = (int)(r->nslots + *nnew);
			r->slot_names[s] = strdup(full);
			if (!r->slot_names[s]) {
				bkd_reg_set_err(err, errlen, "refusing module %s: out of memory", path);
				return -ENOMEM;
			}
			(*nnew)++;
		}
		ids[i] = (uint32_t)s;
	}
	return 0;
}

void bkd_reg_unreserve(struct bkd_registry *r, uint32_t nnew)
{
	/* Names reserved but not committed: forget them. */
	for (uint32_t i = 0; i < nnew; i++) {
		free(r->slot_names[r->nslots + i]);
		r->slot_names[r->nslots + i] = NULL;
	}
}

void bkd_reg_commit(struct bkd_registry *r, struct bkd_module *m, uint32_t nnew)
{
	r->nslots += nnew;
	m->access = bkd_access_find(r->access, m->name, strlen(m->name));
	struct bkd_module *old = find_active(r, m->name);
	atomic_store_explicit(&m->active, 1, memory_order_relaxed); /* published by the release stores below */
	m->next = r->modules;
	r->modules = m;
	for (uint32_t i = 0; i < m->nfunctions; i++) {
		/*
		 * release: a worker that loads this pointer (acquire) also sees the
		 * binding, the module's fields, active=1 and everything init wrote
		 * to the module's state.
		 */
		atomic_store_explicit(&r->slots[m->bindings[i].fn], &m->bindings[i], memory_order_release);
	}
	if (!old)
		return;
	/* Names the new version dropped stop resolving; their ids stay reserved. */
	for (uint32_t i = 0; i < old->nfunctions; i++) {
		uint32_t id = old->bindings[i].fn;
		struct bkd_binding *cur = atomic_load_explicit(&r->slots[id], memory_order_relaxed);

		if (cur && cur->mod == old)
			atomic_store_explicit(&r->slots[id], NULL, memory_order_release);
	}
	retire(r, old);
}

int bkd_registry_unload(struct bkd_registry *r, const char *name, char *err, size_t errlen)
{
	struct bkd_module *m;

	if (err && errlen)
		err[0] = '\0';
	if (!r || !name)
		return -EINVAL;
	m = find_active(r, name);
	if (!m) {
		bkd_reg_set_err(err, errlen, "module %.64s is not loaded", name);
		return -ENOENT;
	}
	for (uint32_t i = 0; i < m->nfunctions; i++) {
		/* release: pairs with the acquire load in bkd_registry_acquire (only NULL is published). */
		atomic_store_explicit(&r->slots[m->bindings[i].fn], NULL, memory_order_release);
	}
	retire(r, m);
	return 0;
}

int bkd_registry_lookup(struct bkd_registry *r, const char *name, uint32_t *fn)
{
	int s;

	if (!r || !name || !fn)
		return -EINVAL;
	s = find_slot(r, name);
	if (s < 0 || !atomic_load_explicit(&r->slots[s], memory_order_relaxed))
		return -ENOENT;
	*fn = (uint32_t)s;
	return 0;
}

int bkd_registry_acquire(struct bkd_registry *r, uint32_t fn, struct bkd_fn_ref *out)
{
	struct bkd_binding *b;

	if (fn >= BKD_REG_MAX_FNS)
		return -ENOENT;
	/* acquire: pairs with the release store in load: the binding and module are initialised. */
	b = atomic_load_explicit(&r->slots[fn], memory_order_acquire);
	for (int tries = 0; b && tries < BKD_REG_ACQUIRE_TRIES; tries++) {
		struct bkd_module *m = b->mod;
		struct bkd_binding *again;

		/* seq_cst increment, then seq_cst load of active: see retire() for the Dekker argument. */
		atomic_fetch_add_explicit(&m->inflight, 1, memory_order_seq_cst);
		if (atomic_load_explicit(&m->active, memory_order_seq_cst)) {
			out->handler = b->handler;
			out->state = m->state;
			out->mod = m;
			out->access = m->access;
			out->fn = fn;
			return 0;
		}
		/* Retired between our two loads: back out; an upgrade has re-pointed the slot. */
		if (atomic_fetch_sub_explicit(&m->inflight, 1, memory_order_seq_cst) == 1)
			bkd_registry_notify_if_drained(r, m);
		again = atomic_load_explicit(&r->slots[fn], memory_order_acquire);
		if (again == b)
			break; /* retired and not re-pointed yet: unload in progress */
		b = again;
	}
	return -ENOENT;
}

void bkd_registry_release(struct bkd_registry *r, const struct bkd_fn_ref *ref, int status)
{
	struct bkd_module *m;

	if (!ref || !ref->mod)
		return;
	m = ref->mod;
	/* Statistics only: relaxed. */
	atomic_fetch_add_explicit(&m->done, 1, memory_order_relaxed);
	if (status < 0)
		atomic_fetch_add_explicit(&m->failed, 1, memory_order_relaxed);
	/*
	 * The caller must be past every piece of the task's module code (the
	 * handler and all callbacks have returned, no operation is pending):
	 * once inflight reaches 0 the control thread may dlclose at any moment.
	 *
	 * seq_cst (a release at least): everything the task did with the module
	 * happens before collect() sees inflight == 0 and runs fini/dlclose.  The
	 * module struct is never freed before destroy, so touching m after the
	 * decrement is safe; its code is not touched here at all.
	 */
	if (atomic_fetch_sub_explicit(&m->inflight, 1, memory_order_seq_cst) == 1)
		bkd_registry_notify_if_drained(r, m);
}

int bkd_registry_collect(struct bkd_registry *r)
{
	int n = 0;

	if (!r)
		return 0;
	for (struct bkd_module *m = r->modules; m; m = m->next) {
		if (m->finalised || atomic_load_explicit(&m->active, memory_order_relaxed))
			continue;
		/* seq_cst: see retire(); also acquires every released task's effects. */
		if (atomic_load_explicit(&m->inflight, memory_order_seq_cst) != 0)
			continue;
		module_finalise(m);
		n++;
	}
	return n;
}

/* Copy src into dst[size], keeping the tail (the file name) when it is too long. */
static void copy_tail(char *dst, size_t size, const char *src)
{
	size_t len = strlen(src);

	if (len < size) {
		memcpy(dst, src, len + 1);
		return;
	}
	memcpy(dst, "...", 3);
	memcpy(dst + 3, src + len - (size - 4), size - 4);
	dst[size - 1] = '\0';
}

/* Comma-separated short names; ends in ",..." when they do not all fit. */
static void join_functions(char *dst, size_t size, const struct bkd_module *m)
{
	size_t pos = 0;
	const size_t reserve = 4; /* ",..." */

	dst[0] = '\0';
	for (uint32_t i = 0; i < m->nfunctions; i++) {
		size_t len = strlen(m->fnames[i]);
		size_t need = len + (i ? 1 : 0);
		bool last = i + 1 == m->nfunctions;

		/* The last name may use the room kept for the marker. */
		if (pos + need + (last ? 0 : reserve) >= size) {
			const char *mark = i ? ",..." : "...";

			snprintf(dst + pos, size - pos, "%s", mark);
			return;
		}
		if (i)
			dst[pos++] = ',';
		memcpy(dst + pos, m->fnames[i], len);
		pos += len;
		dst[pos] = '\0';
	}
}

uint32_t bkd_registry_list(struct bkd_registry *r, struct bk_wire_module *out, uint32_t start, uint32_t max,
			  uint32_t *total)
{
	uint32_t idx = 0, copied = 0;
	struct bkd_module *order[64];
	struct bkd_module **all = order;
	uint32_t n = 0;

	if (total)
		*total = 0;
	if (!r)
		return 0;
	/* The list is newest first; report in load order. */
	for (struct bkd_module *m = r->modules; m; m = m->next)
		if (!m->finalised)
			n++;
	if (n > 64) {
		all = malloc(n * sizeof(*all));
		if (!all)
			return 0;
	}
	idx = n;
	for (struct bkd_module *m = r->modules; m; m = m->next)
		if (!m->finalised)
			all[--idx] = m;
	for (uint32_t i = start; i < n && copied < max && out; i++) {
		const struct bkd_module *m = all[i];
		struct bk_wire_module *w = &out[copied++];

		memset(w, 0, sizeof(*w));
		snprintf(w->name, sizeof(w->name), "%s", m->name);
		snprintf(w->version, sizeof(w->version), "%s", m->version);
		copy_tail(w->path, sizeof(w->path), m->path);
		join_functions(w->functions, sizeof(w->functions), m);
		w->nfunctions = m->nfunctions;
		w->state = atomic_load_explicit(&m->active, memory_order_relaxed) ? BK_MODSTATE_ACTIVE
										  : BK_MODSTATE_DRAINING;
		w->tasks_done = atomic_load_explicit(&m->done, memory_order_relaxed);
		long inf = atomic_load_explicit(&m->inflight, memory_order_relaxed);
		w->inflight = inf > 0 ? (uint64_t)inf : 0;
	}
	if (all != order)
		free(all);
	if (total)
		*total = n;
	return copied;
}

const char *bkd_registry_module_name(const struct bkd_fn_ref *ref)
{
	if (!ref || !ref->mod)
		return "?";
	return ref->mod->name;
}

void bkd_registry_functions(struct bkd_registry *r, void (*each)(void *ud, const char *name, uint32_t flags),
			    void *ud)
{
	for (uint32_t i = 0; i < r->nslots; i++) {
		struct bkd_binding *b = atomic_load_explicit(&r->slots[i], memory_order_relaxed);
		if (b)
			each(ud, r->slot_names[i], b->flags);
	}
}

const char *bkd_registry_fn_served(struct bkd_registry *r, uint32_t fn, const struct bkd_access_rule **access)
{
	/* Acquire: pairs with the release store of the binding, which follows the name's strdup. */
	struct bkd_binding *b = fn < BKD_REG_MAX_FNS ? atomic_load_explicit(&r->slots[fn], memory_order_acquire) : NULL;
	if (!b)
		return NULL;
	*access = b->mod->access;
	return r->slot_names[fn];
}
