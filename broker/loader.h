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
 * old one drains.
 */
int bkd_loader_load(struct bkd_registry *r, const char *path, char *err, size_t errlen);

/* Load every *.so in dir (sorted).  Returns how many loaded; each refusal is logged. */
int bkd_loader_load_dir(struct bkd_registry *r, const char *dir);

#endif /* BROKER_LOADER_H */
