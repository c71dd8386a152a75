// SPDX-License-Identifier: MIT
/*
 * registry_impl.h - the registry's data, shared by registry.c (ids,
 * routing, retirement), registry_refs.c (a worker's batched references)
 * and loader.c (dlopen and descriptor checks) only.
 * Nothing else in brokerd includes it.
 */
#ifndef BROKER_REGISTRY_IMPL_H
#define BROKER_REGISTRY_IMPL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry.h"

#define BKD_REG_MAX_FNS 4096u /* function ids per registry life */
#define BKD_REG_MAX_MODULE_FNS 1024u /* functions per module */
#define BKD_REG_NAME_MAX 31u /* module name length */
#define BKD_REG_FULLNAME_MAX 127u /* "module.function" length */
#define BKD_REG_ACQUIRE_TRIES 16 /* re-reads of a slot that is being re-pointed */

/* One function of one module version: what a slot points to. */
struct bkd_binding {
	struct bkd_module *mod;
	bk_handler_fn handler;
	uint32_t fn;
	uint32_t flags; /* BK_FN_* of the descriptor (module.h) */
};

struct bkd_module {
	/* Hot, shared with workers. */
	atomic_uint active;
	atomic_long inflight;
	atomic_ullong done;
	atomic_ullong failed;

	/* Written before the module is published, read-only afterwards. */
	void *state;
	void (*fini)(void *state);
	struct bkd_binding *bindings;
	uint32_t nfunctions;
	char name[BKD_REG_NAME_MAX + 1];
	char version[32];
	char *path;
	char **fnames; /* short names, for list */

	const struct bkd_access_rule *access; /* --module-access rule of this name, NULL: open to all */

	/* Control thread only. */
	void *dl;
	int fd; /* the checked file dlopen loaded through; open while loaded (modcheck.h) */
	bool finalised;
	struct bkd_module *next;
};

struct bkd_registry {
	const bk_host_api *host;
	void (*notify)(void *arg);
	void *notify_arg;
	/*
	 * slots[] is allocated once at its full capacity and never moves, so
	 * workers index it without a lock; ids below nslots have a name.
	 */
	_Atomic(struct bkd_binding *) *slots;
	char **slot_names; /* control thread only */
	uint32_t nslots; /* control thread only; workers rely on NULL slots */
	struct bkd_module *modules; /* every module ever loaded, newest first */
	const struct bkd_access *access; /* --module-access rules, NULL: none */
};

/* A retired module whose last reference went: tell the control thread (any thread). */
void bkd_registry_notify_if_drained(struct bkd_registry *r, struct bkd_module *m);
/* snprintf into err when there is room for one; a NULL err is allowed. */
void bkd_reg_set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Give every function of d an id (reusing the ids of names seen before, reserving new ones).
 * *nnew counts the reserved ones, which bkd_reg_unreserve forgets again on failure. */
int bkd_reg_reserve(struct bkd_registry *r, const char *path, const bk_module_desc *d, uint32_t *ids,
		    uint32_t *nnew, char *err, size_t errlen);
void bkd_reg_unreserve(struct bkd_registry *r, uint32_t nnew);
/* Publish m (its bindings' fn are set) and retire the version it replaces.  Cannot fail. */
void bkd_reg_commit(struct bkd_registry *r, struct bkd_module *m, uint32_t nnew);
/* The active module loaded from path (the string given to the loader), or NULL. */
const struct bkd_module *bkd_reg_find_path(const struct bkd_registry *r, const char *path);
/* Is dl the handle of a module not finalised yet? */
bool bkd_reg_find_dl(const struct bkd_registry *r, const void *dl);
/* Free the bookkeeping of a module that was never published. */
void bkd_reg_module_free(struct bkd_module *m);

#endif /* BROKER_REGISTRY_IMPL_H */
