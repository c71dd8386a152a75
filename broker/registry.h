// SPDX-License-Identifier: MIT
/*
 * registry.h - brokerd's module registry: resolve "module.function" names
 * to stable numeric ids, route tasks to the version of a function that
 * serves it now, and unload or upgrade a module once its in-flight tasks
 * have drained (docs/ARCHITECTURE.md, "Modules").  Loading files is
 * loader.h's job, one layer up.
 *
 * Thread-safety: acquire/release are called by every worker concurrently and
 * are lock-free on the hot path; load/unload/lookup/list/collect are called
 * by the control thread.
 */
#ifndef BROKER_REGISTRY_H
#define BROKER_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "broker/module.h"
#include "broker/wire.h"

struct bkd_registry;
struct bkd_module;
struct bkd_access;
struct bkd_access_rule;

/* What a worker needs to run one task; valid until bkd_registry_release(). */
struct bkd_fn_ref {
	bk_handler_fn handler;
	void *state; /* the module's init state */
	struct bkd_module *mod;
	const struct bkd_access_rule *access; /* who may call it (access.h), NULL: everyone */
	uint32_t fn;
};

/*
 * Create a registry.  host is passed to every module's init.  notify(arg) is
 * called (from any thread) when a draining module's last task finished, so
 * the control thread can call bkd_registry_collect().
 */
int bkd_registry_create(const bk_host_api *host, void (*notify)(void *arg), void *arg, struct bkd_registry **out);

/* --module-access rules for modules loaded from now on (control thread, before loading).  a may be NULL. */
void bkd_registry_set_access(struct bkd_registry *r, const struct bkd_access *a);

/* Finalise (fini + dlclose) every module; no task may be in flight. */
void bkd_registry_destroy(struct bkd_registry *r);

/* Stop routing to module name; it is finalised once drained.  -ENOENT if not loaded. */
int bkd_registry_unload(struct bkd_registry *r, const char *name, char *err, size_t errlen);

/* "module.function" -> id.  Ids are never reused during the broker's life.  -ENOENT if unknown. */
int bkd_registry_lookup(struct bkd_registry *r, const char *name, uint32_t *fn);

/*
 * Route a task: take a reference on the module currently serving fn.
 * Returns 0, or -ENOENT when fn is unknown or its module was unloaded.
 */
int bkd_registry_acquire(struct bkd_registry *r, uint32_t fn, struct bkd_fn_ref *out);

/* The task is finished: count it (failed when status < 0) and drop the reference. */
void bkd_registry_release(struct bkd_registry *r, const struct bkd_fn_ref *ref, int status);

/* Finalise drained modules (fini + dlclose).  Control thread only.  Returns how many. */
int bkd_registry_collect(struct bkd_registry *r);

/* Copy records [start, start+max) into out; *total gets the number of modules. Returns the count copied. */
uint32_t bkd_registry_list(struct bkd_registry *r, struct bk_wire_module *out, uint32_t start, uint32_t max,
			  uint32_t *total);

/* An active module and the file it was loaded from (path valid until the next load or unload). */
struct bkd_module_file {
	char name[32];
	const char *path;
};

/* The active modules, up to max of them into out (control thread).  Returns how many there are. */
unsigned bkd_registry_active(const struct bkd_registry *r, struct bkd_module_file *out, unsigned max);

/* "module.function" of id fn, NULL when fn was never given out.  Control thread only. */
const char *bkd_registry_fn_name(const struct bkd_registry *r, uint32_t fn);

/* Call each(ud, "module.function", BK_FN_* flags) for every function served now (control thread). */
void bkd_registry_functions(struct bkd_registry *r, void (*each)(void *ud, const char *name, uint32_t flags),
			    void *ud);

/* "module.function" of an id served now (any thread: a name never changes once published) and its
 * --module-access rule, or NULL. */
const char *bkd_registry_fn_served(struct bkd_registry *r, uint32_t fn, const struct bkd_access_rule **access);

/* Name of the module serving fn, for logs ("?" when unknown). */
const char *bkd_registry_module_name(const struct bkd_fn_ref *ref);

#endif /* BROKER_REGISTRY_H */
