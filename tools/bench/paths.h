// SPDX-License-Identifier: MIT
/*
 * paths.h - which brokerd broker-bench and broker-stress start when no
 * --brokerd is given: the one installed beside them.
 */
#ifndef BK_BENCH_PATHS_H
#define BK_BENCH_PATHS_H

#include <stddef.h>

/*
 * brokerd in the folder of the running executable (both are installed to
 * bindir, so this also holds in a DESTDIR or moved tree) when it is
 * executable there, else BK_BINDIR/brokerd of the configured prefix.
 * Returns buf or a constant, never NULL.
 */
const char *bk_tool_default_brokerd(char *buf, size_t len);

#endif
