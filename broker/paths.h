// SPDX-License-Identifier: MIT
/*
 * paths.h - where brokerd finds its built-in modules when neither a flag
 * nor BROKER_MODULE_DIR names them.
 */
#ifndef BROKER_PATHS_H
#define BROKER_PATHS_H

#include <stddef.h>

/*
 * The module folder that belongs to this brokerd executable: the install
 * tree's <libdir>/broker/modules found from /proc/self/exe (so a DESTDIR or
 * moved tree uses its own modules) when that folder exists, else the
 * configured absolute BK_MODULE_DIR.  Returns buf or BK_MODULE_DIR, never NULL.
 */
const char *bkd_default_module_dir(char *buf, size_t len);

#endif
