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
#include <sys/eventfd.h>
#include <unistd.h>

#include "bk_config.h"
#include "broker/client.h" /* BK_EVERSION, BK_ELAYOUT: the codes the client maps to messages */
#include "listener.h"
#include "log.h"
#include "worker.h"

static int send_msg(struct bkd_conn *c, const void *buf, size_t len, const int *fds, int nfds)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 2)];
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds > 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	}
	ssize_t n = sendmsg(c->sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0) {
		int e = errno;
		/* EAGAIN: a client that does not read its replies; it loses the connection, not the broker. */
		bkd_warn("conn %u (pid %d): cannot send reply: %s", c->id, (int)c->cred.pid, strerror(e));
		return -e;
	}
	return 0;
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

__attribute__((format(printf, 4, 5))) static int hello_fail(struct bkd_conn *c, uint32_t seq, int status,
							  const char *fmt, ...)
{
	struct bk_msg_hello_reply r;
	memset(&r, 0, sizeof(r));
	hdr_init(&r.h, BK_MSG_HELLO_REPLY, sizeof(r), seq);
	r.status = status;
	r.abi_major = BK_ABI_MAJOR;
	r.abi_minor = BK_ABI_MINOR;
	r.layout_hash = BK_LAYOUT_HASH;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r.error, sizeof(r.error), fmt, ap);
	va_end(ap);
	bkd_warn("conn %u (pid %d uid %u): handshake refused: %s", c->id, (int)c->cred.pid, (unsigned)c->cred.uid,
		r.error);
	(void)send_msg(c, &r, sizeof(r), NULL, 0);
	return -EPROTO;
}

static struct bkd_worker *pick_worker(struct bkd_broker *b)
{
	/* Least loaded; ties broken round robin so that an empty broker spreads new connections. */
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

static int handle_hello(struct bkd_broker *b, struct bkd_conn *c, const struct bk_msg_hello *m, int client_fd)
{
	uint32_t seq = m->h.seq;
	if (!bkd_peer_allowed(&b->opt, &c->cred))
		return hello_fail(c, seq, BK_EREFUSED,
				  "uid %u gid %u is not allowed (brokerd runs as uid %u; see --allow-uid/--allow-gid)",
				  (unsigned)c->cred.uid, (unsigned)c->cred.gid, (unsigned)geteuid());
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

	if (m->flags & BK_HELLO_CONTROL) {
		struct bk_msg_hello_reply r;
		memset(&r, 0, sizeof(r));
		hdr_init(&r.h, BK_MSG_HELLO_REPLY, sizeof(r), seq);
		r.conn_id = c->id;
		r.abi_major = BK_ABI_MAJOR;
		r.abi_minor = BK_ABI_MINOR;
		r.layout_hash = BK_LAYOUT_HASH;
		if (send_msg(c, &r, sizeof(r), NULL, 0) < 0)
			return -EPIPE;
		c->state = BKD_CONN_CONTROL;
		return 0;
	}
	if ((m->flags & BK_HELLO_EVENTFD) && client_fd < 0)
		return hello_fail(c, seq, -EINVAL, "BK_HELLO_EVENTFD set but no descriptor attached");

	char err[192] = "";
	struct bkd_region_params p = {
		.max_large = b->opt.max_large,
		.ring_start = 0,
		.conn_id = c->id,
		.epoch = b->epoch,
		.features = b->sq_futex ? BK_FEAT_SQ_FUTEX : BK_FEAT_SQ_EVENTFD,
	};
	int r = bkd_region_create(&m->geo, &p, &c->region, err, sizeof(err));
	if (r < 0)
		return hello_fail(c, seq, r, "%s", err);
	if (!b->sq_futex) {
		c->wake_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (c->wake_efd < 0)
			return hello_fail(c, seq, -errno, "eventfd: %s", strerror(errno));
	}
	r = bkd_conn_rings_init(&c->cr, &c->region.v, 0);
	if (r < 0)
		return hello_fail(c, seq, r, "out of memory for the ring tables");
	c->tasks = calloc(c->region.v.geo.nslots, sizeof(*c->tasks));
	if (!c->tasks)
		return hello_fail(c, seq, -ENOMEM, "out of memory for the task table");

	struct bk_msg_hello_reply rep;
	memset(&rep, 0, sizeof(rep));
	hdr_init(&rep.h, BK_MSG_HELLO_REPLY, sizeof(rep), seq);
	rep.conn_id = c->id;
	rep.abi_major = BK_ABI_MAJOR;
	rep.abi_minor = BK_ABI_MINOR;
	rep.features = p.features;
	rep.layout_hash = BK_LAYOUT_HASH;
	rep.region_size = c->region.v.size;
	int fds[2] = { c->region.fd, c->wake_efd };
	if (send_msg(c, &rep, sizeof(rep), fds, c->wake_efd >= 0 ? 2 : 1) < 0)
		return -EPIPE;
	/* The client has its own descriptor now; our mapping keeps the memory alive. */
	close(c->region.fd);
	c->region.fd = -1;
	c->client_efd = client_fd;

	c->w = pick_worker(b);
	atomic_fetch_add_explicit(&c->w->nconns, 1, memory_order_relaxed);
	c->state = BKD_CONN_ACTIVE;
	if (atomic_load_explicit(&b->draining, memory_order_relaxed))
		atomic_store_explicit(&c->region.v.hdr->broker_state, BK_BROKER_DRAINING, memory_order_release);
	bkd_dbg("conn %u (pid %d uid %u): region %llu bytes, sq %u cq %u slots %u inline %u, worker %u", c->id,
	       (int)c->cred.pid, (unsigned)c->cred.uid, (unsigned long long)c->region.v.size,
	       c->region.v.geo.sq_entries, c->region.v.geo.cq_entries, c->region.v.geo.nslots,
	       c->region.v.geo.slot_inline, c->w->idx);
	c->add_item.type = BKD_IN_ADD_CONN;
	c->add_item.ptr = c;
	bkd_worker_post(c->w, &c->add_item);
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

static int handle_clients(struct bkd_broker *b, struct bkd_conn *c, const struct bk_msg_list *m)
{
	struct bk_msg_list_reply *r = (struct bk_msg_list_reply *)list_buf;
	struct bk_wire_client *rec = (struct bk_wire_client *)(r + 1);
	const uint32_t max = (BK_WIRE_MAX_MSG - sizeof(*r)) / sizeof(*rec);
	uint32_t total = 0, n = 0;
	int64_t now = bk_now_ns();
	memset(list_buf, 0, sizeof(list_buf));
	for (struct bkd_conn *x = b->conns_head; x; x = x->next) {
		if (x->state != BKD_CONN_ACTIVE)
			continue;
		if (total++ < m->start || n >= max)
			continue;
		struct bk_wire_client *o = &rec[n++];
		const struct bkd_conn_rings *cr = &x->cr;
		o->conn_id = x->id;
		o->pid = (uint32_t)x->cred.pid;
		o->uid = (uint32_t)x->cred.uid;
		o->gid = (uint32_t)x->cred.gid;
		o->worker = x->w->idx;
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
	size_t len = sizeof(*r) + n * sizeof(*rec);
	hdr_init(&r->h, BK_MSG_CLIENTS_REPLY, len, m->h.seq);
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
	r.status = bkd_registry_lookup(b->reg, name, &fn);
	r.fn = fn;
	return send_msg(c, &r, sizeof(r), NULL, 0);
}

static int handle_load(struct bkd_broker *b, struct bkd_conn *c, const struct bk_msg_path *m, bool load)
{
	char path[sizeof(m->path)];
	memcpy(path, m->path, sizeof(path));
	path[sizeof(path) - 1] = 0;
	char err[256] = "";
	int r = load ? bkd_registry_load(b->reg, path, err, sizeof(err))
		     : bkd_registry_unload(b->reg, path, err, sizeof(err));
	if (r < 0)
		bkd_warn("%s %s refused: %s", load ? "load" : "unload", path, err);
	else
		bkd_info("%s %s", load ? "loaded" : "unloading", path);
	return send_result(c, m->h.seq, r < 0 ? r : 0, "%s", r < 0 ? err : "ok");
}

/* ---- dispatch -------------------------------------------------------------------- */

static void close_fds(int *fds, int nfds)
{
	for (int i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

int bkd_request_handle(struct bkd_broker *b, struct bkd_conn *c, const void *msg, size_t len, int *fds, int nfds)
{
	struct bk_msg_hdr h;
	if (len < sizeof(h)) {
		close_fds(fds, nfds);
		bkd_warn("conn %u (pid %d): %zu-byte datagram is not a message; disconnecting", c->id, (int)c->cred.pid,
			len);
		return -EPROTO;
	}
	memcpy(&h, msg, sizeof(h));
	if (h.magic != BK_WIRE_MAGIC || h.len != len) {
		close_fds(fds, nfds);
		bkd_warn("conn %u (pid %d): bad message (magic %#x, len %u of %zu); disconnecting", c->id,
			(int)c->cred.pid, h.magic, h.len, len);
		return -EPROTO;
	}
	if (h.type == BK_MSG_HELLO) {
		int efd = -1;
		if (nfds > 0) {
			efd = fds[0];
			close_fds(fds + 1, nfds - 1);
		}
		if (c->state != BKD_CONN_NEW) {
			if (efd >= 0)
				close(efd);
			return send_result(c, h.seq, -EINVAL, "already connected: HELLO may be sent once");
		}
		if (len != sizeof(struct bk_msg_hello)) {
			if (efd >= 0)
				close(efd);
			return hello_fail(c, h.seq, -EINVAL, "HELLO of %zu bytes, expected %zu", len,
					  sizeof(struct bk_msg_hello));
		}
		struct bk_msg_hello m;
		memcpy(&m, msg, sizeof(m));
		if (!(m.flags & BK_HELLO_EVENTFD) && efd >= 0) {
			close(efd);
			efd = -1;
		}
		int r = handle_hello(b, c, &m, efd);
		if (r < 0 && efd >= 0 && c->client_efd != efd)
			close(efd);
		return r;
	}
	close_fds(fds, nfds);
	if (c->state == BKD_CONN_NEW) {
		bkd_warn("conn %u (pid %d): message type %u before HELLO; disconnecting", c->id, (int)c->cred.pid, h.type);
		return -EPROTO;
	}

	/* Copies sized by the type, so that a short datagram is never read past its end. */
	union {
		struct bk_msg_lookup lookup;
		struct bk_msg_list list;
		struct bk_msg_path path;
	} u;
	size_t want = 0;
	switch (h.type) {
	case BK_MSG_STATUS:
		want = sizeof(struct bk_msg_hdr);
		break;
	case BK_MSG_LOOKUP:
		want = sizeof(u.lookup);
		break;
	case BK_MSG_MODULES:
	case BK_MSG_CLIENTS:
		want = sizeof(u.list);
		break;
	case BK_MSG_LOAD:
	case BK_MSG_UNLOAD:
		want = sizeof(u.path);
		break;
	default:
		atomic_fetch_add_explicit(&b->stats.violations, 1, memory_order_relaxed);
		return send_result(c, h.seq, -EINVAL, "unknown message type %u", h.type);
	}
	if (len != want) {
		atomic_fetch_add_explicit(&b->stats.violations, 1, memory_order_relaxed);
		return send_result(c, h.seq, -EINVAL, "message type %u of %zu bytes, expected %zu", h.type, len, want);
	}
	memcpy(&u, msg, len);
	switch (h.type) {
	case BK_MSG_STATUS:
		return handle_status(b, c, h.seq);
	case BK_MSG_LOOKUP:
		return handle_lookup(b, c, &u.lookup);
	case BK_MSG_MODULES:
		return handle_modules(b, c, &u.list);
	case BK_MSG_CLIENTS:
		return handle_clients(b, c, &u.list);
	case BK_MSG_LOAD:
		return handle_load(b, c, &u.path, true);
	default:
		return handle_load(b, c, &u.path, false);
	}
}
