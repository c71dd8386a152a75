// SPDX-License-Identifier: MIT
/*
 * echo_server.c - the loopback server of echo_server.h.  One thread, one
 * epoll set, level-triggered; a connection whose echo cannot be written at
 * once keeps the rest and stops reading until the socket is writable again.
 */
#include "echo_server.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define ECHO_BUF 65536u

struct econn {
	struct econn *next, *prev; /* every open connection, freed at stop */
	int fd;
	bool eof; /* the peer half-closed: close once everything is sent */
	size_t pend_off, pend_len;
	char buf[ECHO_BUF];
};

static int listen_loopback(uint16_t *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4096) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

static void conn_close(struct bkt_echo *e, struct econn *c)
{
	epoll_ctl(e->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		e->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
	atomic_fetch_sub_explicit(&e->open, 1, memory_order_relaxed);
}

static void accept_all(struct bkt_echo *e)
{
	for (;;) {
		int fd = accept4(e->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct econn *c = malloc(sizeof(*c));
		struct epoll_event ev = {.events = e->mode == BKT_ECHO ? EPOLLIN : EPOLLRDHUP, .data.ptr = c};
		if (!c || (c->fd = fd, c->eof = false, c->pend_off = c->pend_len = 0,
			   epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)) {
			free(c);
			close(fd);
			continue;
		}
		c->prev = NULL;
		c->next = e->conns;
		if (c->next)
			c->next->prev = c;
		e->conns = c;
		atomic_fetch_add_explicit(&e->open, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&e->accepted, 1, memory_order_relaxed);
	}
}

/* Write what is pending; false when the connection is finished (closed). */
static bool flush(struct bkt_echo *e, struct econn *c)
{
	while (c->pend_len) {
		ssize_t n = send(c->fd, c->buf + c->pend_off, c->pend_len, MSG_NOSIGNAL);
		if (n < 0 && errno == EAGAIN) {
			struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
			epoll_ctl(e->epfd, EPOLL_CTL_MOD, c->fd, &ev);
			return true;
		}
		if (n <= 0) {
			conn_close(e, c);
			return false;
		}
		c->pend_off += (size_t)n;
		c->pend_len -= (size_t)n;
	}
	if (c->eof) {
		conn_close(e, c);
		return false;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
	epoll_ctl(e->epfd, EPOLL_CTL_MOD, c->fd, &ev);
	return true;
}

static void serve(struct bkt_echo *e, struct econn *c, uint32_t events)
{
	if (e->mode == BKT_SILENT) {
		/* Half-closed or gone, which a silent server cannot tell apart: hold the socket, stop watching. */
		(void)events;
		epoll_ctl(e->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		return;
	}
	if (c->pend_len) {
		flush(e, c);
		return;
	}
	ssize_t n = recv(c->fd, c->buf, sizeof(c->buf), 0);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		if (n < 0) {
			conn_close(e, c);
			return;
		}
		c->eof = true;
	}
	c->pend_off = 0;
	c->pend_len = n > 0 ? (size_t)n : 0;
	flush(e, c);
}

static void *echo_main(void *arg)
{
	struct bkt_echo *e = arg;
	struct epoll_event evs[64];
	for (;;) {
		int n = epoll_wait(e->epfd, evs, 64, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return NULL;
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == &e->stopfd)
				return NULL;
			if (evs[i].data.ptr == &e->lfd)
				accept_all(e);
			else
				serve(e, evs[i].data.ptr, evs[i].events);
		}
	}
}

int bkt_echo_start(struct bkt_echo *e, enum bkt_echo_mode mode)
{
	memset(e, 0, sizeof(*e));
	e->mode = mode;
	e->lfd = listen_loopback(&e->port);
	if (e->lfd < 0)
		return e->lfd;
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	e->stopfd = eventfd(0, EFD_CLOEXEC);
	struct epoll_event l = {.events = EPOLLIN, .data.ptr = &e->lfd};
	struct epoll_event s = {.events = EPOLLIN, .data.ptr = &e->stopfd};
	int r = 0;
	if (e->epfd < 0 || e->stopfd < 0 || epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->lfd, &l) < 0 ||
	    epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->stopfd, &s) < 0)
		r = -errno;
	if (r == 0)
		r = -pthread_create(&e->thread, NULL, echo_main, e);
	if (r < 0) {
		close(e->lfd);
		if (e->epfd >= 0)
			close(e->epfd);
		if (e->stopfd >= 0)
			close(e->stopfd);
		return r;
	}
	return 0;
}

void bkt_echo_stop(struct bkt_echo *e)
{
	uint64_t one = 1;
	if (write(e->stopfd, &one, sizeof(one)) != sizeof(one))
		abort(); /* the thread would never stop */
	pthread_join(e->thread, NULL);
	while (e->conns)
		conn_close(e, e->conns);
	close(e->lfd);
	close(e->epfd);
	close(e->stopfd);
}
