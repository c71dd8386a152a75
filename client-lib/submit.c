// SPDX-License-Identifier: MIT
/*
 * submit.c - posting futures: take a slot from the pool, copy the argument
 * into the slot's inline area (or point at a zero-copy buffer), write the
 * sqe, publish the SQ tail once per batch, and wake the broker only if it
 * sleeps (docs/ARCHITECTURE.md, "Wake-ups").  Submitters serialise on
 * c->lock; the SQ ring itself has one producer side.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "client_internal.h"

void bkc_wake_broker(bk_client *c)
{
	/* Fence inside bk_ring_wake_needed: our tail store is ordered before the need_wakeup load. */
	if (!bk_ring_wake_needed(c->v.sq_ctl))
		return;
	if (c->features & BK_FEAT_SQ_FUTEX) {
		bk_ring_wake_bump(c->v.sq_ctl);
		bk_futex_wake(&c->v.sq_ctl->wake_seq, 1);
	}
	if ((c->features & BK_FEAT_SQ_EVENTFD) && c->broker_efd >= 0) {
		uint64_t one = 1;
		/* EAGAIN means the counter is saturated: the broker will wake anyway. */
		if (write(c->broker_efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			bkc_set_gone(c);
	}
}

bool bkc_post_cancel_locked(bk_client *c, uint32_t slot, uint32_t gen)
{
	if (bk_sq_producer_space_min(&c->sq, 1) < 1)
		return false;
	struct bk_sqe e = {.op = BK_OP_CANCEL, .slot = slot, .gen = gen};
	bk_sq_producer_write(&c->sq, 0, &e);
	bk_sq_producer_publish(&c->sq, 1);
	return true;
}

/* Where a call's argument and result go; checked before anything is posted. */
struct placed {
	bool arg_zc;
	uint32_t arg_off, arg_len;
	bool res_zc;
	uint32_t res_off, res_cap;
	uint8_t flags; /* bk_sqe.flags */
	uint64_t deadline; /* absolute, when flags has BK_SQE_F_DEADLINE */
};

/* The lane and deadline of a call, as sqe flags; now is read once per batch, only if a call has a deadline. */
static int place_opts(const bk_call *k, struct placed *p, int64_t *now)
{
	if (k->priority > BK_PRIO_BACKGROUND || (k->flags & ~(BK_CALL_DURABLE | BK_CALL_JOB_ID)) || k->deadline_ns < 0 || k->deadline_ns > BK_DEADLINE_MAX_NS)
		return -EINVAL;
	_Static_assert(BK_PRIO_INTERACTIVE == BK_SQE_PRIO_INTERACTIVE && BK_PRIO_BACKGROUND == BK_SQE_PRIO_BACKGROUND,
		       "lanes are passed through");
	p->flags = (uint8_t)k->priority;
	if (k->flags & BK_CALL_DURABLE)
		p->flags |= BK_SQE_F_DURABLE;
	if (k->flags & BK_CALL_JOB_ID) {
		if (k->len < BK_JOB_ID_LEN)
			return -EINVAL;
		p->flags |= BK_SQE_F_JOB_ID;
	}
	if (k->deadline_ns > 0) {
		if (*now == 0)
			*now = bk_now_ns();
		p->flags |= BK_SQE_F_DEADLINE;
		p->deadline = (uint64_t)*now + (uint64_t)k->deadline_ns;
	}
	return 0;
}

static int place_call(bk_client *c, const bk_call *k, struct placed *p, int64_t *now)
{
	int r = place_opts(k, p, now);
	if (r < 0)
		return r;
	if (k->len && !k->arg)
		return -EINVAL;
	if (k->len > UINT32_MAX)
		return -EMSGSIZE;
	p->arg_len = (uint32_t)k->len;
	p->arg_zc = k->len && bkc_in_large(c, k->arg, k->len);
	if (p->arg_zc)
		p->arg_off = (uint32_t)((const uint8_t *)k->arg - c->v.arena);
	else if (k->len > c->v.geo.slot_inline)
		return -EMSGSIZE;
	p->res_zc = k->result != NULL;
	if (p->res_zc) {
		if (k->result_cap > UINT32_MAX || !bkc_in_large(c, k->result, k->result_cap))
			return -EINVAL; /* a result buffer must come from bk_buf_alloc */
		p->res_off = (uint32_t)((const uint8_t *)k->result - c->v.arena);
		p->res_cap = (uint32_t)k->result_cap;
	} else {
		p->res_cap = c->v.geo.slot_inline;
	}
	return 0;
}

/* With c->lock held, at least one free future and one SQ entry: post call i of the batch. */
static struct bk_future *post_locked(bk_client *c, const bk_call *k, const struct placed *p, uint32_t i)
{
	struct bk_future *f;
	uint32_t slot; /* a future's index is its slot (bkc_free_future) */
	if (c->free_head != UINT32_MAX) {
		slot = c->free_head;
		f = &c->futures[slot];
		c->free_head = f->next;
	} else {
		slot = c->fresh++;
		f = &c->futures[slot]; /* first use: the page was zero until now */
		f->c = c;
		f->slot = slot;
	}
	c->nfree--;
	f->next = UINT32_MAX;
	uint32_t gen = f->gen + 1;
	if (gen == 0)
		gen = 1; /* 0 is the initial done_gen: never a live generation */
	/* Atomic store: check_future reads it lock-free. */
	__atomic_store_n(&f->gen, gen, __ATOMIC_RELAXED);
	uint32_t inl = slot * c->v.geo.slot_inline;
	if (!p->arg_zc && p->arg_len)
		memcpy(c->v.arena + inl, k->arg, p->arg_len);
	f->res_off = p->res_zc ? p->res_off : inl;
	f->res_cap = p->res_cap;
	f->status = 0;
	f->res_len = 0;
	f->cb = k->cb;
	f->user_data = k->user_data;
	f->cb_queued = false;
	/*
	 * The slot's client-side fields (state, gen) are not written: the
	 * broker ignores them and we keep both in the future.  Writing them
	 * made the slot's cache line travel one more time per task.
	 */
	if (p->flags & BK_SQE_F_DEADLINE)
		c->v.slots[slot].deadline_ns = p->deadline; /* ordered before the broker's read by the sqe's release store */
	struct bk_sqe e = {
		.op = BK_OP_CALL,
		.flags = p->flags,
		.fn = k->fn,
		/* From locals, not read back from f: a load of slot and gen together right after the 4-byte store
		 * of gen cannot be forwarded from the store buffer (a stall per call). */
		.slot = slot,
		.gen = gen,
		.arg_off = p->arg_zc ? p->arg_off : inl,
		.arg_len = p->arg_len,
		.res_off = f->res_off,
		.res_cap = f->res_cap,
	};
	bk_sq_producer_write(&c->sq, i, &e);
	atomic_store_explicit(&f->state, F_PENDING, memory_order_relaxed);
	return f;
}

/*
 * bk_submit_batch@@BKCLIENT_1.1, the default for programs linked now.  Both
 * versions are bound explicitly: a plain definition would take the version
 * the script gives the name, which is 1.0's.
 */
__asm__(".symver bkc_submit_batch, bk_submit_batch@@BKCLIENT_1.1");
BKC_API int bkc_submit_batch(bk_client *c, const bk_call *calls, size_t n, bk_future **out)
{
	int64_t now = 0;
	if (!c || (n && (!calls || !out)))
		return -EINVAL;
	if (bkc_gone(c))
		return BK_EGONE;
	if (n == 0)
		return 0;
	struct placed pl[64];
	if (n > 64)
		n = 64; /* one publication per 64 calls; callers loop on the count */
	for (size_t i = 0; i < n; i++) {
		int r = place_call(c, &calls[i], &pl[i], &now);
		if (r < 0)
			return r;
	}
	pthread_mutex_lock(&c->lock);
	uint32_t space = bk_sq_producer_space_min(&c->sq, (uint32_t)n);
	size_t k = n;
	if (k > space)
		k = space;
	if (k > c->nfree)
		k = c->nfree;
	for (size_t i = 0; i < k; i++)
		out[i] = post_locked(c, &calls[i], &pl[i], (uint32_t)i);
	if (k)
		bk_sq_producer_publish(&c->sq, (uint32_t)k);
	pthread_mutex_unlock(&c->lock);
	if (k == 0) {
		/* Full: reap so released futures give their slots back for the caller's retry. */
		bkc_reap(c, false);
		return bkc_check_gone(c, BKC_GONE_POLL_NS) ? BK_EGONE : -EAGAIN;
	}
	bkc_wake_broker(c);
	return (int)k;
}

/* bk_call as version 1.0 had it: programs built against 1.0 pass arrays of these. */
struct bkc_call_v1_0 {
	bk_fn fn;
	const void *arg;
	size_t len;
	void *result;
	size_t result_cap;
	bk_complete_cb cb;
	void *user_data;
};
_Static_assert(offsetof(bk_call, user_data) == offsetof(struct bkc_call_v1_0, user_data), "1.1 extends 1.0");

/* bk_submit_batch@BKCLIENT_1: widen each call (at most 64 are taken per call anyway). */
__asm__(".symver bkc_submit_batch_v1_0, bk_submit_batch@BKCLIENT_1");
BKC_API int bkc_submit_batch_v1_0(bk_client *c, const struct bkc_call_v1_0 *calls, size_t n, bk_future **out);
BKC_API int bkc_submit_batch_v1_0(bk_client *c, const struct bkc_call_v1_0 *calls, size_t n, bk_future **out)
{
	if (n && !calls)
		return -EINVAL;
	bk_call wide[64];
	if (n > 64)
		n = 64;
	for (size_t i = 0; i < n; i++) {
		memset(&wide[i], 0, sizeof(wide[i]));
		memcpy(&wide[i], &calls[i], sizeof(calls[i]));
	}
	return bkc_submit_batch(c, n ? wide : NULL, n, out);
}

BKC_API int bk_submit_opts(bk_client *c, bk_fn fn, const void *arg, size_t len, int64_t deadline_ns, unsigned priority,
			   bk_future **out)
{
	bk_call k = {.fn = fn, .arg = arg, .len = len, .deadline_ns = deadline_ns, .priority = priority};
	if (!out)
		return -EINVAL;
	int r = bkc_submit_batch(c, &k, 1, out);
	return r < 0 ? r : 0;
}

BKC_API int bk_submit(bk_client *c, bk_fn fn, const void *arg, size_t len, bk_future **out)
{
	bk_call k = {.fn = fn, .arg = arg, .len = len};
	if (!out)
		return -EINVAL;
	int r = bkc_submit_batch(c, &k, 1, out);
	return r < 0 ? r : 0;
}

BKC_API int bk_submit_wait(bk_client *c, bk_fn fn, const void *arg, size_t len, int64_t timeout_ns, bk_future **out)
{
	int64_t deadline = timeout_ns < 0 ? INT64_MAX : bk_now_ns() + timeout_ns;
	for (;;) {
		int r = bk_submit(c, fn, arg, len, out);
		if (r != -EAGAIN)
			return r;
		int64_t now = bk_now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		/*
		 * Sleep on the CQ futex: the broker wakes it when a completion
		 * lands (which may free an orphaned slot), and bk_release wakes it
		 * when slot_waiters > 0.  A release between our check and the
		 * futex wait is caught by the 10 ms slice at worst.
		 */
		pthread_mutex_lock(&c->lock);
		uint32_t fseq = c->free_seq;
		c->slot_waiters++;
		pthread_mutex_unlock(&c->lock);
		uint32_t seq = bk_ring_sleep_prepare(c->v.cq_ctl, true);
		bool retry = bk_cq_consumer_pending(&c->cq);
		pthread_mutex_lock(&c->lock);
		/* Retry at once if a slot was freed or there is room now; else sleep until a completion (or 10 ms). */
		retry = retry || c->free_seq != fseq || (c->nfree > 0 && bk_sq_producer_space_min(&c->sq, 1) > 0);
		pthread_mutex_unlock(&c->lock);
		if (!retry) {
			int64_t slice = deadline - now;
			if (slice > 10000000LL)
				slice = 10000000LL;
			struct timespec ts = {.tv_sec = slice / 1000000000LL, .tv_nsec = slice % 1000000000LL};
			bk_futex_wait(&c->v.cq_ctl->wake_seq, seq, &ts);
		}
		bk_ring_sleep_finish(c->v.cq_ctl, true);
		pthread_mutex_lock(&c->lock);
		c->slot_waiters--;
		pthread_mutex_unlock(&c->lock);
		if (bkc_check_gone(c, BKC_GONE_POLL_NS))
			return BK_EGONE;
	}
}

BKC_API int bk_cancel(bk_future *f)
{
	if (!f)
		return -EINVAL;
	bk_client *c = f->c;
	pthread_mutex_lock(&c->lock);
	uint32_t st = atomic_load_explicit(&f->state, memory_order_relaxed);
	int r = 0;
	bool posted = false;
	if (st == F_FREE || st == F_ORPHAN || st == F_ZOMBIE)
		r = BK_ESTALE;
	else if (st == F_PENDING && bkc_gone(c))
		r = BK_EGONE; /* nobody left to cancel it; a done future still answers 0, as client.h says */
	else if (st == F_PENDING)
		r = (posted = bkc_post_cancel_locked(c, f->slot, f->gen)) ? 0 : -EAGAIN;
	/* F_DONE: nothing to cancel, and that is not an error. */
	pthread_mutex_unlock(&c->lock);
	if (posted)
		bkc_wake_broker(c);
	return r;
}
