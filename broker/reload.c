// SPDX-License-Identifier: MIT
/*
 * reload.c - load, and on SIGHUP load again, brokerd's modules
 * (reload.h): the loader decides new, upgraded or unchanged per file
 * (loader.h); this file adds the folders, the removed files and the counts.
 */
#include "reload.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "loader.h"
#include "log.h"
#include "paths.h"
#include "registry.h"

#define MAX_ACTIVE 1024

const char *bkd_builtin_module_dir(char *buf, size_t len)
{
	const char *env = getenv("BROKER_MODULE_DIR");
	return env && *env ? env : bkd_default_module_dir(buf, len);
}

/* Was path loaded from dir (the loader names such files "dir/NAME")? */
static int in_folder(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return strncmp(path, dir, n) == 0 && path[n] == '/' && !strchr(path + n + 1, '/');
}

/* Unload every module whose file was in one of dirs and is gone. */
static void unload_removed(struct bkd_broker *b, const char *const *dirs, unsigned ndirs, struct bkd_reload_counts *c)
{
	static struct bkd_module_file act[MAX_ACTIVE];
	unsigned n = bkd_registry_active(b->reg, act, MAX_ACTIVE);
	if (n > MAX_ACTIVE)
		n = MAX_ACTIVE;
	for (unsigned i = 0; i < n; i++) {
		struct stat st;
		unsigned d = 0;
		while (d < ndirs && !in_folder(act[i].path, dirs[d]))
			d++;
		if (d == ndirs || lstat(act[i].path, &st) == 0 || errno != ENOENT)
			continue;
		char err[256];
		if (bkd_registry_unload(b->reg, act[i].name, err, sizeof(err)) < 0) {
			bkd_warn("unload of %s: %s", act[i].name, err);
			continue;
		}
		bkd_info("module %s: %s was removed; unloading once its tasks finished", act[i].name, act[i].path);
		c->removed++;
	}
}

static void load_file(struct bkd_broker *b, const char *path, struct bkd_reload_counts *c)
{
	char err[512] = "";
	int r = bkd_loader_load(b->reg, path, err, sizeof(err));
	if (r < 0) {
		bkd_err("%s", err);
		c->failed++;
	} else if (r > 0) {
		bkd_dbg("%s", err);
		c->unchanged++;
	} else {
		bkd_info("loaded %s", path);
		c->loaded++;
	}
}

void bkd_reload_modules(struct bkd_broker *b, struct bkd_reload_counts *c)
{
	memset(c, 0, sizeof(*c));
	for (unsigned i = 0; i < b->opt.nmodules; i++)
		load_file(b, b->opt.modules[i], c);
	char def[PATH_MAX];
	const char *builtin[1];
	const char *const *dirs = b->opt.module_dirs;
	unsigned ndirs = b->opt.nmodule_dirs;
	if (!b->opt.nmodules && !ndirs) {
		builtin[0] = bkd_builtin_module_dir(def, sizeof(def));
		dirs = builtin;
		ndirs = 1;
	}
	for (unsigned i = 0; i < ndirs; i++) {
		struct bkd_load_counts lc;
		int r = bkd_loader_scan_dir(b->reg, dirs[i], &lc);
		if (r < 0) {
			bkd_err("module folder %s: %s", dirs[i], strerror(-r));
			c->failed++;
			continue;
		}
		c->loaded += lc.loaded;
		c->unchanged += lc.unchanged;
		c->failed += lc.failed;
	}
	unload_removed(b, dirs, ndirs, c);
}
