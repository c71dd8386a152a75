// SPDX-License-Identifier: MIT
/*
 * paths.c - the tools' default brokerd (see paths.h).  Derived from the
 * install prefix and the running executable, never from the build folder;
 * a tool run from the build tree is given --brokerd (tests, tools/run).
 */
#include "paths.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bk_config.h"

const char *bk_tool_default_brokerd(char *buf, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			int w = snprintf(buf, len, "%s/brokerd", exe);
			if (w > 0 && (size_t)w < len && access(buf, X_OK) == 0)
				return buf;
		}
	}
	return BK_BINDIR "/brokerd";
}
