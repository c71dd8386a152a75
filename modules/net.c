// SPDX-License-Identifier: MIT
/*
 * net.c - the "net" module: TCP requests run by brokerd's workers through
 * the host API's network operations (module.h, ABI 1.2), so a client
 * waiting on a slow server costs no thread anywhere.
 *
 * Functions (argument -> result; docs/modules.md has the details):
 *   net.request  "HOST PORT TIMEOUT_MS" then, after one '\n', the bytes to
 *                send (inline or a zero-copy buffer) -> the bytes the server
 *                sent until it closed or the result buffer was full.
 *   net.http_get "http://HOST[:PORT][/PATH] [TIMEOUT_MS]" (net_http.c)
 *   net.fanout   several net.request arguments run in parallel as child
 *                tasks (net_fanout.c)
 * HOST is an IPv4 or IPv6 literal (no resolution) or a name (resolved with
 * host->resolve on the offload pool).  TIMEOUT_MS (1 to an hour, 0: none)
 * bounds the whole request: every operation carries a linked timeout of
 * what is left, and the task completes with -ETIMEDOUT when it runs out.
 * Errors are the socket's -errno (-ECONNREFUSED, -ENETUNREACH, ...).  The
 * socket is closed on every path; brokerd closes it anyway when the task
 * ends (cancellation, a dying client).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <stdio.h>
#include <time.h>

#include "net_impl.h"

#define REQ_HEADER_MAX 300u /* "HOST PORT TIMEOUT_MS" is shorter than this */

int64_t net_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int net_parse_u32(const uint8_t *p, size_t n, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;
	if (n == 0 || n > 10)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	if (v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static bool node_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
	       c == ':' || c == '_';
}

/* A numeric host needs no resolution: fill rq->addr directly. */
static bool numeric_addr(struct net_req *rq, uint16_t port)
{
	struct sockaddr_in a4;
	struct sockaddr_in6 a6;
	memset(&a4, 0, sizeof(a4));
	memset(&a6, 0, sizeof(a6));
	if (inet_pton(AF_INET, rq->node, &a4.sin_addr) == 1) {
		a4.sin_family = AF_INET;
		a4.sin_port = htons(port);
		memcpy(rq->addr[0].addr, &a4, sizeof(a4));
		rq->addr[0].len = sizeof(a4);
		rq->addr[0].family = AF_INET;
	} else if (inet_pton(AF_INET6, rq->node, &a6.sin6_addr) == 1) {
		a6.sin6_family = AF_INET6;
		a6.sin6_port = htons(port);
		memcpy(rq->addr[0].addr, &a6, sizeof(a6));
		rq->addr[0].len = sizeof(a6);
		rq->addr[0].family = AF_INET6;
	} else {
		return false;
	}
	rq->addr[0].socktype = SOCK_STREAM;
	rq->naddr = 1;
	return true;
}

int net_req_new(const bk_host_api *host, const char *node, size_t node_len, uint32_t port, uint32_t timeout_ms,
		struct net_req **out)
{
	if (node_len == 0 || node_len > NET_NODE_MAX || port == 0 || port > 65535 || timeout_ms > NET_TIMEOUT_MAX_MS)
		return -EINVAL;
	for (size_t i = 0; i < node_len; i++)
		if (!node_char_ok(node[i]))
			return -EINVAL;
	struct net_req *rq = calloc(1, sizeof(*rq));
	if (!rq)
		return -ENOMEM;
	rq->host = host;
	rq->fd = -1;
	memcpy(rq->node, node, node_len);
	snprintf(rq->port, sizeof(rq->port), "%u", (unsigned)port);
	numeric_addr(rq, (uint16_t)port); /* else naddr stays 0: resolved in net_req_start */
	if (timeout_ms)
		rq->deadline_ns = net_now_ns() + (int64_t)timeout_ms * 1000000LL;
	*out = rq;
	return 0;
}

void net_req_free(struct net_req *rq)
{
	free(rq->owned);
	free(rq);
}

/* The next operation gets what is left of the deadline as its linked timeout. */
static int arm(bk_task *task, struct net_req *rq)
{
	if (!rq->deadline_ns)
		return 0;
	int64_t left = rq->deadline_ns - net_now_ns();
	if (left <= 0)
		return -ETIMEDOUT;
	return rq->host->link_timeout(task, (uint64_t)left);
}

static void on_close(bk_task *task, int res, void *ud)
{
	struct net_req *rq = ud;
	(void)res; /* a failed close loses nothing the client asked for */
	rq->finish(task, rq);
}

/* Every path after the socket exists ends here; without one, straight to finish. */
static void end(bk_task *task, struct net_req *rq, int status)
{
	if (status < 0 && rq->status == 0)
		rq->status = status;
	int fd = rq->fd;
	rq->fd = -1;
	/* If close cannot start, brokerd closes the task's socket when the task ends. */
	if (fd >= 0 && rq->host->close(task, fd, on_close, rq) == 0)
		return;
	rq->finish(task, rq);
}

static void on_recv(bk_task *task, int res, void *ud);

/* Read into what is left of the buffer; a full buffer (or none) ends the request. */
static void recv_next(bk_task *task, struct net_req *rq)
{
	size_t left = rq->cap - rq->got;
	if (left == 0) {
		end(task, rq, 0);
		return;
	}
	int r = arm(task, rq);
	if (r == 0)
		r = rq->host->recv(task, rq->fd, rq->buf + rq->got, left > (1u << 30) ? (1u << 30) : (uint32_t)left, 0,
				   on_recv, rq);
	if (r < 0)
		end(task, rq, r);
}

static void on_recv(bk_task *task, int res, void *ud)
{
	struct net_req *rq = ud;
	if (res <= 0) {
		end(task, rq, res); /* 0: the peer closed */
		return;
	}
	rq->got += (size_t)res;
	recv_next(task, rq);
}

static void on_shutdown(bk_task *task, int res, void *ud)
{
	struct net_req *rq = ud;
	/* A peer that already closed its side refuses nothing we still need: read what it sent. */
	if (res < 0 && res != -ENOTCONN) {
		end(task, rq, res);
		return;
	}
	recv_next(task, rq);
}

static void on_send(bk_task *task, int res, void *ud);

/* Send what is left; then half-close if asked, then read. */
static void send_next(bk_task *task, struct net_req *rq)
{
	int r;
	if (rq->sent == rq->out_len) {
		if (!rq->half_close) {
			recv_next(task, rq);
			return;
		}
		r = arm(task, rq);
		if (r == 0)
			r = rq->host->shutdown(task, rq->fd, SHUT_WR, on_shutdown, rq);
	} else {
		size_t left = rq->out_len - rq->sent;
		r = arm(task, rq);
		if (r == 0)
			r = rq->host->send(task, rq->fd, rq->out + rq->sent,
					   left > (1u << 30) ? (1u << 30) : (uint32_t)left, 0, on_send, rq);
	}
	if (r < 0)
		end(task, rq, r);
}

static void on_send(bk_task *task, int res, void *ud)
{
	struct net_req *rq = ud;
	if (res < 0) {
		end(task, rq, res);
		return;
	}
	rq->sent += (size_t)res;
	send_next(task, rq);
}

static int open_socket(bk_task *task, struct net_req *rq);

/* The last address's socket is closed: try the next one. */
static void on_close_retry(bk_task *task, int res, void *ud)
{
	struct net_req *rq = ud;
	(void)res;
	int r = open_socket(task, rq);
	if (r < 0)
		end(task, rq, r);
}

static void on_connect(bk_task *task, int res, void *ud)
{
	struct net_req *rq = ud;
	/* A name may have several addresses: a refusal or an unreachable one moves on to the next. */
	if (res < 0 && res != -ETIMEDOUT && res != -ECANCELED && rq->cur + 1 < rq->naddr) {
		int fd = rq->fd;
		rq->fd = -1;
		rq->cur++;
		if (rq->host->close(task, fd, on_close_retry, rq) == 0)
			return;
		on_close_retry(task, 0, rq); /* brokerd closes the old socket when the task ends */
		return;
	}
	if (res < 0) {
		end(task, rq, res);
		return;
	}
	send_next(task, rq);
}

static void on_socket(bk_task *task, int res, void *ud)
{
	struct net_req *rq = ud;
	if (res < 0) {
		end(task, rq, res);
		return;
	}
	rq->fd = res;
	int r = arm(task, rq);
	if (r == 0)
		r = rq->host->connect(task, rq->fd, rq->addr[rq->cur].addr, rq->addr[rq->cur].len, on_connect, rq);
	if (r < 0)
		end(task, rq, r);
}

static int open_socket(bk_task *task, struct net_req *rq)
{
	return rq->host->socket(task, rq->addr[rq->cur].family, SOCK_STREAM, 0, on_socket, rq);
}

static void on_resolved(bk_task *task, int res, void *ud)
{
	struct net_req *rq = ud;
	int r = res < 0 ? res : rq->deadline_ns && net_now_ns() >= rq->deadline_ns ? -ETIMEDOUT : 0;
	rq->naddr = res > 0 ? (uint32_t)res : 0;
	if (r == 0)
		r = open_socket(task, rq);
	if (r < 0)
		end(task, rq, r);
}

int net_req_start(bk_task *task, struct net_req *rq)
{
	if (rq->naddr)
		return open_socket(task, rq);
	return rq->host->resolve(task, rq->node, rq->port, SOCK_STREAM, rq->addr, NET_ADDRS, on_resolved, rq);
}

/* ---- net.request ------------------------------------------------------------------------------ */

static void request_finish(bk_task *task, struct net_req *rq)
{
	const bk_host_api *host = rq->host;
	int status = rq->status;
	size_t got = rq->got;
	net_req_free(rq);
	host->complete(task, status, status < 0 ? 0 : got);
}

/* The next space-separated field of h[0..n) from *pos. */
static int field(const uint8_t *h, size_t n, size_t *pos, const uint8_t **f, size_t *flen)
{
	size_t i = *pos;
	while (i < n && h[i] != ' ')
		i++;
	if (i == *pos)
		return -EINVAL;
	*f = h + *pos;
	*flen = i - *pos;
	*pos = i < n ? i + 1 : i;
	return 0;
}

/*
 * "HOST PORT TIMEOUT_MS" [ '\n' BYTES ].  The header is copied out of the
 * argument before it is parsed (the argument may be client memory that
 * changes under us); the bytes are sent from the argument as they are.
 */
static int parse_request(const bk_host_api *host, const uint8_t *arg, size_t len, struct net_req **out)
{
	uint8_t h[REQ_HEADER_MAX];
	size_t n = 0;
	while (n < len && n < sizeof(h) && (h[n] = arg[n]) != '\n')
		n++;
	if (n == sizeof(h))
		return -EINVAL;
	size_t body = n < len ? n + 1 : len;
	const uint8_t *node, *port, *tmo;
	size_t node_len, port_len, tmo_len, pos = 0;
	uint32_t portv, tmov;
	int r;
	if ((r = field(h, n, &pos, &node, &node_len)) < 0 || (r = field(h, n, &pos, &port, &port_len)) < 0 ||
	    (r = field(h, n, &pos, &tmo, &tmo_len)) < 0)
		return r;
	if (tmo + tmo_len != h + n || net_parse_u32(port, port_len, 65535, &portv) < 0 ||
	    net_parse_u32(tmo, tmo_len, NET_TIMEOUT_MAX_MS, &tmov) < 0)
		return -EINVAL;
	r = net_req_new(host, (const char *)node, node_len, portv, tmov, out);
	if (r < 0)
		return r;
	(*out)->out = arg + body;
	(*out)->out_len = len - body;
	return 0;
}

int net_request(bk_task *task, const bk_host_api *host, void *state)
{
	(void)state;
	size_t len = 0, cap = 0;
	const uint8_t *arg = host->arg(task, &len);
	struct net_req *rq;
	int r = parse_request(host, arg, len, &rq);
	if (r < 0)
		return r;
	rq->buf = host->result(task, &cap);
	rq->cap = cap;
	rq->half_close = true;
	rq->finish = request_finish;
	r = net_req_start(task, rq);
	if (r < 0) {
		net_req_free(rq);
		return r;
	}
	return BK_TASK_PENDING;
}

static int net_init(const bk_host_api *host, void **state)
{
	*state = NULL;
	if (!BK_HOST_HAS(host, arg) || !BK_HOST_HAS(host, result) || !BK_HOST_HAS(host, complete) ||
	    !BK_HOST_HAS(host, close) || !BK_HOST_HAS(host, socket) || !BK_HOST_HAS(host, connect) ||
	    !BK_HOST_HAS(host, send) || !BK_HOST_HAS(host, recv) || !BK_HOST_HAS(host, shutdown) ||
	    !BK_HOST_HAS(host, link_timeout) || !BK_HOST_HAS(host, resolve) || !BK_HOST_HAS(host, call))
		return -EPROTO;
	return 0;
}

static const bk_function_desc net_functions[] = {
	{ .name = "request", .handler = net_request },
	{ .name = "http_get", .handler = net_http_get },
	{ .name = "fanout", .handler = net_fanout },
};

static const bk_module_desc net_desc = {
	.size = sizeof(bk_module_desc),
	.abi_version = BK_MODULE_ABI_VERSION,
	.name = "net",
	.version = "1.0.0",
	.functions = net_functions,
	.nfunctions = sizeof(net_functions) / sizeof(net_functions[0]),
	.init = net_init,
};

const bk_module_desc *BK_MODULE_ENTRY(void)
{
	return &net_desc;
}
