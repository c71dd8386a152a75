// SPDX-License-Identifier: MIT
/*
 * admit.c - accept, count and time out new connections (admit.h).
 */
#include "admit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include "broker/errors.h"
#include "conn.h"
#include "creds.h"
#include "uid_limits.h"
#include "log.h"

#define ACCEPT_PAUSE_NS 100000000LL /* 100 ms without accepting when not even the spare descriptor is left */
#define NS_PER_MS 1000000LL

static int raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if (rl.rlim_cur == rl.rlim_max)
		return 0;
	rl.rlim_cur = rl.rlim_max;
	return setrlimit(RLIMIT_NOFILE, &rl) < 0 ? -errno : 0;
}

int bkd_admit_init(struct bkd_broker *b)
{
	int r = raise_nofile();
	if (r < 0)
		bkd_warn("cannot raise RLIMIT_NOFILE to its hard limit: %s", strerror(-r));
	struct bkd_limits_cfg cfg = {
		.max_conns = b->opt.max_conns_per_uid,
		.max_slots = b->opt.max_inflight_per_uid,
		.max_region_bytes = b->opt.max_region_bytes_per_uid,
	};
	r = bkd_limits_create(&cfg, geteuid(), &b->limits);
	if (r < 0)
		return r;
	b->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return b->spare_fd < 0 ? -errno : 0;
}

void bkd_admit_fini(struct bkd_broker *b)
{
	if (b->spare_fd >= 0)
		close(b->spare_fd);
	b->spare_fd = -1;
	bkd_limits_destroy(b->limits);
	b->limits = NULL;
}

/* A connection closed at once (c NULL: not even its credentials were read): a line a second at most, so a flood
 * cannot fill the log. */
static void log_drop(struct bkd_broker *b, const char *why, const struct bkd_conn *c)
{
	int64_t now = bk_now_ns();
	if (now - b->drops_logged_ns < 1000 * NS_PER_MS) {
		b->drops_unlogged++;
		return;
	}
	char who[48] = "a connection";
	if (c)
		snprintf(who, sizeof(who), "connection of uid %u pid %d", (unsigned)c->cred.uid, (int)c->cred.pid);
	bkd_warn("%s closed at once: %s (%llu more since the last such line)", who, why,
		 (unsigned long long)b->drops_unlogged);
	b->drops_logged_ns = now;
	b->drops_unlogged = 0;
}

/* Stop polling the listener for ACCEPT_PAUSE_NS: a listener that stays readable must not spin the control loop
 * (nor fill the log: at most a line a second, with the count of those left out). */
static int pause_accepting(struct bkd_broker *b, const char *why)
{
	static struct bkd_ratelimit rl;
	b->accept_paused_until = bk_now_ns() + ACCEPT_PAUSE_NS;
	uint64_t n = 0;
	if (bkd_ratelimit_take(&rl, bk_now_ns(), 1, 1000 * NS_PER_MS, &n))
		bkd_warn("%s: not accepting for %lld ms (%llu suppressed)", why, ACCEPT_PAUSE_NS / NS_PER_MS,
			 (unsigned long long)n);
	return -EMFILE;
}

/*
 * accept failed with EMFILE/ENFILE: give the spare up to take the connection
 * off the queue and close it.  1 when one was dropped (try the queue again),
 * 0 when nothing was queued (EMFILE comes before the queue is looked at, so
 * with the last descriptor in use every accept fails: looping on it would
 * spin), -EMFILE when even the spare is gone: accepting pauses.
 */
static int drop_with_spare(struct bkd_broker *b)
{
	int dropped = 0;
	if (b->spare_fd >= 0) {
		close(b->spare_fd);
		b->spare_fd = -1;
		int fd = accept4(b->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0) {
			log_drop(b, "out of file descriptors", NULL);
			close(fd);
			dropped = 1;
		}
		b->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	if (b->spare_fd >= 0)
		return dropped;
	return pause_accepting(b, "out of file descriptors");
}

static bool low_on_fds(int fd)
{
	/* Descriptors are handed out lowest first: fd N means 0..N-1 are all taken. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return false;
	return (rlim_t)fd + BKD_ADMIT_FD_RESERVE >= rl.rlim_cur;
}

static void hs_append(struct bkd_broker *b, struct bkd_conn *c)
{
	c->hs_deadline_ns = bk_now_ns() + (int64_t)b->opt.handshake_timeout_ms * NS_PER_MS;
	c->hs_next = NULL;
	c->hs_prev = b->hs_tail;
	if (b->hs_tail)
		b->hs_tail->hs_next = c;
	else
		b->hs_head = c;
	b->hs_tail = c;
	c->hs_listed = true;
}

/* Count c; false when it is to be closed at once. */
static bool count_new(struct bkd_broker *b, struct bkd_conn *c, int fd)
{
	if (low_on_fds(fd)) {
		if (b->low_fd_conns >= BKD_ADMIT_LOW_FD_CONNS) {
			log_drop(b, "low on file descriptors", c);
			return false;
		}
		b->low_fd_conns++;
		c->low_fds = true;
		return true;
	}
	switch (bkd_limits_conn_add(b->limits, c->cred.uid)) {
	case BKD_LIMITS_COUNTED:
		c->counted = true;
		return true;
	case BKD_LIMITS_OVER:
		c->refusing_counted = true;
		return true;
	default:
		log_drop(b, "over --max-conns-per-uid", c);
		return false;
	}
}

int bkd_admit_accept(struct bkd_broker *b, struct bkd_conn **out)
{
	for (;;) {
		if (b->accept_paused_until)
			return 0;
		int fd = accept4(b->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE) {
				int d = drop_with_spare(b);
				if (d < 0)
					return -EMFILE;
				if (d == 0)
					return 0;
				continue;
			}
			if (errno == EAGAIN)
				return 0;
			return pause_accepting(b, strerror(errno)); /* ENOBUFS, ENOMEM...: would fail again at once */
		}
		struct bkd_conn *c = bkd_conn_new(b, fd);
		if (!c) {
			close(fd);
			continue;
		}
		if (!count_new(b, c, fd)) {
			bkd_conn_free(c);
			continue;
		}
		hs_append(b, c);
		*out = c;
		return 1;
	}
}

int bkd_admit_refusal(struct bkd_broker *b, const struct bkd_conn *c, char *why, size_t len)
{
	if (c->low_fds) {
		snprintf(why, len, "brokerd is out of file descriptors (RLIMIT_NOFILE); try again later");
		return BK_EREFUSED;
	}
	if (c->refusing_counted) {
		bkd_limits_conn_reason(b->limits, c->cred.uid, why, len);
		return BK_EREFUSED;
	}
	return 0;
}

static void hs_unlink(struct bkd_broker *b, struct bkd_conn *c)
{
	if (!c->hs_listed)
		return;
	if (c->hs_prev)
		c->hs_prev->hs_next = c->hs_next;
	else
		b->hs_head = c->hs_next;
	if (c->hs_next)
		c->hs_next->hs_prev = c->hs_prev;
	else
		b->hs_tail = c->hs_prev;
	c->hs_listed = false;
}

void bkd_admit_hello_done(struct bkd_broker *b, struct bkd_conn *c)
{
	hs_unlink(b, c);
}

void bkd_admit_release(struct bkd_broker *b, struct bkd_conn *c)
{
	hs_unlink(b, c);
	if (c->counted)
		bkd_limits_conn_del(b->limits, c->cred.uid);
	if (c->refusing_counted)
		bkd_limits_refusing_del(b->limits, c->cred.uid);
	if (c->low_fds)
		b->low_fd_conns--;
	if (c->reserved_slots || c->reserved_bytes)
		bkd_limits_unreserve(b->limits, c->cred.uid, c->reserved_slots, c->reserved_bytes);
	c->counted = c->refusing_counted = c->low_fds = false;
	c->reserved_slots = 0;
	c->reserved_bytes = 0;
}

int bkd_admit_timeout_ms(struct bkd_broker *b, int64_t now)
{
	int64_t next = b->hs_head ? b->hs_head->hs_deadline_ns : 0;
	if (b->accept_paused_until && (!next || b->accept_paused_until < next))
		next = b->accept_paused_until;
	if (!next)
		return -1;
	int64_t ms = (next - now + NS_PER_MS - 1) / NS_PER_MS;
	return ms < 0 ? 0 : ms > 60000 ? 60000 : (int)ms;
}

bool bkd_admit_resume_due(struct bkd_broker *b, int64_t now)
{
	if (!b->accept_paused_until || now < b->accept_paused_until)
		return false;
	b->accept_paused_until = 0;
	if (b->spare_fd < 0)
		b->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return true;
}

struct bkd_conn *bkd_admit_expired(struct bkd_broker *b, int64_t now)
{
	struct bkd_conn *c = b->hs_head;
	if (!c || c->hs_deadline_ns > now)
		return NULL;
	hs_unlink(b, c);
	bkd_warn("conn %u (pid %d uid %u): no HELLO within %u ms; dropped", c->id, (int)c->cred.pid,
		 (unsigned)c->cred.uid, b->opt.handshake_timeout_ms);
	return c;
}
