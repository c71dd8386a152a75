// SPDX-License-Identifier: MIT
/*
 * wire_io.c - datagrams on the control socket: connect, send with fds,
 * receive with a deadline, check headers.  Shared by libbkclient and
 * brokerctl; every receive is bounded so a silent peer cannot hang us.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "broker/sys.h"
#include "client_internal.h"

int bkc_socket_connect(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path '%s' is empty or longer than %zu bytes", path, sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, n + 1);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "socket: %s", strerror(e));
		return -e;
	}
	/* Bounds connect() on a full backlog and every later send. */
	struct timeval tv = {.tv_sec = BKC_REPLY_TIMEOUT_MS / 1000};
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		int e = errno;
		close(fd);
		snprintf(err, errlen, "setsockopt: %s", strerror(e));
		return -e;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		if (e == EPROTOTYPE) {
			snprintf(err, errlen, "%s is not a SOCK_SEQPACKET socket, so not a brokerd", path);
			return BK_ENOTBROKER;
		}
		if (e == EAGAIN)
			e = ETIMEDOUT;
		snprintf(err, errlen, "connect %s: %s", path, strerror(e));
		return -e;
	}
	return fd;
}

int bkc_send(int fd, const void *buf, size_t len, const int *fds, int nfds)
{
	ssize_t r = bk_send_fds(fd, buf, len, fds, nfds);
	if (r == -EAGAIN)
		return -ETIMEDOUT; /* SO_SNDTIMEO expired: the broker does not read */
	if (r < 0)
		return (int)r;
	return r == (ssize_t)len ? 0 : -EMSGSIZE;
}

int bkc_recv(int fd, void *buf, size_t cap, int *fds, int *nfds, int timeout_ms)
{
	int want = nfds ? *nfds : 0;
	if (nfds)
		*nfds = 0;
	int64_t deadline = bk_now_ns() + (int64_t)timeout_ms * 1000000LL;
	for (;;) {
		int64_t left = deadline - bk_now_ns();
		if (left < 0)
			left = 0;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int pr = poll(&p, 1, (int)((left + 999999) / 1000000));
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (pr == 0)
			return -ETIMEDOUT;
		ssize_t r = bk_recv_fds(fd, buf, cap, fds, want, nfds);
		if (r == -EAGAIN)
			continue;
		return (int)r;
	}
}

bool bkc_hdr_ok(const struct bk_msg_hdr *h, size_t n, uint16_t type, size_t min_len)
{
	return n >= sizeof(*h) && n >= min_len && h->magic == BK_WIRE_MAGIC && h->type == type && h->len == n;
}
