// SPDX-License-Identifier: MIT
/*
 * complete.c - the completion side: reaping the CQ (lock-free claim, any
 * thread), marking futures done, freeing slots, and bk_poll/bk_result with
 * their broker-gone checks; the waits that spin and sleep on these checks
 * are in wait_many.c (docs/ARCHITECTURE.md, "Wake-ups").
 *
 * A future is done when its cqe was reaped or, without reaping, when its
 * slot's done_gen equals its generation: the broker stores done_gen with
 * release after status and res_len, so a waiter whose cqe another thread
 * claimed still sees its own completion at once.
 *
 * Once the broker is gone, a future it did not complete can never complete:
 * the library ends it itself as "lost" (status BK_EGONE, f->lost), and
 * bk_wait/bk_poll report BK_EGONE for exactly those (the contract atop
 * bk_wait in client.h).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client_internal.h"

void bkc_signal_fd(bk_client *c)
{
	uint64_t one = 1;
	/* EAGAIN: the counter is saturated, so the fd is readable anyway. */
	if (write(c->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		bkc_set_gone(c);
}

void bkc_free_future(bk_client *c, struct bk_future *f)
{
	atomic_store_explicit(&f->state, F_FREE, memory_order_relaxed);
	f->cb = NULL;
	f->lost = false;
	/*
	 * A stack: the future released last is used next, so an app touches as
	 * many slots, inline buffers and future records as it has in flight,
	 * whatever nslots is (docs/ARCHITECTURE.md, "Small by default").  The
	 * price: a released handle may be recycled at once, so BK_ESTALE catches
	 * misuse only until the next submission.
	 */
	f->next = c->free_head;
	c->free_head = f->slot;
	c->nfree++;
	c->free_seq++;
}

void bkc_mark_done(bk_client *c, struct bk_future *f, int32_t status, uint32_t res_len, bool *signal_cb)
{
	f->status = status;
	f->res_len = res_len;
	uint32_t st = atomic_load_explicit(&f->state, memory_order_relaxed);
	if (st == F_ORPHAN) {
		bkc_free_future(c, f);
		return;
	}
	atomic_store_explicit(&f->state, F_DONE, memory_order_release);
	if (f->cb && !f->cb_queued) {
		f->cb_queued = true;
		f->cb_next = NULL;
		if (!c->cb_head) {
			c->cb_head = f;
			*signal_cb = true;
		} else {
			c->cb_tail->cb_next = f;
		}
		c->cb_tail = f;
	}
}

/* With c->lock held: has the broker completed f's current use?  Reads the slot words once. */
static bool slot_done_locked(bk_client *c, struct bk_future *f, bool *signal_cb)
{
	struct bk_slot *s = &c->v.slots[f->slot];
	/* Acquire pairs with the broker's release store of done_gen: status and res_len are written. */
	if (atomic_load_explicit(&s->done_gen, memory_order_acquire) != f->gen)
		return false;
	int32_t status = (int32_t)__atomic_load_n((uint32_t *)&s->status, __ATOMIC_RELAXED);
	uint32_t len = __atomic_load_n(&s->res_len, __ATOMIC_RELAXED);
	bkc_mark_done(c, f, status, len, signal_cb);
	return true;
}

int bkc_reap(bk_client *c, unsigned flags)
{
	struct bk_cqe batch[64];
	int total = 0;
	bool signal_cb = false;
	for (;;) {
		unsigned n = bk_cq_consumer_reap(&c->cq, batch, 64);
		if (n == 0)
			break;
		pthread_mutex_lock(&c->lock);
		for (unsigned i = 0; i < n; i++) {
			const struct bk_cqe *e = &batch[i];
			if (e->slot >= c->v.geo.nslots)
				continue; /* impossible slot: a broker bug we refuse to act on */
			struct bk_future *f = &c->futures[e->slot];
			uint32_t st = atomic_load_explicit(&f->state, memory_order_relaxed);
			/* A stale cqe (the slot was already seen done through done_gen and reused) has an old gen. */
			if (f->gen != e->gen || (st != F_PENDING && st != F_ORPHAN))
				continue;
			bkc_mark_done(c, f, e->status, e->res_len, &signal_cb);
			total++;
		}
		pthread_mutex_unlock(&c->lock);
		if (n < 64)
			break;
	}
	if (signal_cb && !(flags & BKC_REAP_DISPATCH))
		bkc_signal_fd(c); /* a callback was queued outside bk_dispatch: make the loop run it */
	return total;
}

void bkc_fail_pending(bk_client *c)
{
	bool sig = false;
	bkc_reap(c, false);
	pthread_mutex_lock(&c->lock);
	for (uint32_t i = 0; i < c->fresh; i++) { /* the others were never used */
		struct bk_future *f = &c->futures[i];
		uint32_t st = atomic_load_explicit(&f->state, memory_order_relaxed);
		if (st != F_PENDING && st != F_ORPHAN)
			continue;
		/* The broker may have finished it just before dying (done_gen is written before the cqe). */
		if (slot_done_locked(c, f, &sig))
			continue;
		f->lost = true; /* published with the state by bkc_mark_done's release store of F_DONE */
		bkc_mark_done(c, f, BK_EGONE, 0, &sig);
	}
	pthread_mutex_unlock(&c->lock);
	if (sig)
		bkc_signal_fd(c);
}

bool bkc_check_gone(bk_client *c, int64_t every_ns)
{
	if (bkc_gone(c))
		return true;
	uint32_t bs = atomic_load_explicit(&c->v.hdr->broker_state, memory_order_acquire);
	if (bs == BK_BROKER_GONE) {
		bkc_set_gone(c);
		return true;
	}
	/*
	 * The poll below is a syscall: a caller polling a pending future in a
	 * loop must not pay it every time.  Racing threads may both poll; that
	 * only costs a spare syscall.
	 */
	int64_t now = bk_now_ns();
	if (every_ns > 0 && now - atomic_load_explicit(&c->last_gone_poll_ns, memory_order_relaxed) < every_ns)
		return false;
	atomic_store_explicit(&c->last_gone_poll_ns, now, memory_order_relaxed);
	struct pollfd p = {.fd = c->sock, .events = POLLIN | POLLRDHUP};
	if (poll(&p, 1, 0) <= 0)
		return false;
	if (p.revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL)) {
		bkc_set_gone(c);
		return true;
	}
	/* Readable: maybe an unsolicited BYE.  A reply belongs to whoever holds sock_lock: leave it. */
	if ((p.revents & POLLIN) && pthread_mutex_trylock(&c->sock_lock) == 0) {
		struct bk_msg_hdr h;
		ssize_t r = recv(c->sock, &h, sizeof(h), MSG_PEEK | MSG_DONTWAIT);
		if (r == 0) {
			bkc_set_gone(c);
		} else if (r == (ssize_t)sizeof(h) && h.magic == BK_WIRE_MAGIC && h.type == BK_MSG_BYE) {
			char drop[64];
			if (recv(c->sock, drop, sizeof(drop), MSG_DONTWAIT) >= 0)
				atomic_store_explicit(&c->draining, 1, memory_order_relaxed); /* a record only */
		} else if (r > 0) {
			/* Nobody waits for a reply (we hold sock_lock): a stray datagram; drop it. */
			char drop[64];
			if (recv(c->sock, drop, sizeof(drop), MSG_DONTWAIT) < 0 && errno != EAGAIN)
				bkc_set_gone(c);
		}
		pthread_mutex_unlock(&c->sock_lock);
	}
	return bkc_gone(c);
}

/* 1 done, 0 pending, BK_ESTALE; checks the slot and reaps, never blocks. */
int bkc_check_future(bk_future *f, unsigned reap)
{
	bk_client *c = f->c;
	bool sig = false;
	/*
	 * Lock-free fast path for "done" and "still pending", so pollers and
	 * spinning waiters do not contend on c->lock.  The acquire on state
	 * pairs with the F_DONE release in bkc_mark_done, the one on done_gen
	 * with the broker's release; a stale answer only means the locked path
	 * below (or the next call) sees the completion.
	 */
	uint32_t st0 = atomic_load_explicit(&f->state, memory_order_acquire);
	if (st0 == F_DONE)
		return 1;
	if (st0 == F_PENDING) {
		if (reap) {
			/*
			 * Reaping callers learn of completions from the CQ only: its
			 * entries are denser than slots, and a slot line the client
			 * never reads stays in the broker's cache (one line transfer
			 * less per task at full throughput).  A completion whose cqe is
			 * not published yet is a moment early to report anyway.
			 */
			if (!bk_cq_consumer_pending(&c->cq)) {
				/*
				 * A thread about to sleep also reads the slot: another thread may have claimed
				 * this entry and not marked the future yet, and nobody would wake us for it.
				 * done_gen is written before the entry, so a claimed one shows here.
				 */
				if (!(reap & BKC_REAP_SLEEPER) || !bkc_slot_done(c, f))
					return 0;
				/* Done by the slot: the locked path below marks it. */
			} else {
				bkc_reap(c, 0);
				reap = 0; /* done: the locked path below must not reap a second time */
				st0 = atomic_load_explicit(&f->state, memory_order_acquire);
				if (st0 == F_DONE)
					return 1;
				if (st0 == F_PENDING)
					return 0;
			}
		} else if (!bkc_slot_done(c, f)) {
			/* Spinning waiters read the slot: done_gen is written before the cqe, the lowest latency. */
			return 0;
		}
	}
	pthread_mutex_lock(&c->lock);
	uint32_t st = atomic_load_explicit(&f->state, memory_order_relaxed);
	int r = st == F_DONE ? 1 : st == F_PENDING ? 0 : BK_ESTALE;
	if (r == 0 && slot_done_locked(c, f, &sig))
		r = 1;
	pthread_mutex_unlock(&c->lock);
	if (sig)
		bkc_signal_fd(c);
	if (reap)
		bkc_reap(c, 0); /* keep the CQ drained so the broker never backs up */
	return r;
}

/*
 * The broker is gone and f looked pending: end what it left undone, then
 * look at f again (1 or BK_ESTALE now; "pending" could only be a recycled
 * handle, and is reported as gone rather than as done).
 */
static int check_gone_future(bk_future *f)
{
	bkc_fail_pending(f->c);
	int r = bkc_check_future(f, false);
	return r == 0 ? BK_EGONE : r;
}

/*
 * What bk_wait/bk_poll say for check_future's answer r: an error as is, and
 * for a done future 'done' when the broker completed it, BK_EGONE when the
 * library ended it.  f->lost is read after check_future's acquire of F_DONE
 * (or under the lock), which orders it after bkc_fail_pending's write.
 */
int bkc_outcome(bk_future *f, int r, int done)
{
	if (r <= 0)
		return r;
	return f->lost ? BK_EGONE : done;
}

/*
 * Adaptive spin: fold how long a completed wait took into the EWMA (1/8
 * weight).  Unsynchronised read-modify-write: a lost update between racing
 * threads only slows the average's convergence.
 */
void bkc_learn_wait_time(bk_client *c, int64_t took_ns)
{
	if (c->spin_ns >= 0)
		return;
	bkc_spin_learned(c, took_ns);
	int64_t avg = atomic_load_explicit(&c->wait_ewma_ns, memory_order_relaxed);
	if (took_ns > 4 * BKC_SPIN_MAX_NS)
		took_ns = 4 * BKC_SPIN_MAX_NS; /* a long task says nothing about round trips: cap its weight */
	atomic_store_explicit(&c->wait_ewma_ns, avg + (took_ns - avg) / 8, memory_order_relaxed);
}

BKC_API int bk_poll(bk_future *f)
{
	if (!f)
		return -EINVAL;
	int r = bkc_check_future(f, true);
	if (r == 0 && bkc_check_gone(f->c, BKC_GONE_POLL_NS))
		r = check_gone_future(f);
	return bkc_outcome(f, r, 1);
}


BKC_API int bk_result(bk_future *f, const void **data, size_t *len)
{
	if (!f)
		return -EINVAL;
	bk_client *c = f->c;
	int r = bkc_check_future(f, false);
	if (r == 0 && bkc_gone(c))
		r = check_gone_future(f); /* another call saw the broker die: f can never complete now */
	if (r < 0)
		return r;
	if (r == 0)
		return -EBUSY;
	/*
	 * Done: status and res_len were written before the release store of
	 * F_DONE (bkc_mark_done) and res_off/res_cap at submission, and nothing
	 * writes them again until the future is released, so after the acquire
	 * in check_future they are read without the lock.
	 */
	int32_t status = f->status;
	uint32_t n = f->res_len, cap = f->res_cap, off = f->res_off;
	if (status == -ENOBUFS) {
		if (data)
			*data = NULL;
		if (len)
			*len = n; /* the size that was needed */
		return status;
	}
	if (n > cap)
		return BK_EPROTOCOL; /* the broker claims more than it may write: do not expose it */
	if (data)
		*data = c->v.arena + off;
	if (len)
		*len = n;
	return status;
}

BKC_API void bk_release(bk_future *f)
{
	if (!f)
		return;
	bk_client *c = f->c;
	bool posted = false, wake_waiters = false, sig = false;
	pthread_mutex_lock(&c->lock);
	uint32_t st = atomic_load_explicit(&f->state, memory_order_relaxed);
	if (st == F_PENDING && slot_done_locked(c, f, &sig))
		st = F_DONE;
	if (st == F_PENDING) {
		/* Cancel (best effort: with a full SQ the task simply runs out); freed when its completion arrives. */
		atomic_store_explicit(&f->state, F_ORPHAN, memory_order_relaxed);
		f->cb = NULL;
		if (!bkc_gone(c))
			posted = bkc_post_cancel_locked(c, f->slot, f->gen);
		else
			bkc_free_future(c, f); /* the broker is gone: no completion will ever come */
	} else if (st == F_DONE) {
		if (f->cb_queued) {
			atomic_store_explicit(&f->state, F_ZOMBIE, memory_order_relaxed); /* dispatch frees it */
		} else {
			bkc_free_future(c, f);
			wake_waiters = c->slot_waiters > 0;
		}
	}
	/* F_FREE / F_ORPHAN / F_ZOMBIE: a double release, ignored. */
	pthread_mutex_unlock(&c->lock);
	if (sig)
		bkc_signal_fd(c);
	if (posted)
		bkc_wake_broker(c);
	if (wake_waiters)
		bk_futex_wake(&c->v.cq_ctl->wake_seq, INT_MAX);
}

BKC_API bk_client *bk_future_client(bk_future *f)
{
	return f ? f->c : NULL;
}
