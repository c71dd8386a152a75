// SPDX-License-Identifier: MIT
/*
 * net_impl.h - what the net module's files share (net.c, net_http.c,
 * net_fanout.c): one request's state and the engine that runs it through
 * host operations (connect, send, read until the peer closes or the buffer
 * is full, close).
 */
#ifndef BK_NET_IMPL_H
#define BK_NET_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bk_mod.h"

#define NET_NODE_MAX 255u
#define NET_TIMEOUT_MAX_MS 3600000u /* an hour */
#define NET_ADDRS 4u /* addresses of a name tried in turn (localhost: ::1, then 127.0.0.1) */

struct net_req;
/* The request ended (status 0 or -errno, rq->got bytes in rq->buf): complete the task and free rq. */
typedef void (*net_finish_fn)(bk_task *task, struct net_req *rq);

struct net_req {
	const bk_host_api *host;
	net_finish_fn finish;
	int fd;
	int status;
	bool half_close; /* shutdown(SHUT_WR) after sending: the peer sees the end of the request */
	int64_t deadline_ns; /* CLOCK_MONOTONIC; 0: none */
	const uint8_t *out; /* bytes to send (the task's argument, or owned) */
	size_t out_len, sent;
	uint8_t *owned; /* malloc'd bytes to send, freed with rq */
	uint8_t *buf; /* where the answer goes (the task's result buffer) */
	size_t cap, got;
	bk_addr addr[NET_ADDRS];
	uint32_t naddr, cur; /* addresses resolved (0: not yet), the one being tried */
	char node[NET_NODE_MAX + 1];
	char port[8];
};

/* Monotonic nanoseconds (vDSO: no syscall). */
int64_t net_now_ns(void);
/* Decimal digits p[0..n) into *out, at most max; -EINVAL otherwise (no sign, no empty, no overflow). */
int net_parse_u32(const uint8_t *p, size_t n, uint32_t max, uint32_t *out);
/* A new request for node/port (node: printable, no space; port: 1-65535), with timeout_ms (0: none). */
int net_req_new(const bk_host_api *host, const char *node, size_t node_len, uint32_t port, uint32_t timeout_ms,
		struct net_req **out);
/* Run rq: resolve if needed, connect, send, read, close, then rq->finish.  0, or -errno (rq not freed). */
int net_req_start(bk_task *task, struct net_req *rq);
/* Free rq and what it owns. */
void net_req_free(struct net_req *rq);

/* Handlers of the other files. */
int net_http_get(bk_task *task, const bk_host_api *host, void *state);
int net_fanout(bk_task *task, const bk_host_api *host, void *state);
int net_request(bk_task *task, const bk_host_api *host, void *state);

#endif /* BK_NET_IMPL_H */
