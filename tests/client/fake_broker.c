// SPDX-License-Identifier: MIT
/*
 * fake_broker.c - see fake_broker.h.  Single-threaded server: handshake,
 * then a loop that runs the SQ through brokerd's ring engine (conn_rings.h:
 * validated fetch, completions, flush and the wake-ups it asks for) and
 * answers LOOKUP on the socket.  It sleeps in a FUTEX_WAIT on the SQ wake
 * word with a 1 ms bound so stop requests are seen.
 */
#include "fake_broker.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "broker/client.h"
#include "broker/ring.h"
#include "broker/sys.h"
#include "broker/wire.h"
#include "conn_rings.h"
#include "region.h"

static int send_fds(int fd, const void *buf, size_t len, const int *fds, int nfds)
{
	return bk_send_fds(fd, buf, len, fds, nfds) == (ssize_t)len ? 0 : -1;
}

/* Tell the client what the last flush published (the BKD_FLUSH_* bits of conn_rings.h). */
static void issue_wakeups(struct bkd_conn_rings *cr, int bits, int cefd)
{
	if (bits & BKD_FLUSH_WAKE_FUTEX)
		bk_futex_wake(&cr->v.cq_ctl->wake_seq, INT_MAX);
	if ((bits & BKD_FLUSH_NOTIFY_FD) && cefd >= 0) {
		uint64_t one = 1;
		if (write(cefd, &one, sizeof(one)) < 0) {
			/* the client closed its eventfd: nothing to do */
		}
	}
}

static void answer_socket(int cfd)
{
	union {
		struct bk_msg_lookup l;
		char raw[1024];
	} u;
	ssize_t n = recv(cfd, u.raw, sizeof(u.raw), MSG_DONTWAIT);
	if (n < (ssize_t)sizeof(struct bk_msg_hdr) || u.l.h.type != BK_MSG_LOOKUP || n < (ssize_t)sizeof(u.l))
		return;
	u.l.name[sizeof(u.l.name) - 1] = 0;
	struct bk_msg_lookup_reply r = {.h = {.magic = BK_WIRE_MAGIC, .type = BK_MSG_LOOKUP_REPLY, .len = sizeof(r),
					      .seq = u.l.h.seq}};
	if (!strcmp(u.l.name, "echo.echo"))
		r.fn = FAKE_FN_ECHO;
	else if (!strcmp(u.l.name, "test.hold"))
		r.fn = FAKE_FN_HOLD;
	else if (!strcmp(u.l.name, "test.fail"))
		r.fn = FAKE_FN_FAIL;
	else
		r.status = -ENOENT;
	send_fds(cfd, &r, sizeof(r), NULL, 0);
}

/* Run one call the ring engine accepted: the fake's functions (fake_broker.h). */
static void run_call(struct fake_broker *fb, struct bkd_conn_rings *cr, const struct bk_sqe *e)
{
	if (e->op == BK_OP_CANCEL) {
		/* fetch() returns a cancel only for a call in flight: here always a FAKE_FN_HOLD. */
		bkd_conn_rings_complete(cr, e->slot, -ECANCELED, 0);
		return;
	}
	switch (e->fn) {
	case FAKE_FN_HOLD:
		return; /* stays in flight until cancelled */
	case FAKE_FN_FAIL:
		bkd_conn_rings_complete(cr, e->slot, -EIO, 0);
		return;
	case FAKE_FN_ECHO:
		break;
	default:
		bkd_conn_rings_complete(cr, e->slot, -ENOENT, 0);
		return;
	}
	/* The ranges are inside the arena: fetch() checked them. */
	if (e->arg_len > e->res_cap) {
		bkd_conn_rings_complete(cr, e->slot, -ENOBUFS, e->arg_len);
		return;
	}
	memmove(bkd_conn_rings_arena(cr, e->res_off), bkd_conn_rings_arena(cr, e->arg_off), e->arg_len);
	bkd_conn_rings_complete(cr, e->slot, 0, e->arg_len);
	atomic_fetch_add(&fb->served, 1);
}

/*
 * The serving loop: brokerd's own ring engine (broker/conn_rings.c) consumes
 * the SQ and posts completions, so the client is tested against the real
 * broker side of the rings; only the functions and the socket are fake.
 */
static void serve_rings(struct fake_broker *fb, int cfd, int cefd, struct bkd_conn_rings *cr)
{
	struct bk_sqe batch[64];
	while (!atomic_load(&fb->stop) && !atomic_load(&fb->hangup)) {
		struct pollfd pf = {.fd = cfd, .events = POLLIN};
		if (poll(&pf, 1, 0) > 0) {
			if (pf.revents & (POLLHUP | POLLERR))
				break;
			answer_socket(cfd);
		}
		if (!bkd_conn_rings_sq_pending(cr)) {
			uint32_t seq = bkd_conn_rings_sleep_prepare(cr);
			if (!bkd_conn_rings_sq_pending(cr)) {
				/* Bounded, so stop, hang-up and socket requests are seen within 1 ms. */
				struct timespec ts = {0, 1000000};
				bk_futex_wait(&cr->v.sq_ctl->wake_seq, seq, &ts);
			}
			bkd_conn_rings_sleep_finish(cr);
		}
		int n = bkd_conn_rings_fetch(cr, batch, sizeof(batch) / sizeof(batch[0]));
		if (n < 0)
			break;
		for (int i = 0; i < n; i++)
			run_call(fb, cr, &batch[i]);
		int bits = bkd_conn_rings_flush(cr);
		if (bits < 0)
			break;
		issue_wakeups(cr, bits, cefd);
	}
}

static void serve(struct fake_broker *fb, int cfd, int cefd, const struct bk_msg_hello *hello)
{
	struct bkd_region reg;
	struct bkd_region_params p = {.max_large = 64u << 20, .ring_start = UINT32_MAX - 5, .conn_id = 7, .epoch = 1,
				     .features = BK_FEAT_SQ_FUTEX};
	char err[256];
	struct bk_msg_hello_reply rep = {.h = {.magic = BK_WIRE_MAGIC, .type = BK_MSG_HELLO_REPLY, .len = sizeof(rep),
					       .seq = hello->h.seq},
					 .abi_major = BK_ABI_MAJOR, .abi_minor = BK_ABI_MINOR,
					 .layout_hash = BK_LAYOUT_HASH, .features = BK_FEAT_SQ_FUTEX, .conn_id = 7};
	if (bkd_region_create(&hello->geo, &p, &reg, err, sizeof(err)) < 0) {
		rep.status = -EINVAL;
		snprintf(rep.error, sizeof(rep.error), "%.180s", err);
		send_fds(cfd, &rep, sizeof(rep), NULL, 0);
		return;
	}
	struct bkd_conn_rings cr;
	if (bkd_conn_rings_init(&cr, &reg.v, p.ring_start) < 0) {
		rep.status = -ENOMEM;
		snprintf(rep.error, sizeof(rep.error), "fake broker: out of memory");
		send_fds(cfd, &rep, sizeof(rep), NULL, 0);
		bkd_region_destroy(&reg);
		return;
	}
	rep.region_size = reg.v.size;
	send_fds(cfd, &rep, sizeof(rep), &reg.fd, 1);
	atomic_store(&fb->connected, 1);
	serve_rings(fb, cfd, cefd, &cr);
	bkd_conn_rings_fini(&cr);
	bkd_region_destroy(&reg);
}

static void *fake_main(void *arg)
{
	struct fake_broker *fb = arg;
	while (!atomic_load(&fb->stop)) {
		struct pollfd pl = {.fd = fb->lfd, .events = POLLIN};
		if (poll(&pl, 1, 10) <= 0)
			continue;
		int cfd = accept4(fb->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0)
			continue;
		atomic_store(&fb->hangup, 0);
		if (fb->mode == FAKE_SILENT) {
			/* Say nothing until told to stop or the client goes away. */
			while (!atomic_load(&fb->stop)) {
				struct pollfd pf = {.fd = cfd, .events = POLLRDHUP};
				if (poll(&pf, 1, 10) > 0 && (pf.revents & (POLLHUP | POLLRDHUP)))
					break;
			}
			close(cfd);
			continue;
		}
		union {
			struct bk_msg_hello h;
			char raw[4096];
		} u;
		int cefd = -1;
		struct pollfd pf = {.fd = cfd, .events = POLLIN};
		ssize_t n = poll(&pf, 1, 5000) > 0 ? bk_recv_fds(cfd, u.raw, sizeof(u.raw), &cefd, 1, NULL) : -1;
		if (n == (ssize_t)sizeof(u.h) && u.h.h.type == BK_MSG_HELLO) {
			if (fb->mode == FAKE_GARBAGE) {
				const char junk[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
				send_fds(cfd, junk, sizeof(junk), NULL, 0);
			} else if (fb->mode == FAKE_REFUSE || fb->mode == FAKE_BAD_ABI) {
				struct bk_msg_hello_reply rep = {
					.h = {.magic = BK_WIRE_MAGIC, .type = BK_MSG_HELLO_REPLY, .len = sizeof(rep),
					      .seq = u.h.h.seq},
					.status = fb->mode == FAKE_REFUSE ? -EPERM : BK_EVERSION,
					.abi_major = fb->mode == FAKE_REFUSE ? BK_ABI_MAJOR : BK_ABI_MAJOR + 1,
					.layout_hash = BK_LAYOUT_HASH};
				snprintf(rep.error, sizeof(rep.error), "%s",
					 fb->mode == FAKE_REFUSE ? "uid 1234 is not allowed" : "ABI major differs");
				send_fds(cfd, &rep, sizeof(rep), NULL, 0);
			} else {
				serve(fb, cfd, cefd, &u.h);
			}
		}
		if (cefd >= 0)
			close(cefd);
		close(cfd);
		atomic_store(&fb->connected, 0);
	}
	return NULL;
}

int fake_broker_start(struct fake_broker *fb, enum fake_mode mode)
{
	memset(fb, 0, sizeof(*fb));
	fb->mode = mode;
	snprintf(fb->dir, sizeof(fb->dir), "/tmp/bk-fake-XXXXXX");
	if (!mkdtemp(fb->dir))
		return -errno;
	snprintf(fb->path, sizeof(fb->path), "%s/broker.sock", fb->dir);
	fb->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fb->lfd < 0)
		return -errno;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.100s", fb->path);
	if (bind(fb->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fb->lfd, 16) < 0)
		return -errno;
	int r = pthread_create(&fb->thr, NULL, fake_main, fb);
	return -r;
}

void fake_broker_stop(struct fake_broker *fb)
{
	atomic_store(&fb->stop, 1);
	pthread_join(fb->thr, NULL);
	close(fb->lfd);
	unlink(fb->path);
	rmdir(fb->dir);
}
