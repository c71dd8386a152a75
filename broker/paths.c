// SPDX-License-Identifier: MIT
/*
 * paths.c - brokerd's default module folder, derived from the install
 * prefix (bk_config.h), never from the build folder: an installed binary
 * must not point into a tree that is gone once it is packaged.  A brokerd
 * run from the build tree is given --module-dir or BROKER_MODULE_DIR.
 */
#include "paths.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bk_config.h"

/*
 * <dir of the running executable>/<rel>, canonical, if it is a folder.
 * 0, or a negative errno-style code (-ENOENT when it does not exist).
 */
static int exe_relative_dir(const char *rel, char *buf, size_t len)
{
	char exe[PATH_MAX], cand[PATH_MAX + 64], real[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return -errno;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (!slash)
		return -ENOENT;
	*slash = '\0';
	int w = snprintf(cand, sizeof(cand), "%s/%s", exe, rel);
	if (w < 0 || (size_t)w >= sizeof(cand))
		return -ENAMETOOLONG;
	if (!realpath(cand, real))
		return -errno;
	struct stat st;
	if (stat(real, &st) != 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	w = snprintf(buf, len, "%s", real);
	if (w < 0 || (size_t)w >= len)
		return -ENAMETOOLONG;
	return 0;
}

const char *bkd_default_module_dir(char *buf, size_t len)
{
	/* '' when meson found bindir or libdir outside the prefix: nothing moves with the binary. */
	if (BK_MODULE_DIR_FROM_BINDIR[0] && exe_relative_dir(BK_MODULE_DIR_FROM_BINDIR, buf, len) == 0)
		return buf;
	return BK_MODULE_DIR;
}
