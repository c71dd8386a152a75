// SPDX-License-Identifier: MIT
/*
 * conn_rings.c - brokerd's validated engine for one connection's rings
 * (docs/ARCHITECTURE.md, "Rings"): consume the SQ with a private head, check every entry
 * against broker-private in-flight state, post completions with a private CQ
 * tail, and tell the caller which wake-ups to issue.
 *
 * Trust boundary: everything read from the region is copied once into
 * private memory (ring.h helpers) and validated; decisions are made only on
 * private state (gen[], inflight_bits, pending[]), never on what the broker
 * itself wrote to shared memory.
 *
 * Back-pressure: pending[] holds at most nslots completions.  The invariant
 * inflight + npending <= nslots guarantees it (each in-flight slot yields at
 * most one completion).  A client may legally reuse a slot once it has seen
 * done_gen, before reaping the CQ, so a client that never reaps could
 * otherwise grow the backlog without bound: fetch() therefore stops (leaving
 * the entry in the SQ) when accepting an entry would produce a completion
 * and the invariant would break.  That only happens while the CQ is full
 * (npending > 0); the worker retries flush() while backlog() > 0.  pending[]
 * is a ring (a power of two >= nslots): a flush that makes room for one
 * entry of a 64k backlog moves one entry, not the whole backlog.
 */
#include "conn_rings.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Statistics counters are read by other threads: single-writer updates, relaxed atomic stores. */
#define STAT_ADD(field, n) __atomic_store_n(&(field), (field) + (n), __ATOMIC_RELAXED)
#define STAT_SET(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)

int bkd_conn_rings_init(struct bkd_conn_rings *cr, const struct bk_region_view *v, uint32_t ring_start)
{
	memset(cr, 0, sizeof(*cr));
	cr->v = *v;
	uint32_t nslots = v->geo.nslots;
	cr->gen = calloc(nslots, sizeof(*cr->gen));
	cr->inflight_bits = calloc((nslots + 63) / 64, sizeof(*cr->inflight_bits));
	uint32_t cap = 1;
	while (cap < nslots)
		cap <<= 1;
	cr->pending_mask = cap - 1;
	cr->pending = calloc(cap, sizeof(*cr->pending));
	if (!cr->gen || !cr->inflight_bits || !cr->pending) {
		bkd_conn_rings_fini(cr);
		return -ENOMEM;
	}
	bk_sq_consumer_init(&cr->sq, v->sq_ctl, v->sq, v->geo.sq_entries, ring_start);
	bk_cq_producer_init(&cr->cq, v->cq_ctl, v->cq, v->geo.cq_entries, ring_start);
	return 0;
}

void bkd_conn_rings_fini(struct bkd_conn_rings *cr)
{
	free(cr->gen);
	free(cr->inflight_bits);
	free(cr->pending);
	cr->gen = NULL;
	cr->inflight_bits = NULL;
	cr->pending = NULL;
	cr->npending = 0;
}

static bool slot_busy(const struct bkd_conn_rings *cr, uint32_t slot)
{
	return (cr->inflight_bits[slot / 64] >> (slot % 64)) & 1u;
}

static void slot_mark(struct bkd_conn_rings *cr, uint32_t slot, uint32_t gen)
{
	cr->inflight_bits[slot / 64] |= (uint64_t)1 << (slot % 64);
	cr->gen[slot] = gen;
	STAT_ADD(cr->inflight, 1);
}

static void slot_clear(struct bkd_conn_rings *cr, uint32_t slot)
{
	cr->inflight_bits[slot / 64] &= ~((uint64_t)1 << (slot % 64));
	STAT_ADD(cr->inflight, (uint32_t)-1);
}

__attribute__((format(printf, 2, 3))) static void violation(struct bkd_conn_rings *cr, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cr->last_violation, sizeof(cr->last_violation), fmt, ap);
	va_end(ap);
	STAT_ADD(cr->violations, 1);
}

uint64_t bkd_conn_rings_deadline(const struct bkd_conn_rings *cr, uint32_t slot)
{
	/* One read of client memory (a hostile client may rewrite it): any value is a valid deadline. */
	return __atomic_load_n(&cr->v.slots[slot].deadline_ns, __ATOMIC_RELAXED);
}

bool bkd_conn_rings_inflight(const struct bkd_conn_rings *cr, uint32_t slot, uint32_t gen)
{
	return slot < cr->v.geo.nslots && slot_busy(cr, slot) && cr->gen[slot] == gen;
}

/* Room for one more completion-producing entry without breaking inflight + npending <= nslots. */
static bool completion_room(const struct bkd_conn_rings *cr)
{
	return cr->inflight + cr->npending < cr->v.geo.nslots;
}

/*
 * Validate one private copy.  Returns 1 to hand it to the caller, 0 when it
 * was consumed without being returned (violation or dropped cancel), -EAGAIN
 * when back-pressure says to stop before it (the entry stays in the SQ).
 */
static int check_entry(struct bkd_conn_rings *cr, const struct bk_sqe *e, uint32_t idx)
{
	const uint32_t nslots = cr->v.geo.nslots;
	const uint64_t arena = cr->v.layout.arena_size;
	const bool in_range = e->slot < nslots;
	const bool busy = in_range && slot_busy(cr, e->slot);
	const char *why = NULL;

	if (e->op == BK_OP_CANCEL) {
		if (!in_range) {
			violation(cr, "sqe %u: cancel of slot %u out of range (nslots %u)", idx, e->slot, nslots);
			return 0;
		}
		/* A cancel that raced with its completion (or names an older gen) is not an error. */
		return busy && cr->gen[e->slot] == e->gen ? 1 : 0;
	}
	if (!in_range) {
		violation(cr, "sqe %u: op %u on slot %u out of range (nslots %u)", idx, e->op, e->slot, nslots);
		return 0;
	}
	if (busy) {
		/* Never disturb the task that really owns the slot. */
		violation(cr, "sqe %u: op %u on slot %u already in flight (gen %u)", idx, e->op, e->slot,
			  cr->gen[e->slot]);
		return 0;
	}
	/* From here on the entry produces a completion (its own or -EINVAL). */
	if (!completion_room(cr))
		return -EAGAIN;
	if (e->op != BK_OP_CALL)
		why = "bad opcode";
	else if ((uint64_t)e->arg_off + e->arg_len > arena)
		why = "argument range past the arena";
	else if ((uint64_t)e->res_off + e->res_cap > arena)
		why = "result range past the arena";
	else if ((e->flags & ~BK_SQE_F_KNOWN) || (e->flags & BK_SQE_PRIO_MASK) == BK_SQE_PRIO_MASK)
		why = "unknown flags";
	if (why) {
		violation(cr, "sqe %u: %s (op %u slot %u arg %u+%u res %u+%u arena %llu)", idx, why, e->op, e->slot,
			  e->arg_off, e->arg_len, e->res_off, e->res_cap, (unsigned long long)arena);
		slot_mark(cr, e->slot, e->gen);
		bkd_conn_rings_complete(cr, e->slot, -EINVAL, 0);
		return 0;
	}
	slot_mark(cr, e->slot, e->gen);
	STAT_ADD(cr->submitted, 1);
	return 1;
}

int bkd_conn_rings_fetch(struct bkd_conn_rings *cr, struct bk_sqe *out, unsigned max)
{
	return bkd_conn_rings_fetch_bytes(cr, out, max, UINT64_MAX);
}

int bkd_conn_rings_fetch_bytes(struct bkd_conn_rings *cr, struct bk_sqe *out, unsigned max, uint64_t max_bytes)
{
	uint64_t bytes = 0;
	int avail = bk_sq_consumer_avail(&cr->sq);
	if (avail < 0) {
		/* Second read only for the message; the decision was made on the first. */
		uint32_t tail = atomic_load_explicit(&cr->sq.ctl->tail, memory_order_relaxed);
		violation(cr, "SQ tail %u impossible for head %u (capacity %u)", tail, cr->sq.head, cr->sq.entries);
		return -EPROTO;
	}
	uint32_t n = (uint32_t)avail < max ? (uint32_t)avail : max;
	uint32_t consumed = 0;
	int got = 0;
	for (; consumed < n; consumed++) {
		/*
		 * Copy straight into the caller's array and judge that private copy:
		 * an extra struct copy here costs a store-forwarding stall per entry
		 * (16-byte loads of data just stored as 8-byte words).  A rejected
		 * entry is simply overwritten by the next one.
		 */
		bk_sq_consumer_read(&cr->sq, consumed, &out[got]);
		int r = check_entry(cr, &out[got], cr->sq.head + consumed);
		if (r == -EAGAIN)
			break;
		if (r == 1) {
			bytes += (uint64_t)out[got].arg_len + out[got].res_cap;
			got++;
			if (bytes >= max_bytes) {
				consumed++;
				break;
			}
		}
	}
	if (consumed)
		bk_sq_consumer_release(&cr->sq, consumed);
	return got;
}

/*
 * While back-pressured (CQ full and the backlog at its bound) fetch() cannot
 * take a completion-producing entry, so report "nothing to do": the worker
 * may sleep instead of spinning on a client that does not reap; it comes
 * back through its backlog() retry of flush().  Impossible indices are
 * always reported so that fetch() can drop the connection.
 */
bool bkd_conn_rings_sq_pending(struct bkd_conn_rings *cr)
{
	int avail = bk_sq_consumer_avail(&cr->sq);
	if (avail < 0)
		return true;
	return avail > 0 && (cr->npending == 0 || completion_room(cr));
}

int bkd_conn_rings_complete(struct bkd_conn_rings *cr, uint32_t slot, int32_t status, uint32_t res_len)
{
	if (slot >= cr->v.geo.nslots || !slot_busy(cr, slot))
		return -EINVAL;
	uint32_t gen = cr->gen[slot];
	struct bk_slot *s = &cr->v.slots[slot];
	__atomic_store_n(&s->status, status, __ATOMIC_RELAXED);
	__atomic_store_n(&s->res_len, res_len, __ATOMIC_RELAXED);
	/* Release: a client that acquires done_gen == gen sees status and res_len (and the result bytes). */
	atomic_store_explicit(&s->done_gen, gen, memory_order_release);
	/* Cannot overflow: inflight + npending <= nslots and this slot leaves inflight as its cqe enters. */
	/*
	 * One 16-byte store: flush() reads the entry back as 8-byte words, which
	 * four separate 4-byte stores could not forward (a stall per entry).
	 */
	struct bk_cqe c = { .slot = slot, .gen = gen, .status = status, .res_len = res_len };
	memcpy(&cr->pending[(cr->pending_head + cr->npending) & cr->pending_mask], &c, sizeof(c));
	STAT_SET(cr->npending, cr->npending + 1);
	slot_clear(cr, slot);
	STAT_ADD(cr->completed, 1);
	return 0;
}

int bkd_conn_rings_flush(struct bkd_conn_rings *cr)
{
	if (cr->npending == 0)
		return 0;
	/* The client's head is loaded (and validated) only when the last one seen leaves too little room. */
	int space = bk_cq_producer_space_min(&cr->cq, cr->npending);
	if (space < 0) {
		uint32_t head = atomic_load_explicit(&cr->cq.ctl->head, memory_order_relaxed);
		violation(cr, "CQ head %u impossible for tail %u (capacity %u)", head, cr->cq.tail, cr->cq.entries);
		return -EPROTO;
	}
	uint32_t n = (uint32_t)space < cr->npending ? (uint32_t)space : cr->npending;
	if (n == 0)
		return 0;
	for (uint32_t i = 0; i < n; i++)
		bk_cq_producer_write(&cr->cq, i, &cr->pending[(cr->pending_head + i) & cr->pending_mask]);
	bk_cq_producer_publish(&cr->cq, n);
	cr->pending_head += n;
	STAT_SET(cr->npending, cr->npending - n);

	int result = 0;
	/* Fence inside: our tail store is ordered before the need_wakeup load (Dekker with the sleeper).  A
	 * lone sleeper in bk_wait_all that needs more completions than these is left asleep (ring.h). */
	uint32_t sleepers = bk_ring_sleepers(cr->cq.ctl);
	if (bk_ring_wake_due(cr->cq.ctl, sleepers, cr->cq.tail)) {
		bk_ring_wake_bump(cr->cq.ctl);
		result |= BKD_FLUSH_WAKE_FUTEX;
	}
	/*
	 * The client arms (store 1), fences, re-checks the CQ; we published the
	 * tail, fenced (in bk_ring_sleepers above), and now look: one of the
	 * two sees the other.  A plain load first keeps the locked exchange (a
	 * full barrier) off the common path where nobody armed.
	 */
	if (atomic_load_explicit(&cr->cq.ctl->notify_armed, memory_order_relaxed) &&
	    atomic_exchange(&cr->cq.ctl->notify_armed, 0) != 0)
		result |= BKD_FLUSH_NOTIFY_FD;
	return result;
}

uint32_t bkd_conn_rings_sleep_prepare(struct bkd_conn_rings *cr)
{
	return bk_ring_sleep_prepare(cr->sq.ctl, false);
}

void bkd_conn_rings_sleep_finish(struct bkd_conn_rings *cr)
{
	bk_ring_sleep_finish(cr->sq.ctl, false);
}

/*
 * Statistics may be asked for by another thread than the owning worker, so
 * they read only the shared (atomic) indices, never the worker's private
 * cursors; a hostile value is clamped and only ever shown, never acted on.
 */
static uint32_t depth(const struct bk_ring_ctl *ctl, uint32_t entries)
{
	uint32_t head = atomic_load_explicit(&((struct bk_ring_ctl *)ctl)->head, memory_order_relaxed);
	uint32_t tail = atomic_load_explicit(&((struct bk_ring_ctl *)ctl)->tail, memory_order_relaxed);
	int32_t d = (int32_t)(tail - head);
	/* A tail behind the head: the broker took entries by their seq before the tail arrived (ring.h). */
	if (d < 0)
		return 0;
	return (uint32_t)d > entries ? entries : (uint32_t)d;
}

uint32_t bkd_conn_rings_sq_depth(const struct bkd_conn_rings *cr)
{
	return depth(cr->v.sq_ctl, cr->v.geo.sq_entries);
}

uint32_t bkd_conn_rings_cq_depth(const struct bkd_conn_rings *cr)
{
	return depth(cr->v.cq_ctl, cr->v.geo.cq_entries);
}
