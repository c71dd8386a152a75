// SPDX-License-Identifier: MIT
/*
 * bk_mod.h - small helpers shared by the built-in modules: the exported
 * entry prototype and a check that the host API brokerd passed has the
 * operations a module uses.  Header-only so each .so stays self-contained.
 */
#ifndef BK_MOD_H
#define BK_MOD_H

#include <stddef.h>

#include "broker/module.h"

#define BK_MODULE_EXPORT __attribute__((visibility("default")))

/* The one exported symbol (the version script hides everything else). */
BK_MODULE_EXPORT const bk_module_desc *BK_MODULE_ENTRY(void);

/* True when host is of our ABI and is large enough to hold a non-NULL field. */
#define BK_HOST_HAS(host, field)                                                                   \
	((host)->abi_version == BK_MODULE_ABI_VERSION &&                                           \
	 (host)->size >= offsetof(bk_host_api, field) + sizeof((host)->field) && (host)->field != NULL)

#endif /* BK_MOD_H */
