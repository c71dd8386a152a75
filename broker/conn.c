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

#include "broker/errors.h"
#include "creds.h"
#include "latency.h"
#include "uid_limits.h"
#include "log.h"
#include "worker.h"

struct bkd_conn *bkd_conn_new(struct bkd_broker *b, int sock)
{
	struct bkd_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	int r = bkd_caller_from_socket(sock, &c->caller);
	if (r < 0) {
		/* The kernel always knows the peer; what fails is our memory, or a caller with too many groups. */
		bkd_warn_limited(&bkd_drops_rl, "new connection: its credentials: %s", r == -EMSGSIZE ? "more supplementary groups than "
			 "brokerd keeps (refused: dropping some could widen its rights)" : strerror(-r));
		free(c);
		return NULL;
	}
	c->cred.pid = c->caller->pid;
	c->cred.uid = c->caller->uid;
	c->cred.gid = c->caller->gid;
	c->sock = sock;
	c->id = ++b->next_conn_id;
	c->connected_ns = bk_now_ns();
	c->client_efd = -1;
	c->wake_efd = -1;
	c->region.fd = -1;
	c->wait_ud.kind = BKD_UD_CONN_WAIT;
	c->notify_ud.kind = BKD_UD_NOTIFY;
	return c;
}

/* The region's size and slots for geo, reserved against the caller's per-uid limits (uid_limits.h). */
static int reserve(struct bkd_broker *b, struct bkd_conn *c, const struct bk_geometry *geo, char *err, size_t errlen)
{
	struct bk_geometry g;
	struct bk_layout l;
	if (bk_geometry_clamp(geo, b->opt.max_large, &g) < 0)
		return 0; /* bkd_region_create refuses it with the reason */
	bk_layout_compute(&g, &l);
	int r = bkd_limits_reserve(b->limits, c->cred.uid, g.nslots, l.region_size, err, errlen);
	if (r < 0)
		return BK_EREFUSED;
	c->reserved_slots = g.nslots;
	c->reserved_bytes = l.region_size;
	return 0;
}

int bkd_conn_prepare(struct bkd_broker *b, struct bkd_conn *c, const struct bk_geometry *geo, char *err,
		     size_t errlen)
{
	int r = reserve(b, c, geo, err, errlen);
	if (r < 0)
		return r;
	struct bkd_region_params p = {
		.max_large = b->opt.max_large,
		.ring_start = 0,
		.conn_id = c->id,
		.epoch = b->epoch,
		.features = bkd_conn_features(b),
	};
	r = bkd_region_create(geo, &p, &c->region, err, errlen);
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
	bkd_caller_read_comm(c->caller);
	struct bkd_worker *w = pick_worker(b);
	atomic_fetch_add_explicit(&w->nconns, 1, memory_order_relaxed);
	atomic_store_explicit(&c->w, w, memory_order_relaxed); /* published to w by the inbox's lock */
	c->state = BKD_CONN_ACTIVE;
	if (atomic_load_explicit(&b->draining, memory_order_relaxed))
		atomic_store_explicit(&c->region.v.hdr->broker_state, BK_BROKER_DRAINING, memory_order_release);
	bkd_dbg("conn %u (pid %d uid %u %s): region %llu bytes, sq %u cq %u slots %u inline %u, worker %u", c->id,
		(int)c->cred.pid, (unsigned)c->cred.uid, c->caller->comm, (unsigned long long)c->region.v.size,
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
	bkd_lat_conn_free(c);
	bkd_caller_free(c->caller);
	free(c);
}
