// SPDX-License-Identifier: MIT
/*
 * loader.c - module files into the registry (loader.h): a module's code
 * first runs inside dlopen (its constructors), so every check that can be
 * made before is made before (modcheck.c: owner, mode, folder); then the
 * entry symbol, the descriptor, the ids, init, and the hand-over to the
 * registry, which cannot fail.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader.h"
#include "log.h"
#include "modcheck.h"
#include "registry_impl.h"

/* [a-z0-9_]+ of at most max characters. */
static bool valid_ident(const char *s, size_t max)
{
	size_t n = 0;

	if (!s || !*s)
		return false;
	for (; s[n]; n++) {
		char c = s[n];

		if (n >= max)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

/*
 * The descriptor fields brokerd reads.  A descriptor must cover at least
 * name..nfunctions; init and fini are read only when the module's descriptor
 * is large enough to hold them (a smaller descriptor of the same ABI simply
 * has no init/fini).  Anything past our sizeof is a newer module's extension
 * and is ignored.
 */
#define DESC_MIN_SIZE (offsetof(bk_module_desc, nfunctions) + sizeof(uint32_t))
#define DESC_HAS(desc, field) ((desc)->size >= offsetof(bk_module_desc, field) + sizeof((desc)->field))

/* Check everything about the descriptor that does not need the registry. */
static int check_desc(const char *path, const bk_module_desc *d, char *err, size_t errlen)
{
	if (!d) {
		bkd_reg_set_err(err, errlen, "refusing module %s: %s() returned no descriptor", path, BK_MODULE_ENTRY_NAME);
		return -EINVAL;
	}
	/* abi_version comes first so that a wrong ABI is named as such whatever its size. */
	if (d->abi_version != BK_MODULE_ABI_VERSION) {
		bkd_reg_set_err(err, errlen, "refusing module %s: built for module ABI %u, brokerd speaks %u", path,
			d->abi_version, BK_MODULE_ABI_VERSION);
		return -EPROTO;
	}
	if (d->size < DESC_MIN_SIZE) {
		bkd_reg_set_err(err, errlen,
			"refusing module %s: descriptor is %u bytes, module ABI %u needs at least %zu (brokerd's is %zu)",
			path, d->size, BK_MODULE_ABI_VERSION, (size_t)DESC_MIN_SIZE, sizeof(bk_module_desc));
		return -EPROTO;
	}
	if (!valid_ident(d->name, BKD_REG_NAME_MAX)) {
		bkd_reg_set_err(err, errlen, "refusing module %s: bad module name \"%.40s\" (want [a-z0-9_]+, at most %u)", path,
			d->name ? d->name : "(null)", BKD_REG_NAME_MAX);
		return -EINVAL;
	}
	if (d->nfunctions == 0 || !d->functions) {
		bkd_reg_set_err(err, errlen, "refusing module %s: module %s has no functions", path, d->name);
		return -EINVAL;
	}
	if (d->nfunctions > BKD_REG_MAX_MODULE_FNS) {
		bkd_reg_set_err(err, errlen, "refusing module %s: %u functions, at most %u", path, d->nfunctions,
			BKD_REG_MAX_MODULE_FNS);
		return -E2BIG;
	}
	size_t nlen = strlen(d->name);
	for (uint32_t i = 0; i < d->nfunctions; i++) {
		const bk_function_desc *f = &d->functions[i];

		if (!valid_ident(f->name, BKD_REG_FULLNAME_MAX - nlen - 1)) {
			bkd_reg_set_err(err, errlen,
				"refusing module %s: bad function name \"%.40s\" (want [a-z0-9_]+, \"%s.name\" at most %u)",
				path, f->name ? f->name : "(null)", d->name, BKD_REG_FULLNAME_MAX);
			return -EINVAL;
		}
		if (!f->handler) {
			bkd_reg_set_err(err, errlen, "refusing module %s: function %s.%s has no handler", path, d->name, f->name);
			return -EINVAL;
		}
		for (uint32_t j = 0; j < i; j++) {
			if (strcmp(d->functions[j].name, f->name) == 0) {
				bkd_reg_set_err(err, errlen, "refusing module %s: function %s.%s is declared twice", path,
					d->name, f->name);
				return -EINVAL;
			}
		}
	}
	return 0;
}

/* Copy what we keep of the descriptor, so nothing points into the .so after dlclose. */
static int module_new(const char *path, const bk_module_desc *d, struct bkd_module **out)
{
	struct bkd_module *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->fd = -1;
	atomic_init(&m->active, 0);
	atomic_init(&m->inflight, 0);
	atomic_init(&m->done, 0);
	atomic_init(&m->failed, 0);
	m->nfunctions = d->nfunctions;
	m->path = strdup(path);
	m->bindings = calloc(d->nfunctions, sizeof(*m->bindings));
	m->fnames = calloc(d->nfunctions, sizeof(*m->fnames));
	if (!m->path || !m->bindings || !m->fnames)
		goto nomem;
	snprintf(m->name, sizeof(m->name), "%s", d->name);
	snprintf(m->version, sizeof(m->version), "%s", d->version ? d->version : "");
	for (uint32_t i = 0; i < d->nfunctions; i++) {
		m->fnames[i] = strdup(d->functions[i].name);
		if (!m->fnames[i])
			goto nomem;
		m->bindings[i].mod = m;
		m->bindings[i].handler = d->functions[i].handler;
		m->bindings[i].flags = d->functions[i].flags;
	}
	*out = m;
	return 0;
nomem:
	bkd_reg_module_free(m);
	return -ENOMEM;
}

/* Copy fd into out (a fresh memfd) in full; 0 or -errno. */
static int copy_all(int fd, int out)
{
	char buf[65536];
	off_t off = 0;
	for (;;) {
		ssize_t n = pread(fd, buf, sizeof(buf), off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		for (ssize_t w = 0; w < n;) {
			ssize_t k = write(out, buf + w, (size_t)(n - w));
			if (k < 0 && errno != EINTR)
				return -errno;
			w += k > 0 ? k : 0;
		}
		off += n;
	}
}

/*
 * A private, sealed copy of the checked file (docs/ARCHITECTURE.md, "Modules"): glibc hands out the
 * handle it already has for a file it knows (same inode, or same name), so a module rebuilt or copied
 * in place would keep its old code and share one set of statics between two versions.  Each load of a
 * copy is a fresh object, and the running version no longer depends on the file staying as it was.
 */
static int private_copy(int fd, const char *path, char *err, size_t errlen)
{
	const unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
	int mfd = -1;
#ifdef MFD_EXEC
	mfd = memfd_create("bk-module", flags | MFD_EXEC); /* executable on kernels with vm.memfd_noexec */
#endif
	if (mfd < 0)
		mfd = memfd_create("bk-module", flags); /* kernels before 6.3 refuse MFD_EXEC */
	int rc = mfd < 0 ? -errno : copy_all(fd, mfd);
	if (rc == 0 && fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		rc = -errno;
	if (rc < 0) {
		bkd_reg_set_err(err, errlen, "refusing module %s: private copy: %s", path, strerror(-rc));
		if (mfd >= 0)
			close(mfd);
		return rc;
	}
	return mfd;
}

/* Same bytes in both files?  1, 0, or -errno. */
static int same_content(int a, int b)
{
	struct stat sa, sb;
	if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
		return -errno;
	if (sa.st_size != sb.st_size)
		return 0;
	char x[16384], y[sizeof(x)];
	for (off_t off = 0; off < sa.st_size;) {
		ssize_t n = pread(a, x, sizeof(x), off), m = pread(b, y, sizeof(y), off);
		if (n < 0 || m < 0)
			return -errno;
		if (n != m || n == 0 || memcmp(x, y, (size_t)n) != 0)
			return 0;
		off += n;
	}
	return 1;
}

/*
 * The file checks (modcheck.c) and the private copy; 1 (and a message in err) when the module serving
 * path was loaded from these very bytes, so loading it again would change nothing.
 */
static int open_checked(struct bkd_registry *r, const char *path, int *mfdp, char *err, size_t errlen)
{
	int fd = bkd_modcheck_open(path, err, errlen);
	if (fd < 0)
		return fd;
	int mfd = private_copy(fd, path, err, errlen);
	close(fd);
	if (mfd < 0)
		return mfd;
	const struct bkd_module *cur = bkd_reg_find_path(r, path);
	if (cur && cur->fd >= 0 && same_content(mfd, cur->fd) == 1) {
		bkd_reg_set_err(err, errlen, "module %s %s from %s is unchanged: nothing to do", cur->name,
			cur->version, path);
		close(mfd);
		return 1;
	}
	*mfdp = mfd;
	return 0;
}

/*
 * dlopen of the private copy (the module's constructors run here) and the entry symbol's descriptor.
 * *fdp stays open while the module is loaded (modcheck.h says why).  1: unchanged (open_checked).
 */
static int open_module(struct bkd_registry *r, const char *path, void **dlp, const bk_module_desc **dp, int *fdp,
		       char *err, size_t errlen)
{
	int fd = -1;
	int rc = open_checked(r, path, &fd, err, errlen);
	if (rc != 0)
		return rc;
	char self_path[64];
	snprintf(self_path, sizeof(self_path), "/proc/self/fd/%d", fd);
	dlerror();
	void *dl = dlopen(self_path, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		const char *e = dlerror();
		bkd_reg_set_err(err, errlen, "refusing module %s: dlopen failed: %s", path, e ? e : "unknown error");
		close(fd);
		return -ELIBBAD;
	}
	dlerror();
	bk_module_entry_fn entry;
	/* POSIX: a function pointer fits in the object pointer dlsym returns. */
	*(void **)&entry = dlsym(dl, BK_MODULE_ENTRY_NAME);
	rc = -ENOEXEC;
	if (bkd_reg_find_dl(r, dl)) {
		/* Cannot happen with a fresh copy; if it did, fini of one version would free the other's state. */
		bkd_reg_set_err(err, errlen, "refusing module %s: the dynamic loader gave the handle of a loaded module",
			path);
		rc = -EEXIST;
	} else if (!entry) {
		bkd_reg_set_err(err, errlen, "refusing module %s: no %s symbol (not a broker module, or built for another ABI)",
			path, BK_MODULE_ENTRY_NAME);
	} else {
		*dp = entry();
		rc = check_desc(path, *dp, err, errlen);
	}
	if (rc < 0) {
		dlclose(dl);
		close(fd);
		return rc;
	}
	*dlp = dl;
	*fdp = fd;
	return 0;
}

/* The module's own init, which may keep state; a positive return is a module bug, read as -EINVAL. */
static int init_module(struct bkd_registry *r, const char *path, const bk_module_desc *d, struct bkd_module *m,
		       char *err, size_t errlen)
{
	int rc = DESC_HAS(d, init) && d->init ? d->init(r->host, &m->state) : 0;
	if (rc == 0) {
		if (DESC_HAS(d, fini))
			m->fini = d->fini;
		return 0;
	}
	bkd_reg_set_err(err, errlen, "refusing module %s: init of module %s failed: %s (%d)", path, d->name,
		rc < 0 ? strerror(-rc) : "positive return", rc);
	return rc > 0 ? -EINVAL : rc;
}

int bkd_loader_load(struct bkd_registry *r, const char *path, char *err, size_t errlen)
{
	void *dl = NULL;
	int fd = -1;
	const bk_module_desc *d = NULL;
	struct bkd_module *m = NULL;
	uint32_t ids[BKD_REG_MAX_MODULE_FNS];
	uint32_t nnew = 0;

	if (err && errlen)
		err[0] = '\0';
	if (!r || !path || !*path) {
		bkd_reg_set_err(err, errlen, "refusing module: no path");
		return -EINVAL;
	}
	int rc = open_module(r, path, &dl, &d, &fd, err, errlen);
	if (rc != 0)
		return rc;
	/* Resolve ids before init so that nothing can fail after the module has state. */
	rc = bkd_reg_reserve(r, path, d, ids, &nnew, err, errlen);
	if (rc < 0)
		goto refuse;
	rc = module_new(path, d, &m);
	if (rc < 0) {
		bkd_reg_set_err(err, errlen, "refusing module %s: out of memory", path);
		goto refuse;
	}
	for (uint32_t i = 0; i < m->nfunctions; i++)
		m->bindings[i].fn = ids[i];
	rc = init_module(r, path, d, m, err, errlen);
	if (rc < 0)
		goto refuse;
	m->dl = dl;
	m->fd = fd;
	bkd_reg_commit(r, m, nnew);
	return 0;

refuse:
	bkd_reg_unreserve(r, nnew);
	if (m)
		bkd_reg_module_free(m);
	dlclose(dl);
	close(fd);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int bkd_loader_load_dir(struct bkd_registry *r, const char *dir)
{
	struct bkd_load_counts c;
	int rc = bkd_loader_scan_dir(r, dir, &c);
	return rc < 0 ? rc : (int)c.loaded;
}

int bkd_loader_scan_dir(struct bkd_registry *r, const char *dir, struct bkd_load_counts *c)
{
	DIR *dp;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	memset(c, 0, sizeof(*c));
	if (!r || !dir)
		return -EINVAL;
	dp = opendir(dir);
	if (!dp)
		return -errno; /* the caller names the folder in its own log line */
	while ((errno = 0, de = readdir(dp)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len < 4 || strcmp(de->d_name + len - 3, ".so") != 0 || de->d_name[0] == '.')
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **nn = realloc(names, ncap * sizeof(*names));

			if (!nn) {
				rc = -ENOMEM;
				goto out;
			}
			names = nn;
			cap = ncap;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			rc = -ENOMEM;
			goto out;
		}
		n++;
	}
	if (errno != 0) {
		rc = -errno;
		goto out;
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX];
		char err[512];

		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= sizeof(path)) {
			bkd_err("refusing module %s/%s: path too long", dir, names[i]);
			c->failed++;
			continue;
		}
		int lr = bkd_loader_load(r, path, err, sizeof(err));
		if (lr == 0) {
			c->loaded++;
		} else if (lr > 0) {
			c->unchanged++;
			bkd_dbg("%s", err);
		} else {
			c->failed++;
			bkd_err("%s", err);
		}
	}
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(dp);
	return rc;
}
