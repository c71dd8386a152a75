// SPDX-License-Identifier: MIT
/*
 * base_uds.c - request/response over a Unix SOCK_SEQPACKET socket (the
 * transport a typical local RPC would use), and over a pair of pipes.  The
 * server is a forked process answering each 16-byte request with a 16-byte
 * reply, one message per syscall, as a plain RPC server would.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "baselines.h"
#include "util.h"

struct msg {
	uint64_t seq;
	uint64_t fn;
};

/* Answer every request on rfd with the same bytes on wfd until EOF. */
static void echo_server(int rfd, int wfd, int seqpacket)
{
	struct msg m;
	for (;;) {
		ssize_t n = seqpacket ? recv(rfd, &m, sizeof(m), 0) : read(rfd, &m, sizeof(m));
		/* EOF, or a reset when the client closed with replies still unread */
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			_exit(0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(m))
			_exit(2);
		if ((seqpacket ? send(wfd, &m, sizeof(m), MSG_NOSIGNAL) : write(wfd, &m, sizeof(m))) != (ssize_t)sizeof(m))
			_exit(errno == EPIPE || errno == ECONNRESET ? 0 : 3);
	}
}

static int rt(void *arg, uint64_t seq)
{
	struct bk_base_run *c = arg;
	struct msg m = { .seq = seq, .fn = 1 };
	ssize_t n = c->flag ? send(c->wfd, &m, sizeof(m), MSG_NOSIGNAL) : write(c->wfd, &m, sizeof(m));
	if (n != (ssize_t)sizeof(m))
		return n < 0 ? -errno : -EIO;
	do
		n = c->flag ? recv(c->rfd, &m, sizeof(m), 0) : read(c->rfd, &m, sizeof(m));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(m))
		return n < 0 ? -errno : -EIO;
	return m.seq == seq ? 0 : -EPROTO;
}

static int finish(pid_t pid, int r)
{
	int st = bk_reap(pid, 2000);
	if (r == 0 && (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0))
		r = -ECHILD;
	return r;
}

static int uds_close(struct bk_base_run *run, int r)
{
	close(run->wfd);
	if (run->rfd != run->wfd)
		close(run->rfd);
	return finish(run->pid, r);
}

int bk_base_uds_open(int seqpacket, struct bk_base_run *run)
{
	int req[2], rep[2]; /* client writes req[1], server reads req[0]; server writes rep[1], client reads rep[0] */
	if (seqpacket) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, req) != 0)
			return -errno;
		rep[0] = req[1];
		rep[1] = req[0];
	} else {
		if (pipe2(req, O_CLOEXEC) != 0)
			return -errno;
		if (pipe2(rep, O_CLOEXEC) != 0) {
			int e = -errno;
			close(req[0]);
			close(req[1]);
			return e;
		}
	}
	/* For the socket pair rep is req reversed: the client uses req[1] both ways, the server req[0]. */
	pid_t pid = bk_fork_child();
	if (pid == 0) {
		close(req[1]);
		if (!seqpacket)
			close(rep[0]);
		echo_server(req[0], rep[1], seqpacket); /* never returns */
	}
	close(req[0]);
	if (!seqpacket)
		close(rep[1]);
	int crfd = rep[0], cwfd = req[1];
	if (pid < 0) {
		close(cwfd);
		if (crfd != cwfd)
			close(crfd);
		return pid;
	}
	*run = (struct bk_base_run){ .rt = rt, .close = uds_close, .pid = pid, .rfd = crfd, .wfd = cwfd,
				     .flag = seqpacket };
	run->ctx = run;
	return 0;
}

static int measure_alone(int seqpacket, const struct bk_rtt_cfg *cfg, struct bk_hist *h)
{
	struct bk_base_run b;
	int r = bk_base_uds_open(seqpacket, &b);
	if (r < 0)
		return r;
	return b.close(&b, bk_measure_rtt(b.rt, b.ctx, cfg, h));
}

int bk_base_uds_rtt(const struct bk_rtt_cfg *cfg, struct bk_hist *h)
{
	return measure_alone(1, cfg, h);
}

int bk_base_pipe_rtt(const struct bk_rtt_cfg *cfg, struct bk_hist *h)
{
	return measure_alone(0, cfg, h);
}

/*
 * Pipelined: the client keeps `window` requests outstanding.  It must not
 * block in send while the server blocks sending a reply into our full
 * receive queue (the Unix datagram queue holds only net.unix.max_dgram_qlen
 * messages), so the client side is non-blocking and polls when stuck.
 */
int bk_base_uds_tps(unsigned window, double seconds, double *tps)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		return -errno;
	pid_t pid = bk_fork_child();
	if (pid == 0) {
		close(sv[0]);
		echo_server(sv[1], sv[1], 1);
	}
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return pid;
	}
	int fd = sv[0], r = 0;
	if (fcntl(fd, F_SETFL, O_NONBLOCK) != 0) {
		r = -errno;
		goto out;
	}
	uint64_t sent = 0, done = 0, expect = 0;
	int64_t t0 = bk_now_ns(), deadline = t0 + (int64_t)(seconds * 1e9), now = t0;
	while ((now = bk_now_ns()) < deadline) {
		int progress = 0;
		while (sent - done < window) {
			struct msg m = { .seq = sent, .fn = 1 };
			ssize_t n = send(fd, &m, sizeof(m), MSG_NOSIGNAL);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				break;
			if (n != (ssize_t)sizeof(m)) {
				r = n < 0 ? -errno : -EIO;
				goto out;
			}
			sent++;
			progress = 1;
		}
		for (;;) {
			struct msg m;
			ssize_t n = recv(fd, &m, sizeof(m), 0);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				break;
			if (n != (ssize_t)sizeof(m)) {
				r = n < 0 ? -errno : -EIO;
				goto out;
			}
			if (m.seq != expect++) {
				r = -EPROTO;
				goto out;
			}
			done++;
			progress = 1;
		}
		if (!progress) {
			struct pollfd p = { .fd = fd, .events = POLLIN | (sent - done < window ? POLLOUT : 0) };
			if (poll(&p, 1, 1000) < 0 && errno != EINTR) {
				r = -errno;
				goto out;
			}
		}
	}
	*tps = (double)done / ((double)(now - t0) / 1e9);
out:
	close(fd);
	return finish(pid, r);
}
