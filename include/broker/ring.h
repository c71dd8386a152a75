// SPDX-License-Identifier: MIT
/*
 * ring.h - the two sides of the shared rings, io_uring style.
 *
 * Each ring has one producer side and one consumer side at the process
 * boundary.  The broker side (SQ consumer, CQ producer) keeps private cursors
 * and never trusts a value the client wrote: it reads each client-written
 * index once, into a local, and bounds-checks it.  The client side (SQ
 * producer, CQ consumer) is serialised by the caller for the SQ and is
 * lock-free (CAS on head) for CQ reaping from many threads.
 *
 * Header-only so that broker/ and client-lib/ compile the same code.  Not
 * installed.
 *
 * Ordering summary (see the comment at each barrier):
 *   entries -> tail   : producer writes entries, then store-release tail;
 *                       consumer load-acquire tail, then reads entries.
 *   entries -> head   : consumer reads entries, then store-release head;
 *                       producer load-acquire head before overwriting.
 *   sleep / wake      : Dekker pair of seq_cst fences between
 *                       "publish tail; read need_wakeup" (producer) and
 *                       "raise need_wakeup; read tail" (consumer), plus the
 *                       wake_seq futex word so a wake between the consumer's
 *                       re-check and its FUTEX_WAIT is never lost.
 */
#ifndef BROKER_RING_H
#define BROKER_RING_H

#include <errno.h>
#include <linux/futex.h>
#include <stdbool.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "broker/proto.h"

/* ---- word-wise copies of shared entries ----------------------------------
 * Entries are plain structs in shared memory.  A hostile or racing peer may
 * write them while we read, so every word is read exactly once with a relaxed
 * atomic load (no torn or repeated reads, and no data race for TSan) into
 * private memory, and only the private copy is used afterwards. */

static inline void bk_shm_read_words(void *dst, const void *src, size_t words)
{
	uint32_t *d = dst;
	const uint32_t *s = src;
	for (size_t i = 0; i < words; i++)
		d[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
}

static inline void bk_shm_write_words(void *dst, const void *src, size_t words)
{
	uint32_t *d = dst;
	const uint32_t *s = src;
	for (size_t i = 0; i < words; i++)
		__atomic_store_n(&d[i], s[i], __ATOMIC_RELAXED);
}

/*
 * Same contract for ring entries, 8 bytes at a time: every 8-byte word is
 * accessed exactly once and atomically, so no field (all are <= 4 bytes and
 * none straddles an 8-byte boundary) can tear.  Half the memory operations
 * of the 4-byte copy: it matters on the producer side, where each store to a
 * line the other side last read waits for ownership.  The shared side must
 * be 8-byte aligned (ring entries are: 32 and 16 bytes, from cache-line
 * aligned offsets); the private side may have the struct's 4-byte alignment,
 * hence memcpy there.
 */
static inline void bk_shm_read_u64s(void *dst, const void *src, size_t n)
{
	const uint64_t *s = src;
	for (size_t i = 0; i < n; i++) {
		uint64_t w = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
		memcpy((uint8_t *)dst + 8 * i, &w, 8);
	}
}

static inline void bk_shm_write_u64s(void *dst, const void *src, size_t n)
{
	uint64_t *d = dst;
	for (size_t i = 0; i < n; i++) {
		uint64_t w;
		memcpy(&w, (const uint8_t *)src + 8 * i, 8);
		__atomic_store_n(&d[i], w, __ATOMIC_RELAXED);
	}
}
_Static_assert(sizeof(struct bk_sqe) % 8 == 0 && sizeof(struct bk_cqe) % 8 == 0, "entries copy in 8-byte words");

/* ---- futex on a shared (not private) word: both processes map it ------- */

static inline int bk_futex_wait(_Atomic uint32_t *word, uint32_t expected, const struct timespec *rel)
{
	long r = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, expected, rel, NULL, 0);
	return r < 0 ? -errno : 0;
}

static inline int bk_futex_wake(_Atomic uint32_t *word, int nr)
{
	long r = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, nr, NULL, NULL, 0);
	return r < 0 ? -errno : (int)r;
}

/* ---- producer / consumer wake-up helpers ---------------------------------- */

/*
 * Producer, after publishing its tail: must the consumer be woken?
 * The seq_cst fence orders the tail store before the need_wakeup load.  The
 * consumer does the mirror image (raise need_wakeup, fence, load tail), so at
 * least one side sees the other's store: either we see need_wakeup and wake,
 * or the consumer sees our tail and does not sleep.
 */
static inline bool bk_ring_wake_needed(struct bk_ring_ctl *ctl)
{
	atomic_thread_fence(memory_order_seq_cst);
	return atomic_load_explicit(&ctl->need_wakeup, memory_order_relaxed) != 0;
}

/*
 * Producer, when bk_ring_wake_needed() said so: bump the futex word before
 * the FUTEX_WAKE (done by the caller, by syscall or through io_uring).  The
 * release pairs with the consumer's acquire load of wake_seq in
 * bk_ring_sleep_prepare(): a consumer that sees the new value also sees the
 * tail published before it, and one that sampled the old value fails its
 * FUTEX_WAIT because the word moved.
 */
static inline void bk_ring_wake_bump(struct bk_ring_ctl *ctl)
{
	atomic_fetch_add_explicit(&ctl->wake_seq, 1, memory_order_release);
}

/*
 * The wake gate of a CQ (proto.h, wake_at): two flag bits above the
 * sleeper count in need_wakeup.  A sleeper takes PREP by a CAS from 0 (so
 * it is alone), stores wake_at, then swaps exactly PREP|1 for GATE|1; any
 * other sleeper only adds 1 and clears GATE if it saw it.  So the word is
 * GATE|1 only while exactly one thread sleeps and that thread stored
 * wake_at before it set GATE, and the producer honours the gate only then
 * (bk_ring_wake_due): with two sleepers, or while one prepares, every
 * completion wakes as before.  An older producer sees a nonzero word and
 * wakes; an older client never sets a bit.
 */
#define BK_WAKE_GATE 0x80000000u
#define BK_WAKE_PREP 0x40000000u
#define BK_WAKE_COUNT(nw) ((nw) & ~(BK_WAKE_GATE | BK_WAKE_PREP))

/*
 * Producer, after publishing its tail (CQ): the fence of bk_ring_wake_needed
 * (the Dekker pair of the sleep), then need_wakeup read once: acquire, so
 * that GATE|1 read from the sleeper's release CAS shows its wake_at.
 */
static inline uint32_t bk_ring_sleepers(struct bk_ring_ctl *ctl)
{
	atomic_thread_fence(memory_order_seq_cst);
	return atomic_load_explicit(&ctl->need_wakeup, memory_order_acquire);
}

/*
 * Must the producer wake, given nw from bk_ring_sleepers() and its tail now?
 * wake_at is read once; any value of either word is safe for the producer:
 * a wrong one only wakes the client early or leaves it to its own bounded
 * sleep.
 */
static inline bool bk_ring_wake_due(struct bk_ring_ctl *ctl, uint32_t nw, uint32_t tail)
{
	if (nw != (BK_WAKE_GATE | 1u))
		return nw != 0;
	uint32_t at = atomic_load_explicit(&ctl->wake_at, memory_order_relaxed);
	return (int32_t)(tail - at) >= 0;
}

/*
 * Consumer, before sleeping: announce it (add to need_wakeup: the broker
 * stores 1, the client counts threads), then fence, then sample wake_seq.
 * The caller must re-check the ring AFTER this call and only then wait for
 * wake_seq to move away from the returned value.  A counting (CQ) sleeper
 * that cannot be done before the tail reaches `at` passes gated: if it is
 * alone it takes the gate (above), else it just counts.
 */
static inline uint32_t bk_ring_sleep_prepare_until(struct bk_ring_ctl *ctl, bool gated, uint32_t at)
{
	uint32_t v = 0;
	if (gated && atomic_compare_exchange_strong_explicit(&ctl->need_wakeup, &v, BK_WAKE_PREP | 1u,
							     memory_order_seq_cst, memory_order_relaxed)) {
		/* Alone, holding PREP: nobody else writes wake_at until we give the word back. */
		atomic_store_explicit(&ctl->wake_at, at, memory_order_relaxed);
		v = BK_WAKE_PREP | 1u;
		/* Release: published with wake_at.  Fails if another sleeper came meanwhile: then only count. */
		if (!atomic_compare_exchange_strong_explicit(&ctl->need_wakeup, &v, BK_WAKE_GATE | 1u,
							     memory_order_seq_cst, memory_order_relaxed))
			atomic_fetch_and_explicit(&ctl->need_wakeup, ~BK_WAKE_PREP, memory_order_seq_cst);
	} else {
		uint32_t prior = atomic_fetch_add_explicit(&ctl->need_wakeup, 1, memory_order_seq_cst);
		if (prior & BK_WAKE_GATE) /* the word said GATE|2 meanwhile, which is not a gate */
			atomic_fetch_and_explicit(&ctl->need_wakeup, ~BK_WAKE_GATE, memory_order_seq_cst);
	}
	/* Pairs with the fence in bk_ring_wake_needed()/bk_ring_sleepers() (Dekker). */
	atomic_thread_fence(memory_order_seq_cst);
	return atomic_load_explicit(&ctl->wake_seq, memory_order_acquire);
}

static inline uint32_t bk_ring_sleep_prepare(struct bk_ring_ctl *ctl, bool counting)
{
	if (counting)
		return bk_ring_sleep_prepare_until(ctl, false, 0);
	atomic_store_explicit(&ctl->need_wakeup, 1, memory_order_relaxed);
	/* Pairs with the fence in bk_ring_wake_needed() (Dekker). */
	atomic_thread_fence(memory_order_seq_cst);
	return atomic_load_explicit(&ctl->wake_seq, memory_order_acquire);
}

/*
 * Consumer, awake again.  Counting: one sleeper less and no gate (a gate
 * left up would be a stranger's: only a lone sleeper holds it).  Release,
 * so the next sleeper that reads the word sees what this thread did before
 * (the futures it marked done).  A stale nonzero value only costs the
 * producer a spare wake.
 */
static inline void bk_ring_sleep_finish(struct bk_ring_ctl *ctl, bool counting)
{
	if (!counting) {
		atomic_store_explicit(&ctl->need_wakeup, 0, memory_order_relaxed);
		return;
	}
	uint32_t v = atomic_load_explicit(&ctl->need_wakeup, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(&ctl->need_wakeup, &v, (v & ~BK_WAKE_GATE) - 1u,
						      memory_order_release, memory_order_relaxed))
		;
}

/*
 * bk_sqe.seq for the entry at ring position pos: the position's lap (pos over
 * the capacity) in the low 15 bits, with the top bit set.  The previous write
 * of the same entry was one lap earlier, so a stale entry never matches, and
 * neither do zeroed memory nor a producer that leaves seq at 0.
 */
static inline uint16_t bk_sqe_seq(uint32_t pos, unsigned shift)
{
	return (uint16_t)(0x8000u | ((pos >> shift) & 0x7fffu));
}

/* ======================= broker side ======================================= */

/* SQ consumer: the broker's view of one connection's submission ring. */
struct bk_sq_consumer {
	struct bk_ring_ctl *ctl;
	const struct bk_sqe *ring;
	uint32_t head; /* private and authoritative; the shared head is only a copy for the client */
	uint32_t mask;
	uint32_t entries;
	unsigned shift; /* log2(entries), for bk_sqe_seq */
	uint32_t tail_seen; /* the client's tail as last read: it never moves back */
};

static inline void bk_sq_consumer_init(struct bk_sq_consumer *c, struct bk_ring_ctl *ctl, const struct bk_sqe *ring,
				       uint32_t entries, uint32_t start)
{
	c->ctl = ctl;
	c->ring = ring;
	c->head = start;
	c->mask = entries - 1;
	c->entries = entries;
	c->shift = (unsigned)__builtin_ctz(entries);
	c->tail_seen = start;
}

/*
 * Number of published, unconsumed entries, or -EPROTO when the client's tail
 * is impossible: moved back since we last read it, or more than the capacity
 * ahead of our head.  The tail is read exactly once; the acquire pairs with
 * the client's store-release of tail so the entries before it are visible.
 *
 * When the tail shows nothing, the entry at our head is asked directly: the
 * producer stores its seq word last, with release (bk_sq_producer_write), so
 * an acquire load that finds the seq of our head's position makes the whole
 * entry visible, one cache line before the tail arrives (bk_sqe_seq: a stale
 * entry of the previous lap, zeroed memory or a producer that does not set
 * seq never match).  Having taken entries that way, our head may be ahead of
 * a tail still on its way: that reads as "nothing more".
 */
static inline int bk_sq_consumer_avail(struct bk_sq_consumer *c)
{
	uint32_t tail = atomic_load_explicit(&c->ctl->tail, memory_order_acquire);
	int32_t n = (int32_t)(tail - c->head);
	if ((int32_t)(tail - c->tail_seen) < 0 || n > (int32_t)c->entries)
		return -EPROTO;
	c->tail_seen = tail;
	if (n > 0)
		return n;
	const uint64_t *w0 = (const uint64_t *)(const void *)&c->ring[c->head & c->mask];
	uint64_t word = __atomic_load_n(w0, __ATOMIC_ACQUIRE);
	struct bk_sqe head;
	memcpy(&head, &word, sizeof(word));
	return head.seq == bk_sqe_seq(c->head, c->shift) ? 1 : 0;
}

/* Copy the i-th available entry (i < the value avail returned) into private memory.  seq belongs to the
 * ring, not to the entry: the copy has it at 0. */
static inline void bk_sq_consumer_read(const struct bk_sq_consumer *c, uint32_t i, struct bk_sqe *out)
{
	bk_shm_read_u64s(out, &c->ring[(c->head + i) & c->mask], sizeof(*out) / 8);
	out->seq = 0;
}

/*
 * Give n entries back to the client.  Release: our reads of those entries
 * happen before the client can see the head move and overwrite them.
 */
static inline void bk_sq_consumer_release(struct bk_sq_consumer *c, uint32_t n)
{
	c->head += n;
	atomic_store_explicit(&c->ctl->head, c->head, memory_order_release);
}

/* CQ producer: the broker's view of one connection's completion ring. */
struct bk_cq_producer {
	struct bk_ring_ctl *ctl;
	struct bk_cqe *ring;
	uint32_t tail; /* private and authoritative */
	uint32_t mask;
	uint32_t entries;
	uint32_t head_seen; /* last client head validated by bk_cq_producer_space_min() */
};

static inline void bk_cq_producer_init(struct bk_cq_producer *p, struct bk_ring_ctl *ctl, struct bk_cqe *ring,
				       uint32_t entries, uint32_t start)
{
	p->ctl = ctl;
	p->ring = ring;
	p->tail = start;
	p->mask = entries - 1;
	p->entries = entries;
	p->head_seen = start - entries; /* "full": the first space_min() loads the real head */
}

/*
 * Free entries, or -EPROTO if the client's head is impossible (ahead of our
 * tail or more than capacity behind).  The head is read once; the acquire
 * pairs with the client's release when it advanced head, so its reads of the
 * entries we are about to overwrite are complete.
 */
static inline int bk_cq_producer_space(const struct bk_cq_producer *p)
{
	uint32_t head = atomic_load_explicit(&p->ctl->head, memory_order_acquire);
	uint32_t used = p->tail - head;
	if (used > p->entries)
		return -EPROTO;
	return (int)(p->entries - used);
}

/*
 * Like bk_cq_producer_space(), but answers from the last head it validated
 * when that already shows at least `want` free entries, and loads (acquire)
 * and validates the client's head only otherwise.  The client advances its
 * head on every reap; reading it on every flush would pull that cache line
 * across on every completion batch.  A cached head is never ahead of the
 * real one, so the answer never overstates the space, and the entries it
 * admits were released by the acquire load that produced the cached value.
 */
static inline int bk_cq_producer_space_min(struct bk_cq_producer *p, uint32_t want)
{
	uint32_t used = p->tail - p->head_seen;
	if (used <= p->entries && p->entries - used >= want)
		return (int)(p->entries - used);
	uint32_t head = atomic_load_explicit(&p->ctl->head, memory_order_acquire);
	used = p->tail - head;
	if (used > p->entries)
		return -EPROTO;
	p->head_seen = head;
	return (int)(p->entries - used);
}

/* Write the i-th new entry (i < the space returned); visible after publish. */
static inline void bk_cq_producer_write(struct bk_cq_producer *p, uint32_t i, const struct bk_cqe *e)
{
	bk_shm_write_u64s(&p->ring[(p->tail + i) & p->mask], e, sizeof(*e) / 8);
}

/* Publish n written entries.  Release: the entry writes happen before the tail moves. */
static inline void bk_cq_producer_publish(struct bk_cq_producer *p, uint32_t n)
{
	p->tail += n;
	atomic_store_explicit(&p->ctl->tail, p->tail, memory_order_release);
}

/* ======================= client side ======================================= */

/* SQ producer.  Not thread-safe: the client serialises submitters around it. */
struct bk_sq_producer {
	struct bk_ring_ctl *ctl;
	struct bk_sqe *ring;
	uint32_t tail; /* private copy of what we published */
	uint32_t mask;
	uint32_t entries;
	unsigned shift; /* log2(entries), for bk_sqe_seq */
	uint32_t head_seen; /* last broker head seen by bk_sq_producer_space_min() */
};

static inline void bk_sq_producer_init(struct bk_sq_producer *p, struct bk_ring_ctl *ctl, struct bk_sqe *ring,
				       uint32_t entries)
{
	p->ctl = ctl;
	p->ring = ring;
	p->tail = atomic_load_explicit(&ctl->tail, memory_order_relaxed);
	p->mask = entries - 1;
	p->entries = entries;
	p->shift = (unsigned)__builtin_ctz(entries);
	p->head_seen = p->tail - entries; /* "full": the first space_min() loads the real head */
}

/*
 * Free entries.  The acquire on head pairs with the broker's release in
 * bk_sq_consumer_release(): entries it has given back are no longer read.
 * An impossible head (broker bug or corruption) reads as "full".
 */
static inline uint32_t bk_sq_producer_space(const struct bk_sq_producer *p)
{
	uint32_t head = atomic_load_explicit(&p->ctl->head, memory_order_acquire);
	uint32_t used = p->tail - head;
	return used > p->entries ? 0 : p->entries - used;
}

/*
 * Like bk_sq_producer_space(), but answers from the last head it saw when
 * that already shows at least `want` free entries, and loads the broker's
 * head (acquire) only otherwise: a producer that is ahead of the broker then
 * does not pull the head's cache line across on every submission.  The
 * cached head is never ahead of the real one, so the answer never overstates
 * the space, and the entries it admits were released by the acquire load
 * that produced the cached value.  Serialised like the rest of the producer.
 */
static inline uint32_t bk_sq_producer_space_min(struct bk_sq_producer *p, uint32_t want)
{
	uint32_t used = p->tail - p->head_seen;
	if (used <= p->entries && p->entries - used >= want)
		return p->entries - used;
	uint32_t head = atomic_load_explicit(&p->ctl->head, memory_order_acquire);
	used = p->tail - head;
	if (used > p->entries)
		return 0;
	p->head_seen = head;
	return p->entries - used;
}

/*
 * Write the i-th entry after the tail.  The word holding seq goes last, with
 * release: a consumer that acquires it sees the rest of the entry (ring.h,
 * bk_sq_consumer_avail).  The release store costs nothing extra on x86.
 */
static inline void bk_sq_producer_write(struct bk_sq_producer *p, uint32_t i, const struct bk_sqe *e)
{
	uint16_t seq = bk_sqe_seq(p->tail + i, p->shift);
	uint64_t *d = (uint64_t *)(void *)&p->ring[(p->tail + i) & p->mask];
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/*
	 * The words are built from the fields (proto.h's asserts fix where each
	 * sits), not copied out of a struct the caller has just written field by
	 * field: a load of 8 or 16 bytes over several smaller stores cannot be
	 * forwarded from the store buffer, and that stall was the largest item of
	 * a window-256 client's profile.
	 */
	uint64_t w[4] = {
		(uint64_t)e->op | (uint64_t)e->flags << 8 | (uint64_t)seq << 16 | (uint64_t)e->fn << 32,
		(uint64_t)e->slot | (uint64_t)e->gen << 32,
		(uint64_t)e->arg_off | (uint64_t)e->arg_len << 32,
		(uint64_t)e->res_off | (uint64_t)e->res_cap << 32,
	};
#else
	struct bk_sqe x = *e;
	x.seq = seq;
	uint64_t w[4];
	memcpy(w, &x, sizeof(w));
#endif
	for (unsigned k = 1; k < 4; k++)
		__atomic_store_n(&d[k], w[k], __ATOMIC_RELAXED);
	__atomic_store_n(d, w[0], __ATOMIC_RELEASE);
}

/* Release: the entries are written before the broker can see the tail move. */
static inline void bk_sq_producer_publish(struct bk_sq_producer *p, uint32_t n)
{
	p->tail += n;
	atomic_store_explicit(&p->ctl->tail, p->tail, memory_order_release);
}

/* CQ consumer.  Safe to call from many threads at once: head advances by CAS. */
struct bk_cq_consumer {
	struct bk_ring_ctl *ctl;
	const struct bk_cqe *ring;
	uint32_t mask;
	uint32_t entries;
};

static inline void bk_cq_consumer_init(struct bk_cq_consumer *c, struct bk_ring_ctl *ctl, const struct bk_cqe *ring,
				       uint32_t entries)
{
	c->ctl = ctl;
	c->ring = ring;
	c->mask = entries - 1;
	c->entries = entries;
}

/* True when the CQ holds entries (a cheap peek, no claim). */
static inline bool bk_cq_consumer_pending(const struct bk_cq_consumer *c)
{
	uint32_t head = atomic_load_explicit(&c->ctl->head, memory_order_relaxed);
	return atomic_load_explicit(&c->ctl->tail, memory_order_acquire) != head;
}

/*
 * Claim up to max entries into out[].  Returns how many (0 when empty).
 * The entries are copied first and then claimed with a CAS on head; the CAS
 * is a release so those reads finish before the broker may reuse the entries.
 * A thread that loses the CAS throws its copy away and retries from the new
 * head, so every entry is returned to exactly one caller.  The acquire on
 * tail pairs with the broker's release in bk_cq_producer_publish().
 */
static inline unsigned bk_cq_consumer_reap(struct bk_cq_consumer *c, struct bk_cqe *out, unsigned max)
{
	uint32_t head = atomic_load_explicit(&c->ctl->head, memory_order_relaxed);
	for (;;) {
		uint32_t tail = atomic_load_explicit(&c->ctl->tail, memory_order_acquire);
		uint32_t n = tail - head;
		if (n == 0) {
			/* As in bk_sq_consumer_avail(): overlap the next entry's miss with the tail's. */
			__builtin_prefetch(&c->ring[head & c->mask], 0, 3);
			return 0;
		}
		if (n > c->entries) {
			/* Our head went stale while others reaped, or the broker is broken: re-read once. */
			uint32_t now = atomic_load_explicit(&c->ctl->head, memory_order_relaxed);
			if (now == head)
				return 0; /* a broker bug we refuse to act on */
			head = now;
			continue;
		}
		if (n > max)
			n = max;
		for (uint32_t i = 0; i < n; i++)
			bk_shm_read_u64s(&out[i], &c->ring[(head + i) & c->mask], sizeof(out[i]) / 8);
		if (atomic_compare_exchange_weak_explicit(&c->ctl->head, &head, head + n, memory_order_release,
							  memory_order_relaxed))
			return n;
	}
}

#endif /* BROKER_RING_H */
