// SPDX-License-Identifier: MIT
/*
 * fuzz_client_region.c - libFuzzer target: libbkclient's region validation
 * (client-lib/region_map.c) against a hostile broker.  The input is a
 * geometry, from which a well-formed header is built (so the fuzzer starts
 * past the magic and hash checks), then byte patches over that header and a
 * size error for the mapping; after a region is accepted, the CQ it
 * describes is reaped with hostile indices.  A hostile broker may get its
 * region refused, never a client crash or a read outside the mapping
 * (docs/ARCHITECTURE.md, "The shared region").
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/ring.h"
#include "fuzz_input.h"
#include "region_map.h"

#define IMAGE_MAX (4u << 20) /* a larger mapping is refused by the size check alone: not worth a malloc */

static void header_for(struct bk_region_hdr *h, const struct bk_geometry *g, const struct bk_layout *l)
{
	memset(h, 0, sizeof(*h));
	h->abi_major = BK_ABI_MAJOR;
	h->abi_minor = BK_ABI_MINOR;
	h->layout_hash = BK_LAYOUT_HASH;
	h->region_size = l->region_size;
	h->sq_entries = g->sq_entries;
	h->cq_entries = g->cq_entries;
	h->nslots = g->nslots;
	h->slot_inline = g->slot_inline;
	h->sq_ctl_off = l->sq_ctl_off;
	h->sq_ring_off = l->sq_ring_off;
	h->cq_ctl_off = l->cq_ctl_off;
	h->cq_ring_off = l->cq_ring_off;
	h->slots_off = l->slots_off;
	h->arena_off = l->arena_off;
	h->arena_size = l->arena_size;
	h->large_off = l->large_off;
	h->large_size = l->large_size;
	atomic_store_explicit(&h->magic, BK_REGION_MAGIC, memory_order_relaxed);
}

/* Every part the view names lies inside [base, base + size). */
static void check_view(const struct bk_region_view *v, const uint8_t *base, size_t size)
{
	const uint8_t *end = base + size;
	FUZZ_ASSERT((const uint8_t *)(v->sq + v->geo.sq_entries) <= end);
	FUZZ_ASSERT((const uint8_t *)(v->cq + v->geo.cq_entries) <= end);
	FUZZ_ASSERT((const uint8_t *)(v->slots + v->geo.nslots) <= end);
	FUZZ_ASSERT(v->arena + v->layout.arena_size <= end);
	FUZZ_ASSERT((uint64_t)v->geo.nslots * v->geo.slot_inline <= v->layout.arena_size);
	FUZZ_ASSERT((const uint8_t *)v->sq_ctl >= base + sizeof(struct bk_region_hdr));
}

/* The broker's side of the CQ is hostile too: reaping must stay inside the ring. */
static void reap_hostile(struct fuzz_in *in, const struct bk_region_view *v)
{
	struct bk_cq_consumer c;
	struct bk_cqe out[16];
	bk_cq_consumer_init(&c, v->cq_ctl, v->cq, v->geo.cq_entries);
	for (int round = 0; round < 8 && in->len > 0; round++) {
		atomic_store_explicit(&v->cq_ctl->tail, fuzz_u32(in), memory_order_relaxed);
		if (fuzz_u8(in) & 1)
			atomic_store_explicit(&v->cq_ctl->head, fuzz_u32(in), memory_order_relaxed);
		unsigned n = bk_cq_consumer_reap(&c, out, 16);
		FUZZ_ASSERT(n <= 16);
		for (unsigned i = 0; i < n; i++) /* what complete.c checks before touching a slot */
			if (out[i].slot < v->geo.nslots)
				(void)*(volatile uint32_t *)&v->slots[out[i].slot].done_gen;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct bk_geometry req, g;
	struct bk_layout l;
	fuzz_bytes(&in, &req, sizeof(req));
	/* Small geometries keep the loop fast; the patches below can still put any value in the header. */
	req.sq_entries %= 4096;
	req.cq_entries %= 4096;
	req.nslots %= 1024;
	req.slot_inline %= 1024;
	req.large_size %= 64u << 10;
	if (bk_geometry_clamp(&req, 1u << 20, &g) < 0)
		g = (struct bk_geometry){ 8, 8, 8, 64, 0 };
	bk_layout_compute(&g, &l);
	/* The mapping may be a little shorter or longer than the header says (hostile size). */
	int32_t delta = (int16_t)fuzz_u16(&in);
	int64_t want = (int64_t)l.region_size + delta;
	if (want < 1 || (uint64_t)want > IMAGE_MAX)
		return 0;
	size_t len = (size_t)want;
	/* Exactly len bytes (ASan sees a read past the mapping), aligned for the cache-line structs. */
	void *mem = NULL;
	if (posix_memalign(&mem, BK_CACHELINE, len) != 0)
		return 0;
	uint8_t *img = mem;
	memset(img, 0, len);
	struct bk_region_hdr h;
	header_for(&h, &g, &l);
	/* Patches over the header: (offset, value) pairs. */
	unsigned npatch = fuzz_u8(&in) % 32;
	for (unsigned i = 0; i < npatch; i++) {
		uint8_t off = fuzz_u8(&in);
		((uint8_t *)&h)[off % sizeof(h)] = fuzz_u8(&in);
	}
	memcpy(img, &h, len < sizeof(h) ? len : sizeof(h));
	struct bk_region_view v;
	char err[256];
	if (bkc_region_validate(img, len, &v, err, sizeof(err)) == 0) {
		FUZZ_ASSERT(v.size == len);
		check_view(&v, img, len);
		reap_hostile(&in, &v);
	} else {
		FUZZ_ASSERT(memchr(err, 0, sizeof(err)) != NULL && err[0] != 0);
	}
	free(img);
	return 0;
}
