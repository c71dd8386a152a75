/*
 * wire_io.c - datagrams on the control socket: connect, send with fds,
 * receive with a deadline, check headers.  Shared by libbkclient and
 * brokerctl; every receive is bounded so a silent peer cannot hang us.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client_internal.h"

int64_t bkc_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int bkc_default_socket_path(char *buf, size_t len)
{
	const char *env = getenv("BROKER_SOCKET");
	int n;
	if (env && *env)
		n = snprintf(buf, len, "%s", env);
	else if ((env = getenv("XDG_RUNTIME_DIR")) && *env)
		n = snprintf(buf, len, "%s/broker.sock", env);
	else
		n = snprintf(buf, len, "/run/broker/broker.sock");
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

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
	struct timeval tv = {.tv_sec = BK_REPLY_TIMEOUT_MS / 1000};
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
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * 4)];
	} u;
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	if (nfds > 0) {
		if (nfds > 4)
			return -EINVAL;
		memset(&u, 0, sizeof(u));
		m.msg_control = u.b;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	}
	for (;;) {
		ssize_t r = sendmsg(fd, &m, MSG_NOSIGNAL);
		if (r >= 0)
			return r == (ssize_t)len ? 0 : -EMSGSIZE;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return -ETIMEDOUT;
		return -errno;
	}
}

int bkc_recv(int fd, void *buf, size_t cap, int *fds, int *nfds, int timeout_ms)
{
	int want = nfds ? *nfds : 0;
	if (nfds)
		*nfds = 0;
	int64_t deadline = bkc_now_ns() + (int64_t)timeout_ms * 1000000LL;
	for (;;) {
		int64_t left = deadline - bkc_now_ns();
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
		struct iovec iov = {.iov_base = buf, .iov_len = cap};
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int) * 8)];
		} u;
		struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof(u.b)};
		ssize_t r = recvmsg(fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		/* Take every fd that came, so none leaks, and keep those asked for. */
		int got = 0;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k; i++) {
				int rfd;
				memcpy(&rfd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				if (got < want)
					fds[got++] = rfd;
				else
					close(rfd);
			}
		}
		if (nfds)
			*nfds = got;
		if (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
			for (int i = 0; i < got; i++)
				close(fds[i]);
			if (nfds)
				*nfds = 0;
			return -EMSGSIZE;
		}
		return (int)r;
	}
}

bool bkc_hdr_ok(const struct bk_msg_hdr *h, size_t n, uint16_t type, size_t min_len)
{
	return n >= sizeof(*h) && n >= min_len && h->magic == BK_WIRE_MAGIC && h->type == type && h->len == n;
}
