// SPDX-License-Identifier: MIT
/*
 * cluster.c - brokerd's side of --cluster (docs/CLUSTER.md): find
 * brokerd-cluster.so, check the file as a module's (modcheck.h), dlopen it,
 * check its interface version (cluster_iface.h), start it, tell it what
 * this node serves, give remote names their ids at lookup, and answer the
 * cluster listings.  Control thread only.
 *
 * The object is found as the modules are (paths.c): $BROKER_CLUSTER_SO, else
 * beside the executable in a build tree (cluster/brokerd-cluster.so), else
 * in the install's <libdir>/broker, the parent of the module folder.
 */
#include "cluster.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "modcheck.h"
#include "paths.h"

#define CLUSTER_SO "brokerd-cluster.so"

static void host_log(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	bkd_logv_from("cluster", level, fmt, ap);
	va_end(ap);
}

/* The object's path: the first candidate that exists. */
static int find_object(char *out, size_t len)
{
	const char *env = getenv("BROKER_CLUSTER_SO");
	if (env && *env) {
		snprintf(out, len, "%s", env);
		return 0;
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			if (snprintf(out, len, "%s/cluster/" CLUSTER_SO, exe) < (int)len && access(out, R_OK) == 0)
				return 0;
		}
	}
	char dir[PATH_MAX];
	const char *mods = bkd_default_module_dir(dir, sizeof(dir));
	if (snprintf(out, len, "%s/../" CLUSTER_SO, mods) < (int)len && access(out, R_OK) == 0)
		return 0;
	return -ENOENT;
}

static int open_object(struct bkd_cluster *cl)
{
	char path[PATH_MAX + 64];
	if (find_object(path, sizeof(path)) < 0) {
		bkd_err("--cluster: %s not found (beside brokerd, in the install's lib folder, or $BROKER_CLUSTER_SO)",
			CLUSTER_SO);
		return -ENOENT;
	}
	/*
	 * Its constructors run inside dlopen with brokerd's rights, as a
	 * module's do: the same file checks first (docs/SECURITY.md, "Loading
	 * modules"), and the checked descriptor is what dlopen loads.
	 */
	char why[512];
	int fd = bkd_modcheck_open(path, why, sizeof(why));
	if (fd < 0) {
		bkd_err("--cluster: %s", why);
		return fd;
	}
	char via[64];
	snprintf(via, sizeof(via), "/proc/self/fd/%d", fd);
	cl->dl = dlopen(via, RTLD_NOW | RTLD_LOCAL);
	if (!cl->dl) {
		bkd_err("--cluster: dlopen %s: %s", path, dlerror());
		close(fd);
		return -ENOEXEC;
	}
	cl->fd = fd; /* open while mapped, which is until exit (bkd_cluster_stop): the name stays unique */
	bkd_cluster_entry_fn entry = (bkd_cluster_entry_fn)dlsym(cl->dl, BKD_CLUSTER_ENTRY_NAME);
	const struct bkd_cluster_ops *ops = entry ? entry() : NULL;
	if (!ops || ops->version != BKD_CLUSTER_IFACE_VERSION || ops->size < sizeof(*ops)) {
		bkd_err("--cluster: %s: interface version %u (size %u), brokerd needs %u (size %zu)", path,
			ops ? ops->version : 0, ops ? ops->size : 0, BKD_CLUSTER_IFACE_VERSION, sizeof(*ops));
		return -ENOEXEC;
	}
	cl->ops = ops;
	return 0;
}

static void default_node(char *out, size_t len)
{
	char host[256] = "";
	if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
		snprintf(host, sizeof(host), "node");
	size_t j = 0;
	for (size_t i = 0; host[i] && j + 1 < len; i++) {
		char ch = host[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-';
		out[j++] = ok ? ch : '_';
	}
	out[j] = '\0';
}

int bkd_cluster_start(struct bkd_broker *b)
{
	if (!b->opt.cluster_url)
		return 0;
	struct bkd_cluster *cl = calloc(1, sizeof(*cl));
	if (!cl)
		return -ENOMEM;
	int r = open_object(cl);
	if (r < 0) {
		if (cl->dl) {
			dlclose(cl->dl);
			close(cl->fd);
		}
		free(cl);
		return r;
	}
	if (b->opt.node)
		snprintf(cl->node, sizeof(cl->node), "%s", b->opt.node);
	else
		default_node(cl->node, sizeof(cl->node));
	cl->handler = bkd_remote_handler;
	cl->job_handler = bkd_remote_job_handler;
	cl->host = (struct bkd_cluster_host){
		.size = sizeof(cl->host),
		.version = BKD_CLUSTER_IFACE_VERSION,
		.url = b->opt.cluster_url,
		.node = cl->node,
		/* Socket activation leaves socket[] empty (options.h): the inherited socket's path then. */
		.socket = b->opt.listen_fd >= 0 ? b->opt.activated_name : b->opt.socket,
		.call_done = bkd_remote_call_done,
		.log = host_log,
	};
	r = cl->ops->start(&cl->host, &cl->ctx);
	if (r < 0) {
		bkd_err("--cluster %s: %s", b->opt.cluster_url, strerror(-r));
		dlclose(cl->dl);
		close(cl->fd);
		free(cl);
		return r;
	}
	b->cluster = cl;
	bkd_info("cluster node %s on %s", cl->node, b->opt.cluster_url);
	bkd_cluster_local_changed(b);
	return 0;
}

struct fn_list {
	const char **names;
	uint32_t *flags;
	uint32_t n, cap;
};

static void add_fn(void *ud, const char *name, uint32_t flags)
{
	struct fn_list *l = ud;
	if (l->n == l->cap) {
		uint32_t cap = l->cap ? l->cap * 2 : 64;
		const char **nn = realloc(l->names, cap * sizeof(*nn));
		if (nn)
			l->names = nn;
		uint32_t *nf = realloc(l->flags, cap * sizeof(*nf));
		if (nf)
			l->flags = nf;
		if (!nn || !nf)
			return; /* out of memory: the announcement misses this name */
		l->cap = cap;
	}
	l->names[l->n] = name;
	l->flags[l->n++] = flags;
}

void bkd_cluster_local_changed(struct bkd_broker *b)
{
	struct bkd_cluster *cl = b->cluster;
	if (!cl)
		return;
	struct fn_list l = {0};
	bkd_registry_functions(b->reg, add_fn, &l);
	cl->ops->set_local(cl->ctx, l.names, l.flags, l.n);
	free(l.names);
	free(l.flags);
}

int bkd_cluster_lookup(struct bkd_broker *b, const char *name, uint32_t *fn)
{
	struct bkd_cluster *cl = b->cluster;
	uint32_t flags = 0;
	if (!cl || strlen(name) > BKD_CLUSTER_NAME_MAX || cl->ops->lookup(cl->ctx, name, &flags) < 0)
		return -ENOENT;
	for (uint32_t i = 0; i < cl->nids; i++) {
		struct bkd_remote_fn *rf = atomic_load_explicit(&cl->ids[i], memory_order_relaxed);
		if (strcmp(rf->name, name) == 0) {
			/* Only the control thread writes flags; a worker reading it mid-update gets either value. */
			__atomic_store_n(&rf->flags, flags, __ATOMIC_RELAXED);
			*fn = BKD_REMOTE_FN_BASE + i;
			return 0;
		}
	}
	if (cl->nids >= BKD_REMOTE_MAX)
		return -ENOSPC;
	struct bkd_remote_fn *rf = calloc(1, sizeof(*rf));
	if (!rf)
		return -ENOMEM;
	snprintf(rf->name, sizeof(rf->name), "%s", name);
	rf->flags = flags;
	/* Release: a worker that loads the pointer (acquire, remote_ids.c) sees the record filled. */
	atomic_store_explicit(&cl->ids[cl->nids], rf, memory_order_release);
	*fn = BKD_REMOTE_FN_BASE + cl->nids++;
	return 0;
}

void bkd_cluster_drain(struct bkd_broker *b)
{
	if (b->cluster)
		b->cluster->ops->drain(b->cluster->ctx);
}

void bkd_cluster_cancel_all(struct bkd_broker *b)
{
	if (b->cluster)
		b->cluster->ops->fail_all(b->cluster->ctx, -ECANCELED);
}

void bkd_cluster_stop(struct bkd_broker *b)
{
	struct bkd_cluster *cl = b->cluster;
	if (!cl)
		return;
	cl->ops->stop(cl->ctx);
	/* The object's threads are gone; leave it mapped: a late log line of a NATS thread would be its code. */
	for (uint32_t i = 0; i < cl->nids; i++)
		free(atomic_load_explicit(&cl->ids[i], memory_order_relaxed));
	for (size_t i = 0; i < sizeof(cl->local_ids) / sizeof(cl->local_ids[0]); i++)
		free(atomic_load_explicit(&cl->local_ids[i], memory_order_relaxed));
	b->cluster = NULL;
	free(cl);
}

size_t bkd_cluster_list(struct bkd_broker *b, uint16_t type, uint32_t start, uint32_t seq, void *buf)
{
	struct bkd_cluster *cl = b->cluster;
	struct bk_msg_list_reply *r = buf;
	memset(r, 0, sizeof(*r));
	uint32_t n = 0, total = 0;
	size_t rec = type == BK_MSG_REMOTE_FNS ? sizeof(struct bk_wire_rfn)
		     : type == BK_MSG_NODES	 ? sizeof(struct bk_wire_node)
						 : sizeof(struct bk_wire_job);
	uint32_t max = (uint32_t)((BK_WIRE_MAX_MSG - sizeof(*r)) / rec);
	if (cl && type == BK_MSG_REMOTE_FNS)
		n = cl->ops->list_fns(cl->ctx, (struct bk_wire_rfn *)(r + 1), start, max, &total);
	else if (cl && type == BK_MSG_NODES)
		n = cl->ops->list_nodes(cl->ctx, (struct bk_wire_node *)(r + 1), start, max, &total);
	else if (cl)
		n = cl->ops->list_jobs(cl->ctx, (struct bk_wire_job *)(r + 1), start, max, &total);
	size_t len = sizeof(*r) + n * rec;
	r->h.magic = BK_WIRE_MAGIC;
	r->h.type = (uint16_t)(type + 1);
	r->h.len = (uint32_t)len;
	r->h.seq = seq;
	r->total = total;
	r->count = n;
	return len;
}
