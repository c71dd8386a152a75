// SPDX-License-Identifier: MIT
/*
 * conn.c - allocation, activation and release of connections.  bkd_conn_free is the one
 * place that gives back a connection's fds and memory, so the fd count of a
 * long-running brokerd returns to its start value whatever path a
 * connection took (refused, control-only, served, dropped).
 */
#include "conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "worker.h"

struct bkd_conn *bkd_conn_new(struct bkd_broker *b, int sock)
{
	struct bkd_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	socklen_t len = sizeof(c->cred);
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) < 0) {
		bkd_warn("SO_PEERCRED: %s", strerror(errno));
		free(c);
		return NULL;
	}
	c->sock = sock;
	c->id = ++b->next_conn_id;
	c->connected_ns = bk_now_ns();
	c->client_efd = -1;
	c->wake_efd = -1;
	c->region.fd = -1;
	c->wait_ud.kind = BKD_UD_CONN_WAIT;
	return c;
}

int bkd_conn_prepare(struct bkd_broker *b, struct bkd_conn *c, const struct bk_geometry *geo, char *err,
		     size_t errlen)
{
	struct bkd_region_params p = {
		.max_large = b->opt.max_large,
		.ring_start = 0,
		.conn_id = c->id,
		.epoch = b->epoch,
		.features = bkd_conn_features(b),
	};
	int r = bkd_region_create(geo, &p, &c->region, err, errlen);
	if (r < 0)
		return r;
	if (!b->sq_futex) {
		c->wake_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (c->wake_efd < 0) {
			r = -errno;
			snprintf(err, errlen, "eventfd: %s", strerror(-r));
			return r;
		}
	}
	r = bkd_conn_rings_init(&c->cr, &c->region.v, 0);
	if (r < 0) {
		snprintf(err, errlen, "out of memory for the ring tables");
		return r;
	}
	c->tasks = calloc(c->region.v.geo.nslots, sizeof(*c->tasks));
	if (!c->tasks) {
		snprintf(err, errlen, "out of memory for the task table");
		return -ENOMEM;
	}
	return 0;
}

/* Least loaded; ties broken round robin so that an empty broker spreads new connections. */
static struct bkd_worker *pick_worker(struct bkd_broker *b)
{
	struct bkd_worker *best = NULL;
	uint32_t best_n = UINT32_MAX;
	for (unsigned k = 0; k < b->nworkers; k++) {
		struct bkd_worker *w = &b->workers[(b->rr_next + k) % b->nworkers];
		uint32_t n = atomic_load_explicit(&w->nconns, memory_order_relaxed);
		if (n < best_n) {
			best = w;
			best_n = n;
		}
	}
	b->rr_next = (b->rr_next + 1) % b->nworkers;
	return best;
}

void bkd_conn_start(struct bkd_broker *b, struct bkd_conn *c, int client_efd)
{
	close(c->region.fd);
	c->region.fd = -1;
	c->client_efd = client_efd;
	struct bkd_worker *w = pick_worker(b);
	atomic_fetch_add_explicit(&w->nconns, 1, memory_order_relaxed);
	atomic_store_explicit(&c->w, w, memory_order_relaxed); /* published to w by the inbox's lock */
	c->state = BKD_CONN_ACTIVE;
	if (atomic_load_explicit(&b->draining, memory_order_relaxed))
		atomic_store_explicit(&c->region.v.hdr->broker_state, BK_BROKER_DRAINING, memory_order_release);
	bkd_dbg("conn %u (pid %d uid %u): region %llu bytes, sq %u cq %u slots %u inline %u, worker %u", c->id,
		(int)c->cred.pid, (unsigned)c->cred.uid, (unsigned long long)c->region.v.size,
		c->region.v.geo.sq_entries, c->region.v.geo.cq_entries, c->region.v.geo.nslots,
		c->region.v.geo.slot_inline, w->idx);
	bkd_inbox_post(&w->inbox, &c->add_item, BKD_IN_ADD_CONN, c);
}

void bkd_conn_free(struct bkd_conn *c)
{
	if (!c)
		return;
	if (c->sock >= 0)
		close(c->sock);
	if (c->client_efd >= 0)
		close(c->client_efd);
	if (c->wake_efd >= 0)
		close(c->wake_efd);
	if (c->cr.gen)
		bkd_conn_rings_fini(&c->cr);
	bkd_region_destroy(&c->region);
	free(c->tasks);
	free(c);
}
