// SPDX-License-Identifier: MIT
/*
 * requests.c - serve control messages (wire.h).  Every request gets exactly
 * one reply; a request of the wrong size or type gets BK_MSG_RESULT with
 * -EINVAL; something that is not a wire message at all (bad magic, length
 * field lying) drops the connection with a logged reason.
 */
#include "requests.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bk_config.h"
#include "broker/errors.h" /* BK_EVERSION, BK_ELAYOUT, BK_EREFUSED: the codes the client maps to messages */
#include "broker/sys.h"
#include "access.h"
#include "admit.h"
#include "cluster.h"
#include "conn.h"
#include "creds.h"
#include "latency.h"
#include "listener.h"
#include "loader.h"
#include "log.h"
#include "worker.h"

static int send_msg(struct bkd_conn *c, const void *buf, size_t len, const int *fds, int nfds)
{
	/* The socket is non-blocking (accept4): a client that does not read its replies loses the connection,
	 * never the broker's time. */
	ssize_t n = bk_send_fds(c->sock, buf, len, fds, nfds);
	if (n < 0) {
		bkd_warn_limited(&c->warn_rl, "conn %u (pid %d): cannot send reply: %s", c->id, (int)c->cred.pid,
				 strerror((int)-n));
		return (int)n;
	}
	return 0;
}

/*
 * Refusals are logged with uid and pid, but a client can be refused as fast as it can ask: at most
 * REFUSALS_PER_SEC lines a second, then one line saying how many were left out.  Control thread only.
 */
#define REFUSALS_PER_SEC 20
__attribute__((format(printf, 1, 2))) static void log_refusal(const char *fmt, ...)
{
	static int64_t second;
	static unsigned lines;
	static unsigned long long skipped;
	int64_t now = bk_now_ns() / 1000000000;
	if (now != second) {
		if (skipped)
			bkd_warn("%llu more refusal(s) not logged", skipped);
		second = now;
		lines = 0;
		skipped = 0;
	}
	if (lines >= REFUSALS_PER_SEC) {
		skipped++;
		return;
	}
	lines++;
	va_list ap;
	va_start(ap, fmt);
	bkd_logv_from("brokerd", BK_LOG_WARN, fmt, ap);
	va_end(ap);
}

static void hdr_init(struct bk_msg_hdr *h, uint16_t type, size_t len, uint32_t seq)
{
	h->magic = BK_WIRE_MAGIC;
	h->type = type;
	h->flags = 0;
	h->len = (uint32_t)len;
	h->seq = seq;
}

__attribute__((format(printf, 4, 5))) static int send_result(struct bkd_conn *c, uint32_t seq, int status,
							   const char *fmt, ...)
{
	struct bk_msg_result r;
	memset(&r, 0, sizeof(r));
	hdr_init(&r.h, BK_MSG_RESULT, sizeof(r), seq);
	r.status = status;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r.message, sizeof(r.message), fmt, ap);
	va_end(ap);
	return send_msg(c, &r, sizeof(r), NULL, 0);
}

void bkd_request_send_bye(struct bkd_conn *c)
{
	struct bk_msg_hdr h;
	hdr_init(&h, BK_MSG_BYE, sizeof(h), 0);
	(void)send_msg(c, &h, sizeof(h), NULL, 0);
}

/* ---- handshake ------------------------------------------------------------ */

/* Every hello reply, accepted or refused, names brokerd's ABI and layout so the client can say which differs. */
static void hello_reply_init(struct bk_msg_hello_reply *r, const struct bkd_conn *c, uint32_t seq, int status)
{
	memset(r, 0, sizeof(*r));
	hdr_init(&r->h, BK_MSG_HELLO_REPLY, sizeof(*r), seq);
	r->status = status;
	r->conn_id = status == 0 ? c->id : 0;
	r->abi_major = BK_ABI_MAJOR;
	r->abi_minor = BK_ABI_MINOR;
	r->layout_hash = BK_LAYOUT_HASH;
}

__attribute__((format(printf, 4, 5))) static int hello_fail(struct bkd_conn *c, uint32_t seq, int status,
							  const char *fmt, ...)
{
	struct bk_msg_hello_reply r;
	hello_reply_init(&r, c, seq, status);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r.error, sizeof(r.error), fmt, ap);
	va_end(ap);
	log_refusal("conn %u (pid %d uid %u): handshake refused: %s", c->id, (int)c->cred.pid, (unsigned)c->cred.uid,
		 r.error);
	(void)send_msg(c, &r, sizeof(r), NULL, 0);
	return -EPROTO;
}

/* Who may connect, and whether both sides speak the same protocol: 0 or the refusal already sent. */
static int hello_check(struct bkd_broker *b, struct bkd_conn *c, const struct bk_msg_hello *m)
{
	uint32_t seq = m->h.seq;
	if (!bkd_peer_allowed(&b->opt, c->caller))
		return hello_fail(c, seq, BK_EREFUSED,
				  "uid %u gid %u is not allowed (brokerd runs as uid %u; see --allow-uid/--allow-gid)",
				  (unsigned)c->cred.uid, (unsigned)c->cred.gid, (unsigned)geteuid());
	char why[160];
	int r = bkd_admit_refusal(b, c, why, sizeof(why));
	if (r < 0)
		return hello_fail(c, seq, r, "%s", why);
	if (atomic_load_explicit(&b->draining, memory_order_relaxed))
		return hello_fail(c, seq, -ESHUTDOWN, "brokerd is shutting down");
	if (m->abi_major != BK_ABI_MAJOR)
		return hello_fail(c, seq, BK_EVERSION, "ABI version mismatch: client %u.%u, brokerd %u.%u",
				  m->abi_major, m->abi_minor, BK_ABI_MAJOR, BK_ABI_MINOR);
	if (m->layout_hash != BK_LAYOUT_HASH)
		return hello_fail(c, seq, BK_ELAYOUT, "shared-region layout mismatch: client %#llx, brokerd %#llx",
				  (unsigned long long)m->layout_hash, (unsigned long long)BK_LAYOUT_HASH);
	if (m->flags & ~(BK_HELLO_CONTROL | BK_HELLO_EVENTFD))
		return hello_fail(c, seq, -EINVAL, "unknown hello flags %#x", m->flags);
	return 0;
}

/*
 * The descriptor passed as the client's eventfd must be one: brokerd writes it from its workers, and a
 * socket or pipe that never drains would hold those writes forever.  The kernel names an eventfd's file
 * "anon_inode:[eventfd]" (no path can read so: a path starts with '/').  docs/ARCHITECTURE.md, "Wake-ups".
 */
static int check_eventfd(int fd, char *why, size_t len)
{
	char path[64], target[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	if (n < 0) {
		snprintf(why, len, "cannot check the BK_HELLO_EVENTFD descriptor: %s", strerror(errno));
		return -EINVAL;
	}
	target[n] = 0;
	if (strcmp(target, "anon_inode:[eventfd]") != 0) {
		snprintf(why, len, "the BK_HELLO_EVENTFD descriptor is not an eventfd (%.40s)", target);
		return -EINVAL;
	}
	return 0;
}

static int handle_hello(struct bkd_broker *b, struct bkd_conn *c, const struct bk_msg_hello *m, int client_fd)
{
	uint32_t seq = m->h.seq;
	int r = hello_check(b, c, m);
	if (r < 0)
		return r;
	struct bk_msg_hello_reply rep;
	if (m->flags & BK_HELLO_CONTROL) {
		hello_reply_init(&rep, c, seq, 0);
		if (send_msg(c, &rep, sizeof(rep), NULL, 0) < 0)
			return -EPIPE;
		c->state = BKD_CONN_CONTROL;
		bkd_admit_hello_done(b, c);
		return 0;
	}
	if ((m->flags & BK_HELLO_EVENTFD) && client_fd < 0)
		return hello_fail(c, seq, -EINVAL, "BK_HELLO_EVENTFD set but no descriptor attached");
	char err[192] = "";
	if (client_fd >= 0 && (r = check_eventfd(client_fd, err, sizeof(err))) < 0)
		return hello_fail(c, seq, r, "%s", err);
	r = bkd_conn_prepare(b, c, &m->geo, err, sizeof(err));
	if (r < 0)
		return hello_fail(c, seq, r, "%s", err);
	hello_reply_init(&rep, c, seq, 0);
	rep.features = bkd_conn_features(b);
	rep.region_size = c->region.v.size;
	int fds[2] = { c->region.fd, c->wake_efd };
	if (send_msg(c, &rep, sizeof(rep), fds, c->wake_efd >= 0 ? 2 : 1) < 0)
		return -EPIPE;
	bkd_admit_hello_done(b, c);
	bkd_conn_start(b, c, client_fd);
	return 0;
}

/* ---- queries ------------------------------------------------------------------ */

static int handle_status(struct bkd_broker *b, struct bkd_conn *c, uint32_t seq)
{
	struct bk_msg_status_reply r;
	memset(&r, 0, sizeof(r));
	hdr_init(&r.h, BK_MSG_STATUS_REPLY, sizeof(r), seq);
	snprintf(r.version, sizeof(r.version), "%s", BK_VERSION);
	r.pid = (uint32_t)getpid();
	r.workers = b->nworkers;
	r.uptime_ns = (uint64_t)(bk_now_ns() - b->stats.start_ns);
	r.connections = atomic_load_explicit(&b->stats.connections, memory_order_relaxed);
	struct bk_wire_module tmp;
	uint32_t total = 0;
	bkd_registry_list(b->reg, &tmp, 0, 0, &total);
	r.modules = total;
	bkd_broker_task_totals(b, &r.tasks_done, &r.tasks_failed, &r.inflight);
	r.violations = atomic_load_explicit(&b->stats.violations, memory_order_relaxed);
	r.connections_total = atomic_load_explicit(&b->stats.connections_total, memory_order_relaxed);
	r.open_fds = bkd_stats_open_fds();
	uint64_t moved = bkd_broker_migrations(b);
	r.migrations = moved > UINT32_MAX ? UINT32_MAX : (uint32_t)moved;
	r.rss_bytes = bkd_stats_rss_bytes();
	return send_msg(c, &r, sizeof(r), NULL, 0);
}

static _Alignas(8) uint8_t list_buf[BK_WIRE_MAX_MSG];

static int handle_modules(struct bkd_broker *b, struct bkd_conn *c, const struct bk_msg_list *m)
{
	struct bk_msg_list_reply *r = (struct bk_msg_list_reply *)list_buf;
	struct bk_wire_module *rec = (struct bk_wire_module *)(r + 1);
	const uint32_t max = (BK_WIRE_MAX_MSG - sizeof(*r)) / sizeof(*rec);
	uint32_t total = 0;
	memset(list_buf, 0, sizeof(list_buf));
	uint32_t n = bkd_registry_list(b->reg, rec, m->start, max, &total);
	size_t len = sizeof(*r) + n * sizeof(*rec);
	hdr_init(&r->h, BK_MSG_MODULES_REPLY, len, m->h.seq);
	r->total = total;
	r->count = n;
	return send_msg(c, list_buf, len, NULL, 0);
}

static void client_fill(struct bkd_conn *x, struct bk_wire_client *o, int64_t now)
{
	const struct bkd_conn_rings *cr = &x->cr;
	o->conn_id = x->id;
	o->pid = (uint32_t)x->cred.pid;
	o->uid = (uint32_t)x->cred.uid;
	o->gid = (uint32_t)x->cred.gid;
	memcpy(o->comm, x->caller->comm, sizeof(o->comm));
	o->worker = bkd_conn_worker(x)->idx;
	/* The worker updates these counters with relaxed atomic stores (conn_rings.c). */
	o->sq_depth = bkd_conn_rings_sq_depth(cr);
	o->cq_depth = bkd_conn_rings_cq_depth(cr);
	o->sq_entries = cr->v.geo.sq_entries;
	o->cq_entries = cr->v.geo.cq_entries;
	o->nslots = cr->v.geo.nslots;
	o->inflight = __atomic_load_n(&cr->inflight, __ATOMIC_RELAXED);
	o->submitted = __atomic_load_n(&cr->submitted, __ATOMIC_RELAXED);
	o->completed = __atomic_load_n(&cr->completed, __ATOMIC_RELAXED);
	o->violations = __atomic_load_n(&cr->violations, __ATOMIC_RELAXED);
	o->errors = atomic_load_explicit(&x->errors, memory_order_relaxed);
	o->connected_ns = (uint64_t)(now - x->connected_ns);
}

/* CLIENTS, or CLIENT_STATS (with the latency figures) when stats. */
static int handle_clients(struct bkd_broker *b, struct bkd_conn *c, const struct bk_msg_list *m, bool stats)
{
	struct bk_msg_list_reply *r = (struct bk_msg_list_reply *)list_buf;
	const size_t recsz = stats ? sizeof(struct bk_wire_client_stats) : sizeof(struct bk_wire_client);
	const uint32_t max = (uint32_t)((BK_WIRE_MAX_MSG - sizeof(*r)) / recsz);
	uint32_t total = 0, n = 0;
	int64_t now = bk_now_ns();
	memset(list_buf, 0, sizeof(list_buf));
	/* Who runs what is private: a caller who is not an administrator sees its own uid's clients only. */
	bool all = bkd_peer_admin(&b->opt, c->caller);
	for (struct bkd_conn *x = b->conns_head; x; x = x->next) {
		if (x->state != BKD_CONN_ACTIVE || (!all && x->cred.uid != c->cred.uid))
			continue;
		if (total++ < m->start || n >= max)
			continue;
		void *o = list_buf + sizeof(*r) + (size_t)n++ * recsz;
		client_fill(x, o, now); /* bk_wire_client_stats starts with a bk_wire_client */
		if (stats)
			bkd_lat_conn_fill(x, o);
	}
	size_t len = sizeof(*r) + n * recsz;
	hdr_init(&r->h, stats ? BK_MSG_CLIENT_STATS_REPLY : BK_MSG_CLIENTS_REPLY, len, m->h.seq);
	r->h.flags = stats && !BKD_LATENCY ? BK_STATS_OFF : 0;
	r->total = total;
	r->count = n;
	return send_msg(c, list_buf, len, NULL, 0);
}

/* Function statistics are as public as `modules`' task counts: aggregates over every caller. */
static int handle_fn_stats(struct bkd_broker *b, struct bkd_conn *c, const struct bk_msg_list *m)
{
	struct bk_msg_list_reply *r = (struct bk_msg_list_reply *)list_buf;
	struct bk_wire_fn_stats *rec = (struct bk_wire_fn_stats *)(r + 1);
	const uint32_t max = (BK_WIRE_MAX_MSG - sizeof(*r)) / sizeof(*rec);
	uint32_t total = 0;
	memset(list_buf, 0, sizeof(list_buf));
	uint32_t n = bkd_lat_fn_list(b, rec, m->start, max, &total);
	size_t len = sizeof(*r) + n * sizeof(*rec);
	hdr_init(&r->h, BK_MSG_FN_STATS_REPLY, len, m->h.seq);
	r->h.flags = BKD_LATENCY ? 0 : BK_STATS_OFF;
	r->total = total;
	r->count = n;
	return send_msg(c, list_buf, len, NULL, 0);
}

static int handle_lookup(struct bkd_broker *b, struct bkd_conn *c, const struct bk_msg_lookup *m)
{
	char name[sizeof(m->name)];
	memcpy(name, m->name, sizeof(name));
	name[sizeof(name) - 1] = 0;
	struct bk_msg_lookup_reply r;
	memset(&r, 0, sizeof(r));
	hdr_init(&r.h, BK_MSG_LOOKUP_REPLY, sizeof(r), m->h.seq);
	uint32_t fn = 0;
	const char *dot = strchr(name, '.');
	const struct bkd_access_rule *rule = bkd_access_find(b->access, name, dot ? (size_t)(dot - name) : strlen(name));
	if (!bkd_access_allows(rule, c->caller)) {
		log_refusal("conn %u (pid %d uid %u): lookup of %s refused by --module-access", c->id, (int)c->cred.pid,
			 (unsigned)c->cred.uid, name);
		r.status = -EACCES;
	} else {
		r.status = bkd_registry_lookup(b->reg, name, &fn);
		if (r.status == -ENOENT)
			r.status = bkd_cluster_lookup(b, name, &fn); /* local first, then another node (--cluster) */
	}
	r.fn = fn;
	return send_msg(c, &r, sizeof(r), NULL, 0);
}

static int handle_load(struct bkd_broker *b, struct bkd_conn *c, const struct bk_msg_path *m, bool load)
{
	char path[sizeof(m->path)];
	memcpy(path, m->path, sizeof(path));
	path[sizeof(path) - 1] = 0;
	char err[256] = "";
	const char *what = load ? "load" : "unload";
	if (!bkd_peer_admin(&b->opt, c->caller)) {
		char need[64] = "";
		if (b->opt.admin_gid >= 0)
			snprintf(need, sizeof(need), " or group %ld", b->opt.admin_gid);
		log_refusal("conn %u (pid %d uid %u): %s %s refused: not an administrator", c->id, (int)c->cred.pid,
			 (unsigned)c->cred.uid, what, path);
		return send_result(c, m->h.seq, -EPERM, "permission denied: %s needs root%s", what, need);
	}
	int r = load ? bkd_loader_load(b->reg, path, err, sizeof(err))
		     : bkd_registry_unload(b->reg, path, err, sizeof(err));
	if (r < 0)
		bkd_warn("%s %s refused: %s", what, path, err);
	else
		bkd_info("%s %s", r > 0 ? "unchanged:" : load ? "loaded" : "unloading", path);
	if (r >= 0)
		bkd_cluster_local_changed(b); /* --cluster: tell the others what this node serves now */
	/* r > 0: the loader found nothing to do and says so in err (loader.h) */
	return send_result(c, m->h.seq, r < 0 ? r : 0, "%s", r != 0 ? err : "ok");
}

/* ---- dispatch -------------------------------------------------------------------- */

static void close_fds(int *fds, int nfds)
{
	for (int i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* HELLO carries the client's eventfd (BK_HELLO_EVENTFD) as its only descriptor. */
static int request_hello(struct bkd_broker *b, struct bkd_conn *c, const void *msg, size_t len, int *fds,
			 int nfds, uint32_t seq)
{
	int efd = -1;
	if (nfds > 0) {
		efd = fds[0];
		close_fds(fds + 1, nfds - 1);
	}
	struct bk_msg_hello m;
	int r;
	if (c->state != BKD_CONN_NEW) {
		r = send_result(c, seq, -EINVAL, "already connected: HELLO may be sent once");
	} else if (len != sizeof(m)) {
		r = hello_fail(c, seq, -EINVAL, "HELLO of %zu bytes, expected %zu", len, sizeof(m));
	} else {
		memcpy(&m, msg, sizeof(m));
		if (!(m.flags & BK_HELLO_EVENTFD) && efd >= 0) {
			close(efd);
			efd = -1;
		}
		r = handle_hello(b, c, &m, efd);
	}
	if (efd >= 0 && c->client_efd != efd)
		close(efd); /* not kept by a started connection */
	bkd_stats_fds_changed(); /* a region, a wake-up eventfd, the client's eventfd */
	return r;
}

/* A request after HELLO: its type fixes its size and its handler. */
union request {
	struct bk_msg_hdr h;
	struct bk_msg_lookup lookup;
	struct bk_msg_list list;
	struct bk_msg_path path;
};

typedef int (*request_fn)(struct bkd_broker *b, struct bkd_conn *c, const union request *u);

static int req_status(struct bkd_broker *b, struct bkd_conn *c, const union request *u)
{
	return handle_status(b, c, u->h.seq);
}

static int req_lookup(struct bkd_broker *b, struct bkd_conn *c, const union request *u)
{
	return handle_lookup(b, c, &u->lookup);
}

static int req_modules(struct bkd_broker *b, struct bkd_conn *c, const union request *u)
{
	return handle_modules(b, c, &u->list);
}

static int req_clients(struct bkd_broker *b, struct bkd_conn *c, const union request *u)
{
	return handle_clients(b, c, &u->list, false);
}

static int req_client_stats(struct bkd_broker *b, struct bkd_conn *c, const union request *u)
{
	return handle_clients(b, c, &u->list, true);
}

static int req_fn_stats(struct bkd_broker *b, struct bkd_conn *c, const union request *u)
{
	return handle_fn_stats(b, c, &u->list);
}

static int req_load(struct bkd_broker *b, struct bkd_conn *c, const union request *u)
{
	return handle_load(b, c, &u->path, true);
}

static int req_unload(struct bkd_broker *b, struct bkd_conn *c, const union request *u)
{
	return handle_load(b, c, &u->path, false);
}

static int req_cluster(struct bkd_broker *b, struct bkd_conn *c, const union request *u)
{
	return send_msg(c, list_buf, bkd_cluster_list(b, u->h.type, u->list.start, u->h.seq, list_buf), NULL, 0);
}

static const struct {
	uint16_t type;
	uint16_t size;
	request_fn fn;
} requests[] = {
	{ BK_MSG_STATUS, sizeof(struct bk_msg_hdr), req_status },
	{ BK_MSG_LOOKUP, sizeof(struct bk_msg_lookup), req_lookup },
	{ BK_MSG_MODULES, sizeof(struct bk_msg_list), req_modules },
	{ BK_MSG_CLIENTS, sizeof(struct bk_msg_list), req_clients },
	{ BK_MSG_LOAD, sizeof(struct bk_msg_path), req_load },
	{ BK_MSG_UNLOAD, sizeof(struct bk_msg_path), req_unload },
	{ BK_MSG_FN_STATS, sizeof(struct bk_msg_list), req_fn_stats },
	{ BK_MSG_CLIENT_STATS, sizeof(struct bk_msg_list), req_client_stats },
	{ BK_MSG_REMOTE_FNS, sizeof(struct bk_msg_list), req_cluster },
	{ BK_MSG_NODES, sizeof(struct bk_msg_list), req_cluster },
	{ BK_MSG_JOBS, sizeof(struct bk_msg_list), req_cluster },
};

/* A malformed request: answered -EINVAL, and counted against the connection, which goes at the limit. */
static bool violation(struct bkd_broker *b, struct bkd_conn *c)
{
	atomic_fetch_add_explicit(&b->stats.violations, 1, memory_order_relaxed);
	if (++c->ctl_violations < BKD_VIOLATIONS_MAX)
		return true;
	bkd_warn_limited(&bkd_drops_rl, "conn %u (pid %d): %u malformed requests; disconnecting", c->id, (int)c->cred.pid,
			 c->ctl_violations);
	return false;
}

static int request_other(struct bkd_broker *b, struct bkd_conn *c, const void *msg, size_t len,
			 const struct bk_msg_hdr *h)
{
	for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
		if (requests[i].type != h->type)
			continue;
		if (len != requests[i].size) {
			if (!violation(b, c))
				return -EPROTO;
			return send_result(c, h->seq, -EINVAL, "message type %u of %zu bytes, expected %u", h->type,
					   len, requests[i].size);
		}
		/* A private copy sized by the type, so that a short datagram is never read past its end. */
		union request u;
		memcpy(&u, msg, len);
		return requests[i].fn(b, c, &u);
	}
	if (!violation(b, c))
		return -EPROTO;
	return send_result(c, h->seq, -EINVAL, "unknown message type %u", h->type);
}

int bkd_request_handle(struct bkd_broker *b, struct bkd_conn *c, const void *msg, size_t len, int *fds, int nfds)
{
	struct bk_msg_hdr h;
	if (len < sizeof(h)) {
		close_fds(fds, nfds);
		bkd_warn_limited(&bkd_drops_rl, "conn %u (pid %d): %zu-byte datagram is not a message; disconnecting", c->id,
			 (int)c->cred.pid, len);
		return -EPROTO;
	}
	memcpy(&h, msg, sizeof(h));
	if (h.magic != BK_WIRE_MAGIC || h.len != len) {
		close_fds(fds, nfds);
		bkd_warn_limited(&bkd_drops_rl, "conn %u (pid %d): bad message (magic %#x, len %u of %zu); disconnecting", c->id,
			 (int)c->cred.pid, h.magic, h.len, len);
		return -EPROTO;
	}
	if (h.type == BK_MSG_HELLO)
		return request_hello(b, c, msg, len, fds, nfds, h.seq);
	close_fds(fds, nfds);
	if (c->state == BKD_CONN_NEW) {
		bkd_warn_limited(&bkd_drops_rl, "conn %u (pid %d): message type %u before HELLO; disconnecting", c->id, (int)c->cred.pid,
			 h.type);
		return -EPROTO;
	}
	return request_other(b, c, msg, len, &h);
}
