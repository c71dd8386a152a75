// SPDX-License-Identifier: MIT
/*
 * host_net.c - the network operations of the host API (host_net.h).  Each
 * is one io_uring operation on the task's worker ring, started like the
 * file operations (host_op.c: the caller's personality, cancelled with the
 * task, an optional linked timeout); descriptors from socket and accept are
 * the task's and closed when it ends (task_fds.c).  Name resolution is
 * blocking in libc, so getaddrinfo runs on the offload pool through the
 * host table's own offload entry (with the caller's credentials).
 */
#include "host_net.h"

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "host_op.h"
#include "task.h"
#include "worker.h"

/* Longest node and service names resolve takes (RFC 1035's 253, a port name). */
#define RESOLVE_NODE_MAX 255u
#define RESOLVE_SERVICE_MAX 32u

static int net_begin(bk_task *t, bk_io_cb cb, void *ud, struct bkd_op **op, struct io_uring_sqe **sqe)
{
	return bkd_hop_begin(t, BKD_OPT_IO, false, cb, ud, op, sqe);
}

int bkd_hnet_socket(bk_task *t, int domain, int type, int protocol, bk_io_cb cb, void *ud)
{
	/* Internet and local sockets only: netlink, packet and the like are no module's business. */
	if (domain != AF_INET && domain != AF_INET6 && domain != AF_UNIX)
		return -EAFNOSUPPORT;
	struct bkd_op *op;
	struct io_uring_sqe *sqe;
	int r = net_begin(t, cb, ud, &op, &sqe);
	if (r < 0)
		return r;
	io_uring_prep_socket(sqe, domain, type | SOCK_CLOEXEC, protocol, 0);
	op->owns_fd = true;
	bkd_hop_commit(op, sqe);
	return 0;
}

int bkd_hnet_connect(bk_task *t, int fd, const void *addr, uint32_t addrlen, bk_io_cb cb, void *ud)
{
	if (!addr || addrlen == 0)
		return -EINVAL;
	struct bkd_op *op;
	struct io_uring_sqe *sqe;
	int r = net_begin(t, cb, ud, &op, &sqe);
	if (r < 0)
		return r;
	io_uring_prep_connect(sqe, fd, addr, addrlen);
	bkd_hop_commit(op, sqe);
	return 0;
}

int bkd_hnet_accept(bk_task *t, int fd, bk_io_cb cb, void *ud)
{
	struct bkd_op *op;
	struct io_uring_sqe *sqe;
	int r = net_begin(t, cb, ud, &op, &sqe);
	if (r < 0)
		return r;
	io_uring_prep_accept(sqe, fd, NULL, NULL, SOCK_CLOEXEC);
	op->owns_fd = true;
	bkd_hop_commit(op, sqe);
	return 0;
}

int bkd_hnet_send(bk_task *t, int fd, const void *buf, uint32_t len, int flags, bk_io_cb cb, void *ud)
{
	struct bkd_op *op;
	struct io_uring_sqe *sqe;
	int r = net_begin(t, cb, ud, &op, &sqe);
	if (r < 0)
		return r;
	/* A peer that hung up must give the task -EPIPE, not brokerd a SIGPIPE. */
	io_uring_prep_send(sqe, fd, buf, len, flags | MSG_NOSIGNAL);
	bkd_hop_commit(op, sqe);
	return 0;
}

int bkd_hnet_recv(bk_task *t, int fd, void *buf, uint32_t len, int flags, bk_io_cb cb, void *ud)
{
	struct bkd_op *op;
	struct io_uring_sqe *sqe;
	int r = net_begin(t, cb, ud, &op, &sqe);
	if (r < 0)
		return r;
	io_uring_prep_recv(sqe, fd, buf, len, flags);
	bkd_hop_commit(op, sqe);
	return 0;
}

int bkd_hnet_shutdown(bk_task *t, int fd, int how, bk_io_cb cb, void *ud)
{
	struct bkd_op *op;
	struct io_uring_sqe *sqe;
	int r = net_begin(t, cb, ud, &op, &sqe);
	if (r < 0)
		return r;
	io_uring_prep_shutdown(sqe, fd, how);
	bkd_hop_commit(op, sqe);
	return 0;
}

int bkd_hnet_poll(bk_task *t, int fd, uint32_t events, bk_io_cb cb, void *ud)
{
	struct bkd_op *op;
	struct io_uring_sqe *sqe;
	int r = net_begin(t, cb, ud, &op, &sqe);
	if (r < 0)
		return r;
	io_uring_prep_poll_add(sqe, fd, events);
	bkd_hop_commit(op, sqe);
	return 0;
}

int bkd_hnet_link_timeout(bk_task *t, uint64_t ns)
{
	if (!bkd_worker_is_current(t->w))
		return -EPERM;
	t->link_ns = ns;
	return 0;
}

/* ---- resolve: getaddrinfo on the offload pool ------------------------------------------------ */

struct resolve_job {
	bk_io_cb cb;
	void *ud;
	bk_addr *out;
	uint32_t max;
	int socktype;
	char node[RESOLVE_NODE_MAX + 1];
	char service[RESOLVE_SERVICE_MAX + 1];
};

static int gai_errno(int e)
{
	switch (e) {
	case EAI_NONAME:
	case EAI_NODATA:
	case EAI_ADDRFAMILY:
		return -ENOENT;
	case EAI_AGAIN:
		return -EAGAIN;
	case EAI_MEMORY:
		return -ENOMEM;
	case EAI_SERVICE:
	case EAI_SOCKTYPE:
	case EAI_BADFLAGS:
	case EAI_FAMILY:
		return -EINVAL;
	case EAI_SYSTEM:
		return errno ? -errno : -EIO;
	default:
		return -EIO;
	}
}

/* Pool thread, as the caller (host_api.c, offload_work). */
static int resolve_work(bk_task *t, void *arg)
{
	(void)t;
	struct resolve_job *j = arg;
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = j->socktype;
	hints.ai_flags = AI_ADDRCONFIG;
	int e = getaddrinfo(j->node, j->service[0] ? j->service : NULL, &hints, &res);
	if (e != 0)
		return gai_errno(e);
	uint32_t n = 0;
	for (struct addrinfo *a = res; a && n < j->max; a = a->ai_next) {
		if (a->ai_addrlen > sizeof(j->out[n].addr))
			continue;
		bk_addr *o = &j->out[n++];
		o->family = a->ai_family;
		o->socktype = a->ai_socktype;
		o->protocol = a->ai_protocol;
		o->len = (uint32_t)a->ai_addrlen;
		memcpy(o->addr, a->ai_addr, a->ai_addrlen);
	}
	freeaddrinfo(res);
	return n ? (int)n : -ENOENT;
}

static void resolve_done(bk_task *t, int res, void *arg)
{
	struct resolve_job *j = arg;
	bk_io_cb cb = j->cb;
	void *ud = j->ud;
	free(j);
	if (cb)
		cb(t, res, ud);
}

int bkd_hnet_resolve(bk_task *t, const char *node, const char *service, int socktype, bk_addr *out, uint32_t max,
		     bk_io_cb cb, void *ud)
{
	if (!node || !out || max == 0)
		return -EINVAL;
	size_t nl = strnlen(node, RESOLVE_NODE_MAX + 1);
	size_t sl = service ? strnlen(service, RESOLVE_SERVICE_MAX + 1) : 0;
	if (nl == 0 || nl > RESOLVE_NODE_MAX || sl > RESOLVE_SERVICE_MAX)
		return -EINVAL;
	struct resolve_job *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->cb = cb;
	j->ud = ud;
	j->out = out;
	j->max = max;
	j->socktype = socktype;
	memcpy(j->node, node, nl);
	if (sl)
		memcpy(j->service, service, sl);
	/* Through the table, not host_api.c's function: that file is above this one. */
	int r = t->w->b->host->offload(t, resolve_work, resolve_done, j);
	if (r < 0)
		free(j);
	return r;
}
