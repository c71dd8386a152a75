// SPDX-License-Identifier: MIT
/*
 * reload.h - the module folders brokerd serves from, and their rescan on
 * SIGHUP or `systemctl reload` (docs/ARCHITECTURE.md, "Running as a
 * service").  Control thread only (module constructors and init run here).
 */
#ifndef BROKER_RELOAD_H
#define BROKER_RELOAD_H

#include <stddef.h>

#include "brokerd.h"

struct bkd_reload_counts {
	unsigned loaded; /* new files, changed files (upgrades) */
	unsigned unchanged;
	unsigned failed; /* refused files and unreadable folders, each logged */
	unsigned removed; /* modules whose file left its folder: unloading once drained */
};

/* The folder of the built-in modules: $BROKER_MODULE_DIR, else this install's (paths.h). */
const char *bkd_builtin_module_dir(char *buf, size_t len);

/*
 * Load --module files and every *.so of the module folders (--module-dir, else the built-in one).  At
 * start-up this is the first load; later a rescan: new files load, changed files upgrade, identical
 * ones are left alone, and a module whose file is gone from its folder is unloaded after draining.
 */
void bkd_reload_modules(struct bkd_broker *b, struct bkd_reload_counts *c);

#endif /* BROKER_RELOAD_H */
