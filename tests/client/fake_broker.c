/*
 * fake_broker.c - see fake_broker.h.  Single-threaded server: handshake,
 * then a loop that consumes the SQ with the broker-side ring helpers,
 * completes calls (slot words, done_gen, cqe, publish), issues the wake-ups
 * of docs/ARCHITECTURE.md "Wake-ups", and answers LOOKUP on the socket.  It
 * sleeps in a FUTEX_WAIT on the SQ wake word with a 1 ms bound so stop
 * requests are seen.
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
#include "region.h"

static int send_fds(int fd, const void *buf, size_t len, const int *fds, int nfds)
{
	return bk_send_fds(fd, buf, len, fds, nfds) == (ssize_t)len ? 0 : -1;
}

struct held {
	uint32_t slot, gen, used;
};

static void complete(struct bk_region_view *v, struct bk_cq_producer *cq, uint32_t slot, uint32_t gen, int32_t st,
		     uint32_t len, int cefd)
{
	struct bk_slot *s = &v->slots[slot];
	s->status = st;
	s->res_len = len;
	atomic_store_explicit(&s->done_gen, gen, memory_order_release);
	struct bk_cqe e = {.slot = slot, .gen = gen, .status = st, .res_len = len};
	if (bk_cq_producer_space(cq) < 1)
		return; /* cannot happen: cq_entries >= nslots */
	bk_cq_producer_write(cq, 0, &e);
	bk_cq_producer_publish(cq, 1);
	if (bk_ring_wake_needed(v->cq_ctl)) {
		bk_ring_wake_bump(v->cq_ctl);
		bk_futex_wake(&v->cq_ctl->wake_seq, INT_MAX);
	}
	if (atomic_exchange(&v->cq_ctl->notify_armed, 0) != 0 && cefd >= 0) {
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
	rep.region_size = reg.v.size;
	send_fds(cfd, &rep, sizeof(rep), &reg.fd, 1);
	atomic_store(&fb->connected, 1);

	struct bk_region_view *v = &reg.v;
	struct bk_sq_consumer sq;
	struct bk_cq_producer cq;
	bk_sq_consumer_init(&sq, v->sq_ctl, v->sq, v->geo.sq_entries, p.ring_start);
	bk_cq_producer_init(&cq, v->cq_ctl, v->cq, v->geo.cq_entries, p.ring_start);
	struct held *held = calloc(v->geo.nslots, sizeof(*held));
	struct bk_sqe *batch = calloc(v->geo.sq_entries, sizeof(*batch));
	while (held && batch && !atomic_load(&fb->stop) && !atomic_load(&fb->hangup)) {
		struct pollfd pf = {.fd = cfd, .events = POLLIN};
		if (poll(&pf, 1, 0) > 0) {
			if (pf.revents & (POLLHUP | POLLERR))
				break;
			answer_socket(cfd);
		}
		int n = bk_sq_consumer_avail(&sq);
		if (n < 0)
			break;
		if (n == 0) {
			uint32_t seq = bk_ring_sleep_prepare(v->sq_ctl, false);
			if (bk_sq_consumer_avail(&sq) == 0) {
				struct timespec ts = {0, 1000000};
				bk_futex_wait(&v->sq_ctl->wake_seq, seq, &ts);
			}
			bk_ring_sleep_finish(v->sq_ctl, false);
			continue;
		}
		/*
		 * Copy the batch out and give the entries back before completing
		 * any: a client that resubmits from its completion callbacks must
		 * find the SQ room its completed calls held, whatever the timing.
		 */
		for (int i = 0; i < n; i++)
			bk_sq_consumer_read(&sq, (uint32_t)i, &batch[i]);
		bk_sq_consumer_release(&sq, (uint32_t)n);
		for (int i = 0; i < n; i++) {
			struct bk_sqe e = batch[i];
			if (e.slot >= v->geo.nslots)
				continue;
			if (e.op == BK_OP_CANCEL) {
				if (held[e.slot].used && held[e.slot].gen == e.gen) {
					held[e.slot].used = 0;
					complete(v, &cq, e.slot, e.gen, -ECANCELED, 0, cefd);
				}
				continue;
			}
			if (e.fn == FAKE_FN_HOLD) {
				held[e.slot] = (struct held){e.slot, e.gen, 1};
				continue;
			}
			if (e.fn == FAKE_FN_FAIL) {
				complete(v, &cq, e.slot, e.gen, -EIO, 0, cefd);
				continue;
			}
			if (e.fn != FAKE_FN_ECHO) {
				complete(v, &cq, e.slot, e.gen, -ENOENT, 0, cefd);
				continue;
			}
			uint64_t asz = v->layout.arena_size;
			if ((uint64_t)e.arg_off + e.arg_len > asz || (uint64_t)e.res_off + e.res_cap > asz) {
				complete(v, &cq, e.slot, e.gen, -EINVAL, 0, cefd);
				continue;
			}
			if (e.arg_len > e.res_cap) {
				complete(v, &cq, e.slot, e.gen, -ENOBUFS, e.arg_len, cefd);
				continue;
			}
			memmove(v->arena + e.res_off, v->arena + e.arg_off, e.arg_len);
			/* Counted before the completion is published: a client that saw it done sees the count. */
			atomic_fetch_add(&fb->served, 1);
			complete(v, &cq, e.slot, e.gen, 0, e.arg_len, cefd);
		}
	}
	free(batch);
	free(held);
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
