// SPDX-License-Identifier: MIT
/*
 * base_zmq.c - ZeroMQ REQ/REP over ipc://, what many users would pick
 * instead of the broker.  Built only when libzmq is found (BK_HAVE_ZMQ).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "baselines.h"
#include "util.h"

#ifndef BK_HAVE_ZMQ
int bk_base_zmq_rtt(const struct bk_rtt_cfg *cfg, struct bk_hist *h)
{
	(void)cfg;
	(void)h;
	return -ENOTSUP;
}
#else
#include <zmq.h>

struct ctx {
	void *sock;
};

static int rt(void *arg, uint64_t seq)
{
	struct ctx *c = arg;
	uint64_t m[2] = { seq, 1 };
	if (zmq_send(c->sock, m, sizeof(m), 0) != (int)sizeof(m))
		return -zmq_errno();
	int n = zmq_recv(c->sock, m, sizeof(m), 0);
	if (n != (int)sizeof(m))
		return n < 0 ? -zmq_errno() : -EIO;
	return m[0] == seq ? 0 : -EPROTO;
}

/* REP server: echo every message; an empty one means stop (after replying). */
static void server(const char *endpoint)
{
	void *zc = zmq_ctx_new();
	void *s = zc ? zmq_socket(zc, ZMQ_REP) : NULL;
	if (!s || zmq_bind(s, endpoint) != 0)
		_exit(2);
	char buf[64];
	for (;;) {
		int n = zmq_recv(s, buf, sizeof(buf), 0);
		if (n < 0) {
			if (zmq_errno() == EINTR)
				continue;
			_exit(3);
		}
		if (zmq_send(s, buf, (size_t)n, 0) != n)
			_exit(4);
		if (n == 0)
			break;
	}
	zmq_close(s);
	zmq_ctx_term(zc);
	_exit(0);
}

int bk_base_zmq_rtt(const struct bk_rtt_cfg *cfg, struct bk_hist *h)
{
	char dir[] = "/tmp/bk-bench-zmq.XXXXXX";
	if (!mkdtemp(dir))
		return -errno;
	char endpoint[128], path[96];
	snprintf(path, sizeof(path), "%s/rep.sock", dir);
	snprintf(endpoint, sizeof(endpoint), "ipc://%s", path);
	pid_t pid = bk_fork_child();
	if (pid == 0)
		server(endpoint);
	if (pid < 0) {
		rmdir(dir);
		return pid;
	}
	int r = 0;
	void *zc = zmq_ctx_new();
	void *s = zc ? zmq_socket(zc, ZMQ_REQ) : NULL;
	int linger = 0, tmo = 5000;
	/* A REQ socket connects lazily and queues until the server binds; the
	 * timeouts keep a dead server from hanging the bench. */
	if (!s || zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
	    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof(tmo)) != 0 ||
	    zmq_setsockopt(s, ZMQ_SNDTIMEO, &tmo, sizeof(tmo)) != 0 || zmq_connect(s, endpoint) != 0) {
		r = -EIO;
	} else {
		struct ctx c = { s };
		r = bk_measure_rtt(rt, &c, cfg, h);
		if (r == 0) {
			char b[8];
			if (zmq_send(s, "", 0, 0) != 0 || zmq_recv(s, b, sizeof(b), 0) != 0)
				r = -EIO;
		}
	}
	if (s)
		zmq_close(s);
	if (zc)
		zmq_ctx_term(zc);
	int st = bk_reap(pid, 3000);
	if (r == 0 && (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0))
		r = -ECHILD;
	unlink(path);
	rmdir(dir);
	return r;
}
#endif
