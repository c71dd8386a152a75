// SPDX-License-Identifier: MIT
/*
 * proto.h - layout of the shared region between brokerd and libbkclient.
 *
 * One region per connection: a sealed memfd that brokerd creates and both
 * sides map.  Everything here is fixed-width, explicitly padded and located by
 * offsets (never pointers), so that two builds agree byte for byte or refuse
 * each other through the layout hash.  Used by broker/ and client-lib/ only;
 * NOT installed: applications see client.h.
 *
 *   header | sq ctl | sq entries | cq ctl | cq entries | slots | arena
 *
 * The arena starts with one inline payload area per slot (nslots *
 * slot_inline bytes), followed by the client-managed "large" area used for
 * zero-copy payloads.  All arena offsets in ring entries are relative to the
 * start of the arena.
 */
#ifndef BROKER_PROTO_H
#define BROKER_PROTO_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define BK_REGION_MAGIC 0x4752424bu /* "BKRG" in little-endian memory order */
#define BK_ABI_MAJOR 1
#define BK_ABI_MINOR 2 /* 1: bk_sqe.seq; 2: bk_sqe.flags (priority, deadline) and bk_slot.deadline_ns */
#define BK_CACHELINE 64
#define BK_PAGE 4096u

/* Geometry limits enforced by the broker (and re-checked by the client). */
#define BK_RING_MIN 8u
#define BK_RING_MAX 65536u
#define BK_SLOTS_MIN 8u
#define BK_SLOTS_MAX 65536u
#define BK_INLINE_MIN 64u
#define BK_INLINE_MAX 65536u
#define BK_ARENA_MAX (1u << 30) /* whole arena, inline + large: offsets are u32 */

/*
 * Defaults a client gets when it asks for 0: sized for a typical app, not for
 * a benchmark (docs/ARCHITECTURE.md, "Small by default").  The rings are the
 * only parts every app touches whole, as their counters go round; slots,
 * inline buffers and the zero-copy area are touched only as far as used.
 */
#define BK_DEFAULT_SQ 256u
#define BK_DEFAULT_SLOTS 256u
#define BK_DEFAULT_INLINE 256u
#define BK_DEFAULT_LARGE (4u << 20)

/* bk_ring_ctl.need_wakeup: nonzero while the consumer side has sleepers. */
/* bk_region_hdr.features */
#define BK_FEAT_SQ_FUTEX 0x1u /* broker sleeps on sq.wake_seq (FUTEX_WAIT in io_uring) */
#define BK_FEAT_SQ_EVENTFD 0x2u /* older kernel: wake the broker by writing the eventfd passed in the handshake */

/* bk_region_hdr.broker_state */
#define BK_BROKER_RUNNING 0u
#define BK_BROKER_DRAINING 1u /* shutting down: no new submissions are accepted */
#define BK_BROKER_GONE 2u /* the connection is closed by the broker */

/*
 * Control block of one ring.  Each field has exactly one writer side; the
 * four groups live on separate cache lines so that producer and consumer do
 * not bounce each other's lines.
 *   head        consumer-written: entries before it have been consumed
 *   tail        producer-written: entries before it are published
 *   need_wakeup consumer-written: nonzero while the consumer sleeps (SQ: the
 *               broker sets 1; CQ: the client counts its sleeping threads,
 *               with two flag bits on top for the wake gate: ring.h)
 *   notify_armed (CQ only) client-written: 1 asks the broker to signal the
 *               client's eventfd after its next completions; the broker swaps
 *               it back to 0 when it does
 *   wake_at     (CQ only) client-written: while need_wakeup says the one
 *               sleeping thread holds the gate (ring.h), it needs the tail at
 *               or past wake_at (it waits for that many completions at least:
 *               bk_wait_all), so the broker leaves it asleep until then.  It
 *               was padding: an older client never raises the gate (woken as
 *               before) and an older broker sees a nonzero need_wakeup (a spare
 *               wake-up), so it is not in the layout hash.  A wrong value only
 *               delays its own client, which sleeps in bounded slices anyway.
 *   wake_seq    producer-written futex word: bumped before each wake-up so a
 *               consumer that sampled it before re-checking the ring cannot
 *               miss the wake (FUTEX_WAIT fails if it moved)
 */
struct bk_ring_ctl {
	alignas(BK_CACHELINE) _Atomic uint32_t head;
	uint8_t pad0[BK_CACHELINE - 4];
	alignas(BK_CACHELINE) _Atomic uint32_t tail;
	uint8_t pad1[BK_CACHELINE - 4];
	alignas(BK_CACHELINE) _Atomic uint32_t need_wakeup;
	_Atomic uint32_t notify_armed;
	_Atomic uint32_t wake_at; /* CQ only: the wake gate's tail (ring.h) */
	uint8_t pad2[BK_CACHELINE - 12];
	alignas(BK_CACHELINE) _Atomic uint32_t wake_seq;
	uint8_t pad3[BK_CACHELINE - 4];
};

/* Submission opcodes (bk_sqe.op). */
#define BK_OP_CALL 1u /* run function fn on arg, write the result into res */
#define BK_OP_CANCEL 2u /* cancel the task in slot/gen; completes it with -ECANCELED */

/*
 * bk_sqe.flags of a BK_OP_CALL (ABI 1.2).  The low two bits are the lane
 * (docs/ARCHITECTURE.md, "Priorities"); BK_SQE_F_DEADLINE says the slot's
 * deadline_ns holds an absolute CLOCK_MONOTONIC deadline, written before the
 * entry is published (so the entry's release store orders it).  Any other bit
 * or lane 3 completes the call with -EINVAL.
 */
#define BK_SQE_PRIO_MASK 0x03u
#define BK_SQE_F_DEADLINE 0x04u
#define BK_SQE_F_DURABLE 0x08u /* a durable job of a --cluster brokerd (bk_call.flags BK_CALL_DURABLE) */
#define BK_SQE_F_JOB_ID 0x10u /* the argument starts with a BK_JOB_ID_LEN-byte job id (BK_CALL_JOB_ID) */
#define BK_SQE_F_KNOWN (BK_SQE_PRIO_MASK | BK_SQE_F_DEADLINE | BK_SQE_F_DURABLE | BK_SQE_F_JOB_ID)
#define BK_JOB_ID_LEN 48u /* NUL-padded */
#define BK_SQE_PRIO_NORMAL 0u
#define BK_SQE_PRIO_INTERACTIVE 1u
#define BK_SQE_PRIO_BACKGROUND 2u

/*
 * Submission entry, client -> broker.  arg and res are ranges of the arena
 * (offsets relative to the arena start).  For BK_OP_CANCEL only slot and gen
 * matter; it produces no completion of its own.
 *
 * seq (ABI 1.1) names the lap of the entry's ring position (ring.h,
 * bk_sqe_seq) and is stored last of the entry with release ordering: a
 * broker polling an empty ring sees an entry as soon as its own cache line
 * arrives, before the tail's.
 * The tail stays authoritative for everything else; a producer that leaves
 * seq at 0 only loses that head start.
 */
struct bk_sqe {
	uint8_t op;
	uint8_t flags;
	uint16_t seq;
	uint32_t fn; /* function id from a lookup */
	uint32_t slot; /* slot index, < nslots */
	uint32_t gen; /* generation of this use of the slot, echoed in the cqe */
	uint32_t arg_off;
	uint32_t arg_len;
	uint32_t res_off;
	uint32_t res_cap;
};

/*
 * Completion entry, broker -> client.  status is 0 or a negative errno;
 * -ENOBUFS means the result buffer was too small and res_len is then the size
 * that was needed.
 */
struct bk_cqe {
	uint32_t slot;
	uint32_t gen;
	int32_t status;
	uint32_t res_len;
};

/* bk_slot.state, written by the client for its own bookkeeping. */
#define BK_SLOT_FREE 0u
#define BK_SLOT_SUBMITTED 1u

/*
 * One slot per future.  The broker never trusts these fields: it tracks what
 * is in flight in its own memory.  On completion it writes status and
 * res_len, then stores the task's generation into done_gen with release
 * ordering, then posts the cqe.  done_gen is a futex-capable word: a client
 * thread can test (or wait on) its own future without reaping the CQ.
 */
struct bk_slot {
	_Atomic uint32_t state; /* client-written, optional (libbkclient keeps it privately: one line transfer less per task) */
	uint32_t gen; /* client-written, optional: generation of the current use */
	int32_t status; /* broker-written */
	uint32_t res_len; /* broker-written */
	_Atomic uint32_t done_gen; /* broker-written futex word: gen of the last completed use */
	uint32_t rsvd;
	uint64_t deadline_ns; /* client-written when the sqe has BK_SQE_F_DEADLINE: CLOCK_MONOTONIC ns */
};

/*
 * Region header.  The broker fills every field, then stores magic last with
 * release ordering; the client loads magic with acquire before reading
 * anything else.  Offsets are from the region start.
 */
struct bk_region_hdr {
	_Atomic uint32_t magic;
	uint16_t abi_major;
	uint16_t abi_minor;
	uint64_t layout_hash;
	uint64_t region_size;
	uint32_t sq_entries; /* power of two */
	uint32_t cq_entries; /* power of two, >= nslots so the CQ cannot overflow */
	uint32_t nslots;
	uint32_t slot_inline; /* bytes of inline payload per slot, multiple of 64 */
	uint64_t sq_ctl_off;
	uint64_t sq_ring_off;
	uint64_t cq_ctl_off;
	uint64_t cq_ring_off;
	uint64_t slots_off;
	uint64_t arena_off;
	uint64_t arena_size; /* inline area + large area */
	uint64_t large_off; /* arena-relative start of the client-managed large area */
	uint64_t large_size;
	uint64_t broker_epoch; /* identifies the brokerd instance that made the region */
	uint32_t conn_id;
	uint32_t features; /* BK_FEAT_* */
	uint8_t rsvd0[16];
	alignas(BK_CACHELINE) _Atomic uint32_t broker_state; /* BK_BROKER_* */
	uint8_t rsvd1[BK_CACHELINE - 4];
};

/* ---- compile-time layout checks ---------------------------------------- */

_Static_assert(sizeof(struct bk_ring_ctl) == 4 * BK_CACHELINE, "ring ctl size");
_Static_assert(offsetof(struct bk_ring_ctl, head) == 0, "head offset");
_Static_assert(offsetof(struct bk_ring_ctl, tail) == 64, "tail offset");
_Static_assert(offsetof(struct bk_ring_ctl, need_wakeup) == 128, "need_wakeup offset");
_Static_assert(offsetof(struct bk_ring_ctl, notify_armed) == 132, "notify_armed offset");
_Static_assert(offsetof(struct bk_ring_ctl, wake_at) == 136, "wake_at offset");
_Static_assert(offsetof(struct bk_ring_ctl, wake_seq) == 192, "wake_seq offset");
_Static_assert(sizeof(_Atomic uint32_t) == 4 && alignof(_Atomic uint32_t) == 4, "atomic u32");

_Static_assert(sizeof(struct bk_sqe) == 32, "sqe size");
_Static_assert(offsetof(struct bk_sqe, op) == 0, "sqe op");
_Static_assert(offsetof(struct bk_sqe, flags) == 1, "sqe flags");
_Static_assert(offsetof(struct bk_sqe, seq) == 2, "sqe seq");
_Static_assert(offsetof(struct bk_sqe, fn) == 4, "sqe fn");
_Static_assert(offsetof(struct bk_sqe, slot) == 8, "sqe slot");
_Static_assert(offsetof(struct bk_sqe, gen) == 12, "sqe gen");
_Static_assert(offsetof(struct bk_sqe, arg_off) == 16, "sqe arg_off");
_Static_assert(offsetof(struct bk_sqe, arg_len) == 20, "sqe arg_len");
_Static_assert(offsetof(struct bk_sqe, res_off) == 24, "sqe res_off");
_Static_assert(offsetof(struct bk_sqe, res_cap) == 28, "sqe res_cap");

_Static_assert(sizeof(struct bk_cqe) == 16, "cqe size");
_Static_assert(offsetof(struct bk_cqe, gen) == 4, "cqe gen");
_Static_assert(offsetof(struct bk_cqe, status) == 8, "cqe status");
_Static_assert(offsetof(struct bk_cqe, res_len) == 12, "cqe res_len");

_Static_assert(sizeof(struct bk_slot) == 32, "slot size");
_Static_assert(offsetof(struct bk_slot, gen) == 4, "slot gen");
_Static_assert(offsetof(struct bk_slot, status) == 8, "slot status");
_Static_assert(offsetof(struct bk_slot, res_len) == 12, "slot res_len");
_Static_assert(offsetof(struct bk_slot, done_gen) == 16, "slot done_gen");
_Static_assert(offsetof(struct bk_slot, deadline_ns) == 24, "slot deadline_ns");

_Static_assert(sizeof(struct bk_region_hdr) == 256, "header size");
_Static_assert(offsetof(struct bk_region_hdr, layout_hash) == 8, "hdr hash");
_Static_assert(offsetof(struct bk_region_hdr, region_size) == 16, "hdr size");
_Static_assert(offsetof(struct bk_region_hdr, sq_entries) == 24, "hdr sq_entries");
_Static_assert(offsetof(struct bk_region_hdr, sq_ctl_off) == 40, "hdr sq_ctl_off");
_Static_assert(offsetof(struct bk_region_hdr, large_size) == 104, "hdr large_size");
_Static_assert(offsetof(struct bk_region_hdr, broker_epoch) == 112, "hdr epoch");
_Static_assert(offsetof(struct bk_region_hdr, conn_id) == 120, "hdr conn_id");
_Static_assert(offsetof(struct bk_region_hdr, features) == 124, "hdr features");
_Static_assert(offsetof(struct bk_region_hdr, broker_state) == 192, "hdr broker_state");

/*
 * Layout hash: FNV-1a style mixing of every size and offset above, an integer
 * constant expression so each build carries it as a literal.  Two builds whose
 * shared structs differ in any way get different hashes and refuse each other.
 */
#define BK_H_(h, v) ((((uint64_t)(h)) ^ (uint64_t)(v)) * 0x100000001b3ull)
#define BK_H4_(h, a, b, c, d) BK_H_(BK_H_(BK_H_(BK_H_(h, a), b), c), d)
#define BK_LAYOUT_HASH_RING_                                                                                      \
	BK_H4_(BK_H4_(0xcbf29ce484222325ull, sizeof(struct bk_ring_ctl), offsetof(struct bk_ring_ctl, head),        \
		      offsetof(struct bk_ring_ctl, tail), offsetof(struct bk_ring_ctl, need_wakeup)),               \
	       offsetof(struct bk_ring_ctl, notify_armed), offsetof(struct bk_ring_ctl, wake_seq), BK_CACHELINE, 1)
#define BK_LAYOUT_HASH_SQE_                                                                                       \
	BK_H4_(BK_H4_(BK_H4_(BK_LAYOUT_HASH_RING_, sizeof(struct bk_sqe), offsetof(struct bk_sqe, op),              \
			     offsetof(struct bk_sqe, flags), offsetof(struct bk_sqe, fn)),                          \
		      offsetof(struct bk_sqe, slot), offsetof(struct bk_sqe, gen), offsetof(struct bk_sqe, arg_off),  \
		      offsetof(struct bk_sqe, arg_len)),                                                            \
	       offsetof(struct bk_sqe, res_off), offsetof(struct bk_sqe, res_cap), 2, 2)
#define BK_LAYOUT_HASH_CQE_SLOT_                                                                                  \
	BK_H4_(BK_H4_(BK_H4_(BK_LAYOUT_HASH_SQE_, sizeof(struct bk_cqe), offsetof(struct bk_cqe, slot),             \
			     offsetof(struct bk_cqe, gen), offsetof(struct bk_cqe, status)),                        \
		      offsetof(struct bk_cqe, res_len), sizeof(struct bk_slot), offsetof(struct bk_slot, state),      \
		      offsetof(struct bk_slot, gen)),                                                               \
	       offsetof(struct bk_slot, status), offsetof(struct bk_slot, res_len),                                  \
	       offsetof(struct bk_slot, done_gen), offsetof(struct bk_slot, deadline_ns))
#define BK_LAYOUT_HASH_HDR_                                                                                       \
	BK_H4_(BK_H4_(BK_H4_(BK_H4_(BK_LAYOUT_HASH_CQE_SLOT_, sizeof(struct bk_region_hdr),                         \
				    offsetof(struct bk_region_hdr, magic), offsetof(struct bk_region_hdr, abi_major), \
				    offsetof(struct bk_region_hdr, layout_hash)),                                     \
			     offsetof(struct bk_region_hdr, region_size), offsetof(struct bk_region_hdr, sq_entries), \
			     offsetof(struct bk_region_hdr, cq_entries), offsetof(struct bk_region_hdr, nslots)),     \
		      offsetof(struct bk_region_hdr, slot_inline), offsetof(struct bk_region_hdr, sq_ctl_off),        \
		      offsetof(struct bk_region_hdr, arena_off), offsetof(struct bk_region_hdr, large_off)),          \
	       offsetof(struct bk_region_hdr, broker_epoch), offsetof(struct bk_region_hdr, conn_id),                \
	       offsetof(struct bk_region_hdr, features), offsetof(struct bk_region_hdr, broker_state))
#define BK_LAYOUT_HASH ((uint64_t)BK_LAYOUT_HASH_HDR_)

_Static_assert(BK_LAYOUT_HASH != 0, "layout hash is a constant expression");

/* ---- geometry and layout computation (shared by both sides) -------------- */

/* What a client asks for; 0 means "default".  Sent in the handshake. */
struct bk_geometry {
	uint32_t sq_entries;
	uint32_t cq_entries;
	uint32_t nslots;
	uint32_t slot_inline;
	uint64_t large_size;
};
_Static_assert(sizeof(struct bk_geometry) == 24, "geometry size");

/* Where everything lives for a given (already clamped) geometry. */
struct bk_layout {
	uint64_t sq_ctl_off, sq_ring_off, cq_ctl_off, cq_ring_off, slots_off, arena_off;
	uint64_t arena_size, large_off, large_size, region_size;
};

static inline uint32_t bk_pow2_ceil(uint32_t v)
{
	uint32_t p = 1;
	while (p < v && p < (1u << 31))
		p <<= 1;
	return p;
}

static inline uint64_t bk_align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/*
 * Turn a request into a valid geometry: 0 becomes the default, ring sizes
 * become powers of two within limits, the CQ is at least as deep as the slot
 * table (one cqe per in-flight slot, so it can never overflow), the inline
 * size is a multiple of 64 and the large area is page-rounded and capped so
 * the arena stays addressable by u32 offsets.  max_large lets the broker
 * impose a lower cap than BK_ARENA_MAX.  Returns 0, or -EINVAL when the
 * request is beyond what can be granted (never silently shrinks a large area
 * the client asked for).
 */
static inline int bk_geometry_clamp(const struct bk_geometry *req, uint64_t max_large, struct bk_geometry *out)
{
	struct bk_geometry g = *req;
	if (!g.sq_entries)
		g.sq_entries = BK_DEFAULT_SQ;
	if (!g.nslots)
		g.nslots = BK_DEFAULT_SLOTS;
	if (!g.slot_inline)
		g.slot_inline = BK_DEFAULT_INLINE;
	if (g.sq_entries > BK_RING_MAX || g.nslots > BK_SLOTS_MAX || g.cq_entries > BK_RING_MAX ||
	    g.slot_inline > BK_INLINE_MAX)
		return -22; /* EINVAL */
	g.sq_entries = bk_pow2_ceil(g.sq_entries < BK_RING_MIN ? BK_RING_MIN : g.sq_entries);
	if (g.nslots < BK_SLOTS_MIN)
		g.nslots = BK_SLOTS_MIN;
	if (g.cq_entries < g.nslots)
		g.cq_entries = g.nslots;
	g.cq_entries = bk_pow2_ceil(g.cq_entries < BK_RING_MIN ? BK_RING_MIN : g.cq_entries);
	if (g.cq_entries > BK_RING_MAX)
		return -22;
	if (g.slot_inline < BK_INLINE_MIN)
		g.slot_inline = BK_INLINE_MIN;
	g.slot_inline = (uint32_t)bk_align_up(g.slot_inline, 64);
	if (req->large_size == 0 && max_large >= BK_DEFAULT_LARGE)
		g.large_size = BK_DEFAULT_LARGE;
	if (g.large_size > max_large || g.large_size > BK_ARENA_MAX)
		return -22; /* checked before rounding: UINT64_MAX must not wrap to 0 */
	g.large_size = bk_align_up(g.large_size, BK_PAGE);
	uint64_t inl = bk_align_up((uint64_t)g.nslots * g.slot_inline, BK_PAGE);
	if (g.large_size > max_large || inl + g.large_size > BK_ARENA_MAX)
		return -22;
	*out = g;
	return 0;
}

/* Offsets for a clamped geometry.  Parts are cache-line aligned, the arena is page aligned. */
static inline void bk_layout_compute(const struct bk_geometry *g, struct bk_layout *l)
{
	uint64_t off = bk_align_up(sizeof(struct bk_region_hdr), BK_CACHELINE);
	l->sq_ctl_off = off;
	off += sizeof(struct bk_ring_ctl);
	l->sq_ring_off = off;
	off = bk_align_up(off + (uint64_t)g->sq_entries * sizeof(struct bk_sqe), BK_CACHELINE);
	l->cq_ctl_off = off;
	off += sizeof(struct bk_ring_ctl);
	l->cq_ring_off = off;
	off = bk_align_up(off + (uint64_t)g->cq_entries * sizeof(struct bk_cqe), BK_CACHELINE);
	l->slots_off = off;
	off += (uint64_t)g->nslots * sizeof(struct bk_slot);
	l->arena_off = bk_align_up(off, BK_PAGE);
	l->large_off = bk_align_up((uint64_t)g->nslots * g->slot_inline, BK_PAGE);
	l->large_size = g->large_size;
	l->arena_size = l->large_off + l->large_size;
	l->region_size = l->arena_off + l->arena_size;
}

/* Typed pointers into a mapped region, derived from a validated header. */
struct bk_region_view {
	void *base;
	uint64_t size;
	struct bk_region_hdr *hdr;
	struct bk_ring_ctl *sq_ctl;
	struct bk_sqe *sq;
	struct bk_ring_ctl *cq_ctl;
	struct bk_cqe *cq;
	struct bk_slot *slots;
	uint8_t *arena;
	struct bk_geometry geo;
	struct bk_layout layout;
};

static inline void bk_region_view_bind(struct bk_region_view *v, void *base, const struct bk_geometry *g,
				       const struct bk_layout *l)
{
	uint8_t *b = base;
	v->base = base;
	v->size = l->region_size;
	v->hdr = (struct bk_region_hdr *)b;
	v->sq_ctl = (struct bk_ring_ctl *)(b + l->sq_ctl_off);
	v->sq = (struct bk_sqe *)(b + l->sq_ring_off);
	v->cq_ctl = (struct bk_ring_ctl *)(b + l->cq_ctl_off);
	v->cq = (struct bk_cqe *)(b + l->cq_ring_off);
	v->slots = (struct bk_slot *)(b + l->slots_off);
	v->arena = b + l->arena_off;
	v->geo = *g;
	v->layout = *l;
}

#endif /* BROKER_PROTO_H */
