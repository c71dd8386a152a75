// SPDX-License-Identifier: MIT
/*
 * loader.h - module files into the registry: dlopen, the entry symbol, the
 * descriptor's ABI version, size and names, the module's init.  Control
 * thread only (a module's constructor and init run here).
 */
#ifndef BROKER_LOADER_H
#define BROKER_LOADER_H

#include <stddef.h>

#include "registry.h"

/*
 * Load one module file.  Refusals (dlopen error, missing entry symbol, wrong
 * ABI version or descriptor size, bad names, init failure) return a negative
 * code and a message in err naming the file and, for ABI mismatches, both
 * versions.  Loading a module whose name is already loaded is an upgrade:
 * the new version takes over the names (existing ids route to it) and the
 * old one drains.  Every load runs a private copy of the file, so a file
 * changed at the path of a loaded module upgrades it too (new code, new
 * state).  Returns 1, with a message in err, when the module serving path
 * was loaded from the very same bytes: nothing changes.
 */
int bkd_loader_load(struct bkd_registry *r, const char *path, char *err, size_t errlen);

/* Load every *.so in dir (sorted).  Returns how many loaded or upgraded; each refusal is logged. */
int bkd_loader_load_dir(struct bkd_registry *r, const char *dir);

struct bkd_load_counts {
	unsigned loaded; /* new or upgraded */
	unsigned unchanged;
	unsigned failed; /* refused, logged */
};

/* The same, counting each outcome.  0, or -errno when dir cannot be read. */
int bkd_loader_scan_dir(struct bkd_registry *r, const char *dir, struct bkd_load_counts *c);

#endif /* BROKER_LOADER_H */
