// SPDX-License-Identifier: MIT
/*
 * dispatch.c - event-loop integration: bk_fd, bk_dispatch and completion
 * callbacks (docs/ARCHITECTURE.md, "Wake-ups", event loops).
 *
 * bk_fd is an epoll set holding our eventfd (signalled by the broker when
 * CQ notify_armed is set) and the control socket (hang-up, BYE), so a loop
 * that watches only bk_fd also learns that the broker died.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "client_internal.h"

/* Ask the broker to signal our eventfd after its next completions. */
static void arm_notify(bk_client *c)
{
	atomic_store_explicit(&c->v.cq_ctl->notify_armed, 1, memory_order_relaxed);
	/*
	 * Dekker with the broker: it publishes the CQ tail, then swaps
	 * notify_armed to 0 (a seq_cst RMW) and signals if it was 1.  Our store
	 * of 1, this full fence, then the caller's load of the tail: either the
	 * broker's swap comes after our store and it signals, or our load sees
	 * its tail and we reap ourselves.  Nothing falls in between.
	 */
	atomic_thread_fence(memory_order_seq_cst);
}

BKC_API int bk_fd(bk_client *c)
{
	if (!c)
		return -EINVAL;
	/*
	 * Relaxed: the flag only tells later bk_dispatch calls to re-arm; this
	 * call arms at once itself, and the lost-wake-up argument is the fence
	 * in arm_notify, not this flag.
	 */
	atomic_store_explicit(&c->fd_armed, 1, memory_order_relaxed);
	arm_notify(c);
	if (bk_cq_consumer_pending(&c->cq))
		bkc_signal_fd(c);
	return c->pollfd;
}

BKC_API int bk_on_complete(bk_future *f, bk_complete_cb cb, void *user_data)
{
	if (!f || !cb)
		return -EINVAL;
	bk_client *c = f->c;
	bool sig = false;
	int r = 0;
	pthread_mutex_lock(&c->lock);
	uint32_t st = atomic_load_explicit(&f->state, memory_order_relaxed);
	if (st == F_PENDING || st == F_DONE) {
		f->cb = cb;
		f->user_data = user_data;
		if (st == F_DONE && !f->cb_queued) {
			f->cb_queued = true;
			f->cb_next = NULL;
			if (!c->cb_head) {
				c->cb_head = f;
				sig = true;
			} else {
				c->cb_tail->cb_next = f;
			}
			c->cb_tail = f;
		}
	} else {
		r = BK_ESTALE;
	}
	pthread_mutex_unlock(&c->lock);
	if (sig)
		bkc_signal_fd(c);
	return r;
}

/* Pop one queued callback; frees zombies on the way.  Returns false when the queue is empty. */
static bool pop_callback(bk_client *c, bk_future **fp, bk_complete_cb *cbp, void **udp)
{
	bool found = false;
	pthread_mutex_lock(&c->lock);
	while (c->cb_head && !found) {
		struct bk_future *f = c->cb_head;
		c->cb_head = f->cb_next;
		if (!c->cb_head)
			c->cb_tail = NULL;
		f->cb_queued = false;
		if (atomic_load_explicit(&f->state, memory_order_relaxed) == F_ZOMBIE) {
			bkc_free_future(c, f);
			continue;
		}
		*fp = f;
		*cbp = f->cb;
		*udp = f->user_data;
		f->cb = NULL; /* once */
		found = *cbp != NULL;
	}
	pthread_mutex_unlock(&c->lock);
	return found;
}

BKC_API int bk_dispatch(bk_client *c)
{
	if (!c)
		return -EINVAL;
	uint64_t cnt;
	/* Drain first: anything signalled after this read is either reaped below or signals again. */
	if (read(c->efd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		return -errno;
	bool gone = bkc_check_gone(c, 0); /* woken by the fd: the socket may have hung up */
	int ran = 0;
	/* Bound the work per call so callbacks that submit cannot keep one dispatch running forever. */
	int budget = (int)c->v.geo.nslots * 2 + 64;
	for (int round = 0;; round++) {
		bkc_reap(c, BKC_REAP_DISPATCH);
		if (gone)
			bkc_fail_pending(c);
		bk_future *f;
		bk_complete_cb cb;
		void *ud;
		while (ran < budget && pop_callback(c, &f, &cb, &ud)) {
			cb(f, ud);
			ran++;
		}
		if (atomic_load_explicit(&c->fd_armed, memory_order_relaxed)) /* see bk_fd */
			arm_notify(c);
		pthread_mutex_lock(&c->lock);
		bool more = c->cb_head != NULL;
		pthread_mutex_unlock(&c->lock);
		/* The load of the tail after arm_notify's fence (see there). */
		more = more || bk_cq_consumer_pending(&c->cq);
		if (!more)
			break;
		if (ran >= budget || round >= 8) {
			bkc_signal_fd(c); /* come back soon: the loop gets a turn first */
			break;
		}
	}
	if (gone)
		return BK_EGONE;
	return ran;
}
