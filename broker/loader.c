/*
 * loader.c - brokerd's module registry: dlopen modules, check their ABI and
 * names, give every "module.function" a numeric id that lives as long as the
 * registry, route each task to the module version currently serving its id,
 * and finalise (fini + dlclose) modules once unloaded or upgraded versions
 * have drained (DESIGN.md 7).
 *
 * Concurrency model.  Control-thread functions (load, unload, lookup, list,
 * collect, destroy) are serialised by the caller; they own the module list
 * and the slot names.  Workers only call acquire/release, which touch nothing
 * but atomics:
 *   - slots[fn]      atomic pointer to the binding (module version + handler)
 *                    that serves id fn, or NULL;
 *   - mod->active    1 while the module may take new tasks;
 *   - mod->inflight  tasks acquired and not yet released.
 * A module's bookkeeping struct (not its code) is kept until the registry is
 * destroyed, so a worker that read a stale slot pointer never touches freed
 * memory: it only bumps a counter of a retired module and backs out.  That
 * costs a few hundred bytes per load, which is bounded by how often an
 * operator loads modules.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "broker/loader.h"
#include "log.h"

#define BKD_REG_MAX_FNS 4096u /* function ids per registry life */
#define BKD_REG_MAX_MODULE_FNS 1024u /* functions per module */
#define BKD_REG_NAME_MAX 31u /* module name length */
#define BKD_REG_FULLNAME_MAX 127u /* "module.function" length */
#define BKD_REG_ACQUIRE_TRIES 16 /* re-reads of a slot that is being re-pointed */

/* One function of one module version: what a slot points to. */
struct bkd_binding {
	struct bkd_module *mod;
	bk_handler_fn handler;
	uint32_t fn;
};

struct bkd_module {
	/* Hot, shared with workers. */
	atomic_uint active;
	atomic_long inflight;
	atomic_ullong done;
	atomic_ullong failed;

	/* Written before the module is published, read-only afterwards. */
	void *state;
	void (*fini)(void *state);
	struct bkd_binding *bindings;
	uint32_t nfunctions;
	char name[BKD_REG_NAME_MAX + 1];
	char version[32];
	char *path;
	char **fnames; /* short names, for list */

	/* Control thread only. */
	void *dl;
	bool finalised;
	struct bkd_module *next;
};

struct bkd_registry {
	const bk_host_api *host;
	void (*notify)(void *arg);
	void *notify_arg;
	/*
	 * slots[] is allocated once at its full capacity and never moves, so
	 * workers index it without a lock; ids below nslots have a name.
	 */
	_Atomic(struct bkd_binding *) *slots;
	char **slot_names; /* control thread only */
	uint32_t nslots; /* control thread only; workers rely on NULL slots */
	struct bkd_module *modules; /* every module ever loaded, newest first */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int bkd_registry_create(const bk_host_api *host, void (*notify)(void *arg), void *arg, struct bkd_registry **out)
{
	struct bkd_registry *r;

	if (!out)
		return -EINVAL;
	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->slots = calloc(BKD_REG_MAX_FNS, sizeof(*r->slots));
	r->slot_names = calloc(BKD_REG_MAX_FNS, sizeof(*r->slot_names));
	if (!r->slots || !r->slot_names) {
		free(r->slots);
		free(r->slot_names);
		free(r);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < BKD_REG_MAX_FNS; i++)
		atomic_init(&r->slots[i], NULL);
	r->host = host;
	r->notify = notify;
	r->notify_arg = arg;
	*out = r;
	return 0;
}

static void module_free(struct bkd_module *m)
{
	if (m->fnames) {
		for (uint32_t i = 0; i < m->nfunctions; i++)
			free(m->fnames[i]);
		free(m->fnames);
	}
	free(m->bindings);
	free(m->path);
	free(m);
}

static void module_finalise(struct bkd_module *m)
{
	if (m->finalised)
		return;
	m->finalised = true;
	if (m->fini)
		m->fini(m->state);
	if (m->dl && dlclose(m->dl) != 0)
		bkd_warn("dlclose of module %s (%s): %s", m->name, m->path, dlerror());
	m->dl = NULL;
}

void bkd_registry_destroy(struct bkd_registry *r)
{
	struct bkd_module *m, *next;

	if (!r)
		return;
	for (m = r->modules; m; m = next) {
		next = m->next;
		module_finalise(m);
		module_free(m);
	}
	for (uint32_t i = 0; i < r->nslots; i++)
		free(r->slot_names[i]);
	free(r->slot_names);
	free((void *)r->slots);
	free(r);
}

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

static struct bkd_module *find_active(struct bkd_registry *r, const char *name)
{
	for (struct bkd_module *m = r->modules; m; m = m->next)
		if (atomic_load_explicit(&m->active, memory_order_relaxed) && strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

static int find_slot(const struct bkd_registry *r, const char *full)
{
	for (uint32_t i = 0; i < r->nslots; i++)
		if (strcmp(r->slot_names[i], full) == 0)
			return (int)i;
	return -1;
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
		set_err(err, errlen, "refusing module %s: %s() returned no descriptor", path, BK_MODULE_ENTRY_NAME);
		return -EINVAL;
	}
	/* abi_version comes first so that a wrong ABI is named as such whatever its size. */
	if (d->abi_version != BK_MODULE_ABI_VERSION) {
		set_err(err, errlen, "refusing module %s: built for module ABI %u, brokerd speaks %u", path,
			d->abi_version, BK_MODULE_ABI_VERSION);
		return -EPROTO;
	}
	if (d->size < DESC_MIN_SIZE) {
		set_err(err, errlen,
			"refusing module %s: descriptor is %u bytes, module ABI %u needs at least %zu (brokerd's is %zu)",
			path, d->size, BK_MODULE_ABI_VERSION, (size_t)DESC_MIN_SIZE, sizeof(bk_module_desc));
		return -EPROTO;
	}
	if (!valid_ident(d->name, BKD_REG_NAME_MAX)) {
		set_err(err, errlen, "refusing module %s: bad module name \"%.40s\" (want [a-z0-9_]+, at most %u)", path,
			d->name ? d->name : "(null)", BKD_REG_NAME_MAX);
		return -EINVAL;
	}
	if (d->nfunctions == 0 || !d->functions) {
		set_err(err, errlen, "refusing module %s: module %s has no functions", path, d->name);
		return -EINVAL;
	}
	if (d->nfunctions > BKD_REG_MAX_MODULE_FNS) {
		set_err(err, errlen, "refusing module %s: %u functions, at most %u", path, d->nfunctions,
			BKD_REG_MAX_MODULE_FNS);
		return -E2BIG;
	}
	size_t nlen = strlen(d->name);
	for (uint32_t i = 0; i < d->nfunctions; i++) {
		const bk_function_desc *f = &d->functions[i];

		if (!valid_ident(f->name, BKD_REG_FULLNAME_MAX - nlen - 1)) {
			set_err(err, errlen,
				"refusing module %s: bad function name \"%.40s\" (want [a-z0-9_]+, \"%s.name\" at most %u)",
				path, f->name ? f->name : "(null)", d->name, BKD_REG_FULLNAME_MAX);
			return -EINVAL;
		}
		if (!f->handler) {
			set_err(err, errlen, "refusing module %s: function %s.%s has no handler", path, d->name, f->name);
			return -EINVAL;
		}
		for (uint32_t j = 0; j < i; j++) {
			if (strcmp(d->functions[j].name, f->name) == 0) {
				set_err(err, errlen, "refusing module %s: function %s.%s is declared twice", path,
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
	}
	*out = m;
	return 0;
nomem:
	module_free(m);
	return -ENOMEM;
}

/* Wake the control thread if m is retired and idle; called after the last task or the retirement. */
static void notify_if_drained(struct bkd_registry *r, struct bkd_module *m)
{
	/*
	 * seq_cst pairs with the seq_cst store of active=0 in retire() and the
	 * seq_cst decrement in release(): of a release dropping inflight to 0
	 * and a retirement, at least one sees the other's write, so at least
	 * one of them notifies (both may, which only costs an extra collect).
	 */
	if (atomic_load_explicit(&m->active, memory_order_seq_cst) == 0 &&
	    atomic_load_explicit(&m->inflight, memory_order_seq_cst) == 0 && r->notify)
		r->notify(r->notify_arg);
}

/* Stop m taking new tasks. Its slots must already point elsewhere (or NULL). */
static void retire(struct bkd_registry *r, struct bkd_module *m)
{
	/*
	 * seq_cst: Dekker pattern with acquire(), which increments inflight and
	 * then loads active (both seq_cst).  In the single total order either
	 * acquire's load comes after this store (it sees 0 and backs out) or its
	 * increment comes before the inflight load in collect() (which then
	 * sees the task and does not finalise).  So no task runs the handler of
	 * a finalised module.
	 */
	atomic_store_explicit(&m->active, 0, memory_order_seq_cst);
	notify_if_drained(r, m);
}

int bkd_registry_load(struct bkd_registry *r, const char *path, char *err, size_t errlen)
{
	struct stat st;
	void *dl;
	bk_module_entry_fn entry;
	const bk_module_desc *d;
	struct bkd_module *m = NULL, *old;
	uint32_t ids[BKD_REG_MAX_MODULE_FNS];
	uint32_t nnew = 0;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!r || !path || !*path) {
		set_err(err, errlen, "refusing module: no path");
		return -EINVAL;
	}
	if (stat(path, &st) != 0) {
		rc = -errno;
		set_err(err, errlen, "refusing module %s: %s", path, strerror(-rc));
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		set_err(err, errlen, "refusing module %s: not a regular file", path);
		return -EINVAL;
	}
	dlerror();
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		const char *e = dlerror();

		set_err(err, errlen, "refusing module %s: dlopen failed: %s", path, e ? e : "unknown error");
		return -ELIBBAD;
	}
	dlerror();
	/* POSIX: a function pointer fits in the object pointer dlsym returns. */
	*(void **)&entry = dlsym(dl, BK_MODULE_ENTRY_NAME);
	if (!entry) {
		set_err(err, errlen, "refusing module %s: no %s symbol (not a broker module, or built for another ABI)",
			path, BK_MODULE_ENTRY_NAME);
		rc = -ENOEXEC;
		goto refuse;
	}
	d = entry();
	rc = check_desc(path, d, err, errlen);
	if (rc < 0)
		goto refuse;

	/* Resolve ids before init so that nothing can fail after the module has state. */
	for (uint32_t i = 0; i < d->nfunctions; i++) {
		char full[BKD_REG_FULLNAME_MAX + 1];
		int s;

		snprintf(full, sizeof(full), "%s.%s", d->name, d->functions[i].name);
		s = find_slot(r, full);
		if (s < 0) {
			if (r->nslots + nnew >= BKD_REG_MAX_FNS) {
				set_err(err, errlen, "refusing module %s: function table full (%u ids used)", path,
					BKD_REG_MAX_FNS);
				rc = -ENOSPC;
				goto refuse;
			}
			s = (int)(r->nslots + nnew);
			r->slot_names[s] = strdup(full);
			if (!r->slot_names[s]) {
				set_err(err, errlen, "refusing module %s: out of memory", path);
				rc = -ENOMEM;
				goto refuse;
			}
			nnew++;
		}
		ids[i] = (uint32_t)s;
	}
	rc = module_new(path, d, &m);
	if (rc < 0) {
		set_err(err, errlen, "refusing module %s: out of memory", path);
		goto refuse;
	}
	if (DESC_HAS(d, init) && d->init) {
		rc = d->init(r->host, &m->state);
		if (rc != 0) {
			set_err(err, errlen, "refusing module %s: init of module %s failed: %s (%d)", path, d->name,
				rc < 0 ? strerror(-rc) : "positive return", rc);
			if (rc > 0)
				rc = -EINVAL;
			goto refuse;
		}
	}
	if (DESC_HAS(d, fini))
		m->fini = d->fini;
	m->dl = dl;
	for (uint32_t i = 0; i < m->nfunctions; i++)
		m->bindings[i].fn = ids[i];

	/* Commit: nothing below can fail. */
	r->nslots += nnew;
	old = find_active(r, m->name);
	atomic_store_explicit(&m->active, 1, memory_order_relaxed); /* published by the release stores below */
	m->next = r->modules;
	r->modules = m;
	for (uint32_t i = 0; i < m->nfunctions; i++) {
		/*
		 * release: a worker that loads this pointer (acquire) also sees the
		 * binding, the module's fields, active=1 and everything init wrote
		 * to the module's state.
		 */
		atomic_store_explicit(&r->slots[ids[i]], &m->bindings[i], memory_order_release);
	}
	if (old) {
		/* Names the new version dropped stop resolving; their ids stay reserved. */
		for (uint32_t i = 0; i < old->nfunctions; i++) {
			uint32_t id = old->bindings[i].fn;
			struct bkd_binding *cur = atomic_load_explicit(&r->slots[id], memory_order_relaxed);

			if (cur && cur->mod == old)
				atomic_store_explicit(&r->slots[id], NULL, memory_order_release);
		}
		retire(r, old);
	}
	return 0;

refuse:
	/* Names reserved above were not committed: forget them. */
	for (uint32_t i = 0; i < nnew; i++) {
		free(r->slot_names[r->nslots + i]);
		r->slot_names[r->nslots + i] = NULL;
	}
	if (m)
		module_free(m);
	dlclose(dl);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int bkd_registry_load_dir(struct bkd_registry *r, const char *dir)
{
	DIR *dp;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int loaded = 0, rc = 0;

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
			continue;
		}
		if (bkd_registry_load(r, path, err, sizeof(err)) == 0)
			loaded++;
		else
			bkd_err("%s", err);
	}
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(dp);
	return rc < 0 ? rc : loaded;
}

int bkd_registry_unload(struct bkd_registry *r, const char *name, char *err, size_t errlen)
{
	struct bkd_module *m;

	if (err && errlen)
		err[0] = '\0';
	if (!r || !name)
		return -EINVAL;
	m = find_active(r, name);
	if (!m) {
		set_err(err, errlen, "module %.64s is not loaded", name);
		return -ENOENT;
	}
	for (uint32_t i = 0; i < m->nfunctions; i++) {
		/* release: pairs with the acquire load in bkd_registry_acquire (only NULL is published). */
		atomic_store_explicit(&r->slots[m->bindings[i].fn], NULL, memory_order_release);
	}
	retire(r, m);
	return 0;
}

int bkd_registry_lookup(struct bkd_registry *r, const char *name, uint32_t *fn)
{
	int s;

	if (!r || !name || !fn)
		return -EINVAL;
	s = find_slot(r, name);
	if (s < 0 || !atomic_load_explicit(&r->slots[s], memory_order_relaxed))
		return -ENOENT;
	*fn = (uint32_t)s;
	return 0;
}

int bkd_registry_acquire(struct bkd_registry *r, uint32_t fn, struct bkd_fn_ref *out)
{
	struct bkd_binding *b;

	if (fn >= BKD_REG_MAX_FNS)
		return -ENOENT;
	/* acquire: pairs with the release store in load: the binding and module are initialised. */
	b = atomic_load_explicit(&r->slots[fn], memory_order_acquire);
	for (int tries = 0; b && tries < BKD_REG_ACQUIRE_TRIES; tries++) {
		struct bkd_module *m = b->mod;
		struct bkd_binding *again;

		/* seq_cst increment, then seq_cst load of active: see retire() for the Dekker argument. */
		atomic_fetch_add_explicit(&m->inflight, 1, memory_order_seq_cst);
		if (atomic_load_explicit(&m->active, memory_order_seq_cst)) {
			out->handler = b->handler;
			out->state = m->state;
			out->mod = m;
			out->fn = fn;
			return 0;
		}
		/* Retired between our two loads: back out; an upgrade has re-pointed the slot. */
		if (atomic_fetch_sub_explicit(&m->inflight, 1, memory_order_seq_cst) == 1)
			notify_if_drained(r, m);
		again = atomic_load_explicit(&r->slots[fn], memory_order_acquire);
		if (again == b)
			break; /* retired and not re-pointed yet: unload in progress */
		b = again;
	}
	return -ENOENT;
}

void bkd_registry_release(struct bkd_registry *r, const struct bkd_fn_ref *ref, int status)
{
	struct bkd_module *m;

	if (!ref || !ref->mod)
		return;
	m = ref->mod;
	/* Statistics only: relaxed. */
	atomic_fetch_add_explicit(&m->done, 1, memory_order_relaxed);
	if (status < 0)
		atomic_fetch_add_explicit(&m->failed, 1, memory_order_relaxed);
	/*
	 * The caller must be past every piece of the task's module code (the
	 * handler and all callbacks have returned, no operation is pending):
	 * once inflight reaches 0 the control thread may dlclose at any moment.
	 *
	 * seq_cst (a release at least): everything the task did with the module
	 * happens before collect() sees inflight == 0 and runs fini/dlclose.  The
	 * module struct is never freed before destroy, so touching m after the
	 * decrement is safe; its code is not touched here at all.
	 */
	if (atomic_fetch_sub_explicit(&m->inflight, 1, memory_order_seq_cst) == 1)
		notify_if_drained(r, m);
}

int bkd_registry_collect(struct bkd_registry *r)
{
	int n = 0;

	if (!r)
		return 0;
	for (struct bkd_module *m = r->modules; m; m = m->next) {
		if (m->finalised || atomic_load_explicit(&m->active, memory_order_relaxed))
			continue;
		/* seq_cst: see retire(); also acquires every released task's effects. */
		if (atomic_load_explicit(&m->inflight, memory_order_seq_cst) != 0)
			continue;
		module_finalise(m);
		n++;
	}
	return n;
}

/* Copy src into dst[size], keeping the tail (the file name) when it is too long. */
static void copy_tail(char *dst, size_t size, const char *src)
{
	size_t len = strlen(src);

	if (len < size) {
		memcpy(dst, src, len + 1);
		return;
	}
	memcpy(dst, "...", 3);
	memcpy(dst + 3, src + len - (size - 4), size - 4);
	dst[size - 1] = '\0';
}

/* Comma-separated short names; ends in ",..." when they do not all fit. */
static void join_functions(char *dst, size_t size, const struct bkd_module *m)
{
	size_t pos = 0;
	const size_t reserve = 4; /* ",..." */

	dst[0] = '\0';
	for (uint32_t i = 0; i < m->nfunctions; i++) {
		size_t len = strlen(m->fnames[i]);
		size_t need = len + (i ? 1 : 0);
		bool last = i + 1 == m->nfunctions;

		/* The last name may use the room kept for the marker. */
		if (pos + need + (last ? 0 : reserve) >= size) {
			const char *mark = i ? ",..." : "...";

			snprintf(dst + pos, size - pos, "%s", mark);
			return;
		}
		if (i)
			dst[pos++] = ',';
		memcpy(dst + pos, m->fnames[i], len);
		pos += len;
		dst[pos] = '\0';
	}
}

uint32_t bkd_registry_list(struct bkd_registry *r, struct bk_wire_module *out, uint32_t start, uint32_t max,
			  uint32_t *total)
{
	uint32_t idx = 0, copied = 0;
	struct bkd_module *order[64];
	struct bkd_module **all = order;
	uint32_t n = 0;

	if (total)
		*total = 0;
	if (!r)
		return 0;
	/* The list is newest first; report in load order. */
	for (struct bkd_module *m = r->modules; m; m = m->next)
		if (!m->finalised)
			n++;
	if (n > 64) {
		all = malloc(n * sizeof(*all));
		if (!all)
			return 0;
	}
	idx = n;
	for (struct bkd_module *m = r->modules; m; m = m->next)
		if (!m->finalised)
			all[--idx] = m;
	for (uint32_t i = start; i < n && copied < max && out; i++) {
		const struct bkd_module *m = all[i];
		struct bk_wire_module *w = &out[copied++];

		memset(w, 0, sizeof(*w));
		snprintf(w->name, sizeof(w->name), "%s", m->name);
		snprintf(w->version, sizeof(w->version), "%s", m->version);
		copy_tail(w->path, sizeof(w->path), m->path);
		join_functions(w->functions, sizeof(w->functions), m);
		w->nfunctions = m->nfunctions;
		w->state = atomic_load_explicit(&m->active, memory_order_relaxed) ? BK_MODSTATE_ACTIVE
										  : BK_MODSTATE_DRAINING;
		w->tasks_done = atomic_load_explicit(&m->done, memory_order_relaxed);
		long inf = atomic_load_explicit(&m->inflight, memory_order_relaxed);
		w->inflight = inf > 0 ? (uint64_t)inf : 0;
	}
	if (all != order)
		free(all);
	if (total)
		*total = n;
	return copied;
}

const char *bkd_registry_module_name(const struct bkd_fn_ref *ref)
{
	if (!ref || !ref->mod)
		return "?";
	return ref->mod->name;
}
