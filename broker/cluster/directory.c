// SPDX-License-Identifier: MIT
/*
 * directory.c - who serves what (docs/CLUSTER.md): every node publishes a
 * heartbeat every CL_BEAT_MS with its name, load and functions; a node not
 * heard of for CL_DEAD_MS is dead.  Lookups, the retry's choice of another
 * node and the listings read the directory.  Heartbeats are text, one
 * "name flags" line per function after a "node serving served" line.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl.h"

void cl_dir_beat(struct cl_ctx *x)
{
	size_t cap = 256, len = 0;
	pthread_mutex_lock(&x->lock);
	for (struct cl_local *l = x->locals; l; l = l->next)
		cap += strlen(l->name) + 16;
	char *buf = malloc(cap);
	if (buf) {
		len = (size_t)snprintf(buf, cap, "%s %" PRIu64 " %" PRIu64 "\n", x->h->node,
				       atomic_load_explicit(&x->serving, memory_order_relaxed),
				       atomic_load_explicit(&x->served, memory_order_relaxed));
		bool serve = atomic_load_explicit(&x->bk_ready, memory_order_acquire) && !x->draining;
		for (struct cl_local *l = x->locals; l && serve; l = l->next)
			if (l->live)
				len += (size_t)snprintf(buf + len, cap - len, "%s %u\n", l->name, l->flags);
	}
	pthread_mutex_unlock(&x->lock);
	if (!buf)
		return;
	if (natsConnection_Status(x->nc) == NATS_CONN_STATUS_CONNECTED)
		natsConnection_Publish(x->nc, "bk.cluster.beat", buf, (int)len);
	free(buf);
}

static void node_free_fns(struct cl_node *n)
{
	for (uint32_t i = 0; i < n->nfns; i++)
		free(n->fns[i]);
	free(n->fns);
	free(n->fflags);
	n->fns = NULL;
	n->fflags = NULL;
	n->nfns = 0;
}

static struct cl_node *find_node(struct cl_ctx *x, const char *name, bool create)
{
	for (struct cl_node *n = x->nodes; n; n = n->next)
		if (strcmp(n->name, name) == 0)
			return n;
	if (!create)
		return NULL;
	struct cl_node *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	snprintf(n->name, sizeof(n->name), "%s", name);
	n->next = x->nodes;
	x->nodes = n;
	return n;
}

/* Parse "name flags" lines into n (its old list is replaced). */
static void parse_fns(struct cl_node *n, char *p)
{
	uint32_t lines = 0;
	for (char *q = p; *q; q++)
		lines += *q == '\n';
	node_free_fns(n);
	n->fns = calloc(lines + 1, sizeof(*n->fns));
	n->fflags = calloc(lines + 1, sizeof(*n->fflags));
	if (!n->fns || !n->fflags) {
		node_free_fns(n);
		return;
	}
	char *save = NULL;
	for (char *line = strtok_r(p, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[BKD_CLUSTER_NAME_MAX + 1];
		unsigned flags = 0;
		if (sscanf(line, "%127s %u", name, &flags) != 2)
			continue;
		n->fns[n->nfns] = strdup(name);
		if (!n->fns[n->nfns])
			continue;
		n->fflags[n->nfns++] = flags;
	}
}

void cl_dir_on_beat(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	(void)nc;
	(void)sub;
	struct cl_ctx *x = closure;
	int len = natsMsg_GetDataLength(msg);
	char *p = malloc((size_t)len + 1);
	char node[BKD_CLUSTER_NODE_MAX + 1];
	uint64_t serving = 0, served = 0;
	int used = 0;
	if (p) {
		memcpy(p, natsMsg_GetData(msg), (size_t)len);
		p[len] = '\0';
	}
	natsMsg_Destroy(msg);
	if (!p || sscanf(p, "%31s %" SCNu64 " %" SCNu64 "%n", node, &serving, &served, &used) != 3 ||
	    strcmp(node, x->h->node) == 0) {
		free(p);
		return;
	}
	pthread_mutex_lock(&x->lock);
	struct cl_node *n = find_node(x, node, true);
	if (n) {
		n->last_seen = cl_now();
		n->inflight = serving;
		n->served = served;
		parse_fns(n, p + used);
	}
	pthread_mutex_unlock(&x->lock);
	free(p);
}

static void unlink_node(struct cl_ctx *x, struct cl_node *dead)
{
	for (struct cl_node **pp = &x->nodes; *pp; pp = &(*pp)->next) {
		if (*pp == dead) {
			*pp = dead->next;
			node_free_fns(dead);
			free(dead);
			return;
		}
	}
}

void cl_dir_on_bye(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	(void)nc;
	(void)sub;
	struct cl_ctx *x = closure;
	char node[BKD_CLUSTER_NODE_MAX + 1];
	int len = natsMsg_GetDataLength(msg);
	snprintf(node, sizeof(node), "%.*s", len, natsMsg_GetData(msg));
	natsMsg_Destroy(msg);
	pthread_mutex_lock(&x->lock);
	struct cl_node *n = find_node(x, node, false);
	/* It leaves cleanly: it stops taking calls but finishes those it took, so only routing forgets it. */
	if (n)
		node_free_fns(n);
	pthread_mutex_unlock(&x->lock);
}

void cl_dir_clear(struct cl_ctx *x)
{
	while (x->nodes)
		unlink_node(x, x->nodes);
}

unsigned cl_dir_reap(struct cl_ctx *x, int64_t now, char (*dead)[BKD_CLUSTER_NODE_MAX + 1], unsigned max)
{
	unsigned k = 0;
	for (struct cl_node *n = x->nodes, *next; n; n = next) {
		next = n->next;
		if (now - n->last_seen < (int64_t)CL_DEAD_MS * 1000000)
			continue;
		x->h->log(1, "node %s silent for %d ms: taken as dead", n->name, CL_DEAD_MS);
		if (k < max)
			snprintf(dead[k++], sizeof(dead[0]), "%s", n->name);
		unlink_node(x, n);
	}
	return k;
}

static bool serves(const struct cl_node *n, const char *name, uint32_t *flags)
{
	for (uint32_t i = 0; i < n->nfns; i++) {
		if (strcmp(n->fns[i], name) == 0) {
			if (flags)
				*flags = n->fflags[i];
			return true;
		}
	}
	return false;
}

const struct cl_node *cl_dir_other(struct cl_ctx *x, const char *name, const char *not)
{
	for (const struct cl_node *n = x->nodes; n; n = n->next)
		if (strcmp(n->name, not) != 0 && serves(n, name, NULL))
			return n;
	return NULL;
}

int cl_dir_lookup(void *ctx, const char *name, uint32_t *flags)
{
	struct cl_ctx *x = ctx;
	int r = -ENOENT;
	pthread_mutex_lock(&x->lock);
	for (const struct cl_node *n = x->nodes; n && r < 0; n = n->next)
		if (serves(n, name, flags))
			r = 0;
	pthread_mutex_unlock(&x->lock);
	return r;
}

/* Is name already among out[0..k)? */
static struct bk_wire_rfn *find_rfn(struct bk_wire_rfn *out, uint32_t k, const char *name)
{
	for (uint32_t i = 0; i < k; i++)
		if (strcmp(out[i].name, name) == 0)
			return &out[i];
	return NULL;
}

uint32_t cl_dir_list_fns(void *ctx, struct bk_wire_rfn *out, uint32_t start, uint32_t max, uint32_t *total)
{
	struct cl_ctx *x = ctx;
	/* Built whole (one page of 199 records holds any test cluster), then paged. */
	uint32_t cap = 4096, k = 0;
	struct bk_wire_rfn *all = calloc(cap, sizeof(*all));
	if (!all) {
		*total = 0;
		return 0;
	}
	pthread_mutex_lock(&x->lock);
	for (const struct cl_node *n = x->nodes; n; n = n->next) {
		for (uint32_t i = 0; i < n->nfns; i++) {
			struct bk_wire_rfn *r = find_rfn(all, k, n->fns[i]);
			if (!r && k < cap) {
				r = &all[k++];
				snprintf(r->name, sizeof(r->name), "%s", n->fns[i]);
				r->flags = n->fflags[i];
			}
			if (r)
				cl_join(r->nodes, sizeof(r->nodes), n->name);
		}
	}
	pthread_mutex_unlock(&x->lock);
	uint32_t copied = 0;
	for (uint32_t i = start; i < k && copied < max; i++)
		out[copied++] = all[i];
	free(all);
	*total = k;
	return copied;
}

static void node_record(struct bk_wire_node *w, const struct cl_node *n, int64_t now)
{
	memset(w, 0, sizeof(*w));
	snprintf(w->name, sizeof(w->name), "%s", n->name);
	w->last_seen_ns = (uint64_t)(now - n->last_seen);
	w->inflight = n->inflight;
	w->served = n->served;
	w->nfunctions = n->nfns;
	for (uint32_t i = 0; i < n->nfns; i++)
		cl_join(w->functions, sizeof(w->functions), n->fns[i]);
}

uint32_t cl_dir_list_nodes(void *ctx, struct bk_wire_node *out, uint32_t start, uint32_t max, uint32_t *total)
{
	struct cl_ctx *x = ctx;
	uint32_t idx = 0, copied = 0;
	int64_t now = cl_now();
	pthread_mutex_lock(&x->lock);
	/* This node first: its own view of what it serves. */
	if (idx++ >= start && copied < max) {
		struct bk_wire_node *w = &out[copied++];
		memset(w, 0, sizeof(*w));
		snprintf(w->name, sizeof(w->name), "%s", x->h->node);
		w->self = 1;
		w->inflight = atomic_load_explicit(&x->serving, memory_order_relaxed);
		w->served = atomic_load_explicit(&x->served, memory_order_relaxed);
		for (struct cl_local *l = x->locals; l; l = l->next) {
			if (!l->live)
				continue;
			w->nfunctions++;
			cl_join(w->functions, sizeof(w->functions), l->name);
		}
	}
	for (const struct cl_node *n = x->nodes; n; n = n->next)
		if (idx++ >= start && copied < max)
			node_record(&out[copied++], n, now);
	pthread_mutex_unlock(&x->lock);
	*total = idx;
	return copied;
}
