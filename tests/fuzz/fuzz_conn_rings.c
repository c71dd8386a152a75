// SPDX-License-Identifier: MIT
/*
 * fuzz_conn_rings.c - libFuzzer target: brokerd's ring validation engine
 * (broker/conn_rings.c) over a real region (broker/region.c) driven by a
 * hostile client.  The input is a geometry request, a ring start and a
 * script of client actions (entries, raw tail and head stores, rewrites of
 * ring memory) interleaved with the worker's own calls (fetch, complete,
 * flush).  After every step the engine's promises are checked
 * (docs/ARCHITECTURE.md, "Rings"): what fetch returns names an in-flight
 * slot and arena ranges inside the arena, inflight + backlog never exceed
 * nslots, and impossible indices end the connection with -EPROTO.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conn_rings.h"
#include "fuzz_input.h"
#include "region.h"

#define FETCH_MAX 64

/* The worker's view of one fetched call: it completes each exactly once. */
struct model {
	uint32_t *running; /* slots fetched and not yet completed */
	uint32_t nrunning;
};

static void check_fetched(const struct bkd_conn_rings *cr, const struct bk_sqe *e, int n)
{
	const uint64_t arena = cr->v.layout.arena_size;
	for (int i = 0; i < n; i++) {
		FUZZ_ASSERT(e[i].op == BK_OP_CALL || e[i].op == BK_OP_CANCEL);
		FUZZ_ASSERT(e[i].slot < cr->v.geo.nslots);
		FUZZ_ASSERT(bkd_conn_rings_inflight(cr, e[i].slot, e[i].gen));
		if (e[i].op == BK_OP_CALL) {
			FUZZ_ASSERT(!(e[i].flags & ~BK_SQE_F_KNOWN) && (e[i].flags & BK_SQE_PRIO_MASK) != BK_SQE_PRIO_MASK);
			if (e[i].flags & BK_SQE_F_DEADLINE)
				(void)bkd_conn_rings_deadline(cr, e[i].slot);
			FUZZ_ASSERT((uint64_t)e[i].arg_off + e[i].arg_len <= arena);
			FUZZ_ASSERT((uint64_t)e[i].res_off + e[i].res_cap <= arena);
			/* What a module would do: touch both ranges (ASan checks they lie in the mapping). */
			uint8_t *a = bkd_conn_rings_arena(cr, e[i].arg_off);
			uint8_t *r = bkd_conn_rings_arena(cr, e[i].res_off);
			if (e[i].arg_len)
				(void)*(volatile uint8_t *)(a + e[i].arg_len - 1);
			if (e[i].res_cap)
				*(volatile uint8_t *)(r + e[i].res_cap - 1) = 0;
		}
	}
}

static void take_calls(struct model *m, const struct bk_sqe *e, int n)
{
	for (int i = 0; i < n; i++)
		if (e[i].op == BK_OP_CALL)
			m->running[m->nrunning++] = e[i].slot;
}

/* Complete the k-th running task (a module finishing, or a cancel taking effect). */
static void complete_one(struct bkd_conn_rings *cr, struct model *m, uint32_t k, int32_t status)
{
	if (m->nrunning == 0)
		return;
	k %= m->nrunning;
	uint32_t slot = m->running[k];
	m->running[k] = m->running[--m->nrunning];
	FUZZ_ASSERT(bkd_conn_rings_complete(cr, slot, status, 0) == 0);
	/* Completing it again is a broker bug the engine refuses. */
	FUZZ_ASSERT(bkd_conn_rings_complete(cr, slot, status, 0) == -EINVAL);
}

/* One client or worker action; false when the connection is to be dropped. */
static bool step(struct fuzz_in *in, struct bkd_conn_rings *cr, struct bk_sq_producer *sqp, struct model *m)
{
	struct bk_region_view *v = &cr->v;
	struct bk_sqe out[FETCH_MAX];
	switch (fuzz_u8(in) % 8) {
	case 0: { /* an honest-looking entry through the producer (seq written right) */
		struct bk_sqe e;
		fuzz_bytes(in, &e, sizeof(e));
		if (bk_sq_producer_space(sqp) > 0) {
			bk_sq_producer_write(sqp, 0, &e);
			bk_sq_producer_publish(sqp, 1);
		}
		return true;
	}
	case 1: /* the tail, any value */
		atomic_store_explicit(&v->sq_ctl->tail, fuzz_u32(in), memory_order_release);
		return true;
	case 2: { /* rewrite a word of the SQ ring under the broker */
		uint32_t word = fuzz_u32(in) % (v->geo.sq_entries * (uint32_t)(sizeof(struct bk_sqe) / 4));
		atomic_store_explicit((_Atomic uint32_t *)v->sq + word, fuzz_u32(in), memory_order_relaxed);
		return true;
	}
	case 3: { /* the worker takes entries */
		int n = bkd_conn_rings_fetch(cr, out, 1 + fuzz_u8(in) % FETCH_MAX);
		if (n == -EPROTO)
			return false;
		FUZZ_ASSERT(n >= 0 && n <= FETCH_MAX);
		check_fetched(cr, out, n);
		take_calls(m, out, n);
		/* A fetched cancel completes its task with -ECANCELED, as task.c does. */
		for (int i = 0; i < n; i++)
			if (out[i].op == BK_OP_CANCEL)
				for (uint32_t k = 0; k < m->nrunning; k++)
					if (m->running[k] == out[i].slot) {
						complete_one(cr, m, k, -ECANCELED);
						break;
					}
		return true;
	}
	case 4:
		complete_one(cr, m, fuzz_u32(in), (int32_t)fuzz_u32(in));
		return true;
	case 5: /* publish completions */
		return bkd_conn_rings_flush(cr) != -EPROTO;
	case 6: /* the client reaps (or claims to) */
		atomic_store_explicit(&v->cq_ctl->head, fuzz_u32(in), memory_order_release);
		return true;
	default: /* the client arms its eventfd, asks for wake-ups (gated or not), and the worker looks */
		atomic_store_explicit(&v->cq_ctl->notify_armed, fuzz_u8(in) & 1, memory_order_relaxed);
		atomic_store_explicit(&v->cq_ctl->need_wakeup, fuzz_u8(in), memory_order_relaxed);
		if (fuzz_u8(in) & 1) /* with the gate bits (ring.h) */
			atomic_store_explicit(&v->cq_ctl->need_wakeup, fuzz_u32(in), memory_order_relaxed);
		atomic_store_explicit(&v->cq_ctl->wake_at, fuzz_u32(in), memory_order_relaxed);
		(void)bkd_conn_rings_sq_pending(cr);
		(void)bkd_conn_rings_sq_depth(cr);
		(void)bkd_conn_rings_cq_depth(cr);
		return true;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct bk_geometry g;
	fuzz_bytes(&in, &g, sizeof(g));
	/* Keep regions small enough for a fast loop: the sizes still come from the input. */
	g.slot_inline %= 4096;
	struct bkd_region_params p = { .max_large = 1u << 20, .ring_start = fuzz_u32(&in), .conn_id = 1 };
	struct bkd_region r;
	char err[256];
	if (bkd_region_create(&g, &p, &r, err, sizeof(err)) < 0)
		return 0;
	/* What the client can rely on: the layout of the clamped geometry, inside the mapping. */
	FUZZ_ASSERT(r.v.geo.large_size <= p.max_large && r.v.layout.arena_size <= BK_ARENA_MAX);
	FUZZ_ASSERT(r.v.layout.arena_off + r.v.layout.arena_size == r.v.size);
	FUZZ_ASSERT(r.v.geo.cq_entries >= r.v.geo.nslots);
	struct bkd_conn_rings cr;
	struct model m = { .running = calloc(r.v.geo.nslots, sizeof(uint32_t)) };
	if (!m.running || bkd_conn_rings_init(&cr, &r.v, p.ring_start) < 0) {
		free(m.running);
		bkd_region_destroy(&r);
		return 0;
	}
	struct bk_sq_producer sqp;
	bk_sq_producer_init(&sqp, r.v.sq_ctl, r.v.sq, r.v.geo.sq_entries);
	while (in.len > 0 && step(&in, &cr, &sqp, &m)) {
		FUZZ_ASSERT(cr.inflight + bkd_conn_rings_backlog(&cr) <= r.v.geo.nslots);
		FUZZ_ASSERT(cr.inflight == m.nrunning);
	}
	bkd_conn_rings_fini(&cr);
	free(m.running);
	bkd_region_destroy(&r);
	return 0;
}
