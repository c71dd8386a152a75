// SPDX-License-Identifier: MIT
/*
 * control.c - the control thread's event loop (in the spirit of Redis's
 * ae.c: one epoll, callbacks by source).  Accepts connections, reads control
 * messages, starts and finishes connection teardown, and runs the shutdown
 * sequence: stop accepting, mark regions DRAINING, BYE to every client, let
 * in-flight tasks finish within --grace-ms, cancel the rest, stop.
 *
 * No timer runs while idle: epoll_wait blocks without timeout except during
 * shutdown, while a connection has yet to send its HELLO (the handshake
 * deadline, admit.c) and while accepting is paused for want of descriptors.
 */
#include "control.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "admit.h"
#include "cluster.h"
#include "conn.h"
#include "log.h"
#include "offload.h"
#include "requests.h"
#include "service.h"
#include "broker/sys.h"
#include "worker.h"

#define MAX_EVENTS 64
#define MSGS_PER_EVENT 32 /* per wake-up and connection, so one chatty client cannot starve the loop */
#define CANCEL_WAIT_NS (3LL * 1000000000LL)
#define SHUTDOWN_POLL_MS 5
/* Control requests per connection: a burst of REQ_BURST, then one per REQ_PERIOD_NS; a connection over it is
 * not read for REQ_PAUSE_NS (docs/ARCHITECTURE.md, "Hostile clients").  brokerctl needs a handful. */
#define REQ_BURST 64u
#define REQ_PERIOD_NS 1000000LL
#define REQ_PAUSE_NS (16 * REQ_PERIOD_NS)

static char tag_listen, tag_signal, tag_inbox;
static _Alignas(8) uint8_t rx_buf[BK_WIRE_MAX_MSG];

static int ep_add(struct bkd_broker *b, int fd, void *ptr, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };
	return epoll_ctl(b->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int bkd_control_init(struct bkd_broker *b)
{
	b->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (b->epfd < 0)
		return -errno;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP); /* module rescan (service.h) */
	b->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (b->sig_fd < 0)
		return -errno;
	int r;
	if ((r = ep_add(b, b->ctl_inbox.efd, &tag_inbox, EPOLLIN)) < 0 || (r = ep_add(b, b->sig_fd, &tag_signal, EPOLLIN)) < 0 ||
	    (r = ep_add(b, b->listen_fd, &tag_listen, EPOLLIN)) < 0)
		return r;
	return 0;
}

/* ---- connection list ------------------------------------------------------ */

static void list_add(struct bkd_broker *b, struct bkd_conn *c)
{
	c->next = NULL;
	c->prev = b->conns_tail;
	if (b->conns_tail)
		b->conns_tail->next = c;
	else
		b->conns_head = c;
	b->conns_tail = c;
	atomic_fetch_add_explicit(&b->stats.connections, 1, memory_order_relaxed);
}

static void list_del(struct bkd_broker *b, struct bkd_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		b->conns_head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		b->conns_tail = c->prev;
	atomic_fetch_sub_explicit(&b->stats.connections, 1, memory_order_relaxed);
}

/* ---- request rate ------------------------------------------------------------- */

static void conn_interest(struct bkd_broker *b, struct bkd_conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };
	if (c->in_epoll && epoll_ctl(b->epfd, EPOLL_CTL_MOD, c->sock, &ev) < 0)
		bkd_err("epoll_ctl MOD: %s", strerror(errno));
}

static void thr_unlink(struct bkd_broker *b, struct bkd_conn *c)
{
	if (!c->throttled)
		return;
	if (c->thr_prev)
		c->thr_prev->thr_next = c->thr_next;
	else
		b->thr_head = c->thr_next;
	if (c->thr_next)
		c->thr_next->thr_prev = c->thr_prev;
	c->throttled = false;
}

/* c went over its request rate: only hang-ups are reported until its pause is over. */
static void throttle(struct bkd_broker *b, struct bkd_conn *c, int64_t now)
{
	c->throttled = true;
	c->thr_until_ns = now + REQ_PAUSE_NS;
	c->thr_prev = NULL;
	c->thr_next = b->thr_head;
	if (b->thr_head)
		b->thr_head->thr_prev = c;
	b->thr_head = c;
	conn_interest(b, c, EPOLLRDHUP);
}

/* Read throttled connections again whose pause is over; the ms until the next one ends (-1: none). */
static int throttle_timers(struct bkd_broker *b, int64_t now)
{
	int64_t next = -1;
	for (struct bkd_conn *c = b->thr_head, *n; c; c = n) {
		n = c->thr_next;
		if (now >= c->thr_until_ns) {
			thr_unlink(b, c);
			conn_interest(b, c, EPOLLIN | EPOLLRDHUP);
		} else if (next < 0 || c->thr_until_ns - now < next) {
			next = c->thr_until_ns - now;
		}
	}
	return next < 0 ? -1 : (int)((next + 999999) / 1000000);
}

/* Gone from every count, list and descriptor. */
static void conn_destroy(struct bkd_broker *b, struct bkd_conn *c)
{
	thr_unlink(b, c);
	bkd_stats_fds_changed();
	list_del(b, c);
	bkd_admit_release(b, c);
	bkd_conn_free(c);
}

static void sock_close(struct bkd_broker *b, struct bkd_conn *c)
{
	thr_unlink(b, c);
	/* At teardown the epoll instance is already closed (bkd_broker_fini): closing the socket is enough. */
	if (c->in_epoll && b->epfd >= 0) {
		if (epoll_ctl(b->epfd, EPOLL_CTL_DEL, c->sock, NULL) < 0)
			bkd_err("epoll_ctl DEL: %s", strerror(errno));
	}
	c->in_epoll = false;
	if (c->sock >= 0) {
		close(c->sock);
		c->sock = -1;
	}
}

/*
 * The client hung up or must be dropped.  Without a region the connection
 * goes at once; otherwise its worker cancels and drains it and hands it back
 * (BKD_IN_CONN_DONE), and only then are the region and fds released.
 */
static void conn_teardown(struct bkd_broker *b, struct bkd_conn *c)
{
	switch (c->state) {
	case BKD_CONN_NEW:
	case BKD_CONN_CONTROL:
		sock_close(b, c);
		conn_destroy(b, c);
		break;
	case BKD_CONN_ACTIVE:
		sock_close(b, c);
		c->state = BKD_CONN_TEARDOWN;
		atomic_store_explicit(&c->region.v.hdr->broker_state, BK_BROKER_GONE, memory_order_release);
		/* A worker that handed c on meanwhile forwards the item to the new owner (worker.c). */
		bkd_inbox_post(&bkd_conn_worker(c)->inbox, &c->teardown_item, BKD_IN_TEARDOWN, c);
		break;
	case BKD_CONN_TEARDOWN:
		break;
	}
}

/* Whether epoll reports the listener: off while accepting is paused for want of descriptors (admit.h). */
static void listener_interest(struct bkd_broker *b, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = &tag_listen };
	if (b->listen_fd >= 0 && epoll_ctl(b->epfd, EPOLL_CTL_MOD, b->listen_fd, &ev) < 0)
		bkd_err("epoll_ctl MOD listener: %s", strerror(errno));
}

static void accept_all(struct bkd_broker *b)
{
	struct bkd_conn *c;
	int r;
	while ((r = bkd_admit_accept(b, &c)) == 1) {
		atomic_fetch_add_explicit(&b->stats.connections_total, 1, memory_order_relaxed);
		list_add(b, c);
		if (ep_add(b, c->sock, c, EPOLLIN | EPOLLRDHUP) < 0) {
			bkd_err("epoll_ctl ADD: %s", strerror(errno));
			conn_teardown(b, c);
			continue;
		}
		c->in_epoll = true;
		if (atomic_load_explicit(&b->draining, memory_order_relaxed))
			bkd_request_send_bye(c);
		bkd_stats_fds_changed();
	}
	if (r == -EMFILE)
		listener_interest(b, 0);
}

/* Handshake deadlines and the end of an accept pause (admit.h). */
static void admit_timers(struct bkd_broker *b, int64_t now)
{
	struct bkd_conn *c;
	while ((c = bkd_admit_expired(b, now)))
		conn_teardown(b, c);
	if (bkd_admit_resume_due(b, now))
		listener_interest(b, EPOLLIN);
}

/* Read up to MSGS_PER_EVENT datagrams.  Returns false when the connection must go. */
static bool conn_read(struct bkd_broker *b, struct bkd_conn *c)
{
	for (int i = 0; i < MSGS_PER_EVENT; i++) {
		int fds[4];
		int nfds = 0;
		ssize_t n = bk_recv_fds(c->sock, rx_buf, sizeof(rx_buf), fds, 4, &nfds);
		if (n == -EAGAIN)
			return true;
		if (n == -EMSGSIZE) {
			/* bk_recv_fds closed every descriptor that came with it. */
			bkd_warn_limited(&bkd_drops_rl, "conn %u (pid %d): oversized message or too many descriptors; "
					 "disconnecting", c->id, (int)c->cred.pid);
			atomic_fetch_add_explicit(&b->stats.violations, 1, memory_order_relaxed);
			return false;
		}
		if (n <= 0)
			return false; /* orderly hang-up (0) or a socket error */
		if (bkd_request_handle(b, c, rx_buf, (size_t)n, fds, nfds) < 0)
			return false;
		if (c->state == BKD_CONN_TEARDOWN)
			return true;
		int64_t now = bk_now_ns();
		if (!bkd_ratelimit_take(&c->req_rl, now, REQ_BURST, REQ_PERIOD_NS, NULL)) {
			throttle(b, c, now);
			return true;
		}
	}
	return true;
}

static void conn_event(struct bkd_broker *b, struct bkd_conn *c, uint32_t ev)
{
	bool keep = true;
	if (ev & EPOLLIN)
		keep = conn_read(b, c);
	if (keep && (ev & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)))
		keep = false;
	if (!keep)
		conn_teardown(b, c);
}

static void inbox(struct bkd_broker *b)
{
	bkd_inbox_ack(&b->ctl_inbox);
	struct bkd_inbox_item *it = bkd_inbox_take(&b->ctl_inbox);
	while (it) {
		struct bkd_inbox_item *next = it->next;
		struct bkd_conn *c = it->ptr;
		if (it->type == BKD_IN_CONN_DROP) {
			conn_teardown(b, c);
		} else if (it->type == BKD_IN_CONN_DONE) {
			conn_destroy(b, c);
		}
		it = next;
	}
	if (atomic_exchange_explicit(&b->collect_needed, false, memory_order_acq_rel)) {
		int n = bkd_registry_collect(b->reg);
		if (n > 0)
			bkd_info("%d drained module(s) unloaded", n);
	}
}

/* ---- shutdown ------------------------------------------------------------------ */

enum phase { RUNNING, DRAINING, CANCELLING, DONE };

static void begin_shutdown(struct bkd_broker *b)
{
	bkd_info("shutting down: no new connections; %u ms for in-flight tasks", b->opt.grace_ms);
	bkd_service_stopping();
	if (epoll_ctl(b->epfd, EPOLL_CTL_DEL, b->listen_fd, NULL) < 0)
		bkd_err("epoll_ctl DEL listener: %s", strerror(errno));
	close(b->listen_fd);
	b->listen_fd = -1;
	if (unlink(b->opt.socket) < 0 && errno != ENOENT)
		bkd_warn("unlink %s: %s", b->opt.socket, strerror(errno));
	atomic_store_explicit(&b->draining, true, memory_order_relaxed);
	bkd_cluster_drain(b);
	for (unsigned i = 0; i < b->nworkers; i++)
		bkd_inbox_post(&b->workers[i].inbox, &b->workers[i].drain_item, BKD_IN_DRAIN, NULL);
	for (struct bkd_conn *c = b->conns_head; c; c = c->next) {
		if (c->state == BKD_CONN_ACTIVE)
			atomic_store_explicit(&c->region.v.hdr->broker_state, BK_BROKER_DRAINING, memory_order_release);
		if (c->sock >= 0)
			bkd_request_send_bye(c);
	}
}

static void cancel_all(struct bkd_broker *b)
{
	uint64_t n;
	bkd_broker_task_totals(b, NULL, NULL, &n);
	bkd_info("grace period over: cancelling %llu task(s)", (unsigned long long)n);
	bkd_cluster_cancel_all(b);
	for (unsigned i = 0; i < b->nworkers; i++)
		bkd_inbox_post(&b->workers[i].inbox, &b->workers[i].cancel_item, BKD_IN_CANCEL_ALL, NULL);
}

void bkd_control_free_conns(struct bkd_broker *b)
{
	/* The workers are joined: whatever they still owned is ours now, and nothing posts any more. */
	while (bkd_inbox_take(&b->ctl_inbox))
		;
	while (b->conns_head) {
		struct bkd_conn *c = b->conns_head;
		sock_close(b, c);
		conn_destroy(b, c);
	}
}

void bkd_control_fini(struct bkd_broker *b)
{
	if (b->sig_fd >= 0)
		close(b->sig_fd);
	if (b->epfd >= 0)
		close(b->epfd);
	b->sig_fd = b->epfd = -1;
}

int bkd_control_run(struct bkd_broker *b)
{
	enum phase phase = RUNNING;
	int64_t deadline = 0;
	struct epoll_event evs[MAX_EVENTS];
	while (phase != DONE) {
		int64_t t = bk_now_ns();
		int timeout = bkd_admit_timeout_ms(b, t);
		int thr = throttle_timers(b, t);
		if (thr >= 0 && (timeout < 0 || thr < timeout))
			timeout = thr;
		if (phase != RUNNING && (timeout < 0 || timeout > SHUTDOWN_POLL_MS))
			timeout = SHUTDOWN_POLL_MS;
		timeout = bkd_service_tick(b, timeout);
		int n = epoll_wait(b->epfd, evs, MAX_EVENTS, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			bkd_err("epoll_wait: %s", strerror(e));
			return -e;
		}
		bool stop_signal = false;
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &tag_listen) {
				if (phase == RUNNING)
					accept_all(b);
			} else if (p == &tag_signal) {
				struct signalfd_siginfo si;
				while (read(b->sig_fd, &si, sizeof(si)) == sizeof(si)) {
					bkd_info("signal %u received", si.ssi_signo);
					if (si.ssi_signo == SIGHUP) {
						bkd_service_reload(b);
						bkd_cluster_local_changed(b); /* --cluster: what it serves now */
					} else {
						stop_signal = true;
					}
				}
			} else if (p == &tag_inbox) {
				inbox(b);
			} else {
				conn_event(b, p, evs[i].events);
				/* The conn may be freed now; later events cannot name it (epoll DEL came first). */
			}
		}
		int64_t now = bk_now_ns();
		admit_timers(b, now);
		if (stop_signal) {
			if (phase == RUNNING) {
				begin_shutdown(b);
				phase = DRAINING;
				deadline = now + (int64_t)b->opt.grace_ms * 1000000;
			} else if (phase == DRAINING) {
				cancel_all(b); /* a second signal: no more waiting */
				phase = CANCELLING;
				deadline = now + CANCEL_WAIT_NS;
			}
		}
		uint64_t inflight;
		bkd_broker_task_totals(b, NULL, NULL, &inflight);
		if (phase == DRAINING && (inflight == 0 || now >= deadline)) {
			if (inflight == 0) {
				phase = DONE;
			} else {
				cancel_all(b);
				phase = CANCELLING;
				deadline = now + CANCEL_WAIT_NS;
			}
		} else if (phase == CANCELLING && (inflight == 0 || now >= deadline)) {
			phase = DONE;
		}
	}
	return 0;
}
