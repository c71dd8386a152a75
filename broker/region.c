// SPDX-License-Identifier: MIT
/*
 * region.c - create a connection's shared region (docs/ARCHITECTURE.md, "The shared region").
 *
 * memfd_create + ftruncate, then seals (shrink, grow, seal) so no one can
 * truncate the region under a mapper (which would SIGBUS it), then every
 * field is initialised and the header's magic is stored last with release
 * ordering: a mapper that acquires the magic sees a complete region.
 */
#include "region.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int bkd_region_create(const struct bk_geometry *req, const struct bkd_region_params *p, struct bkd_region *out,
		     char *err, size_t errlen)
{
	struct bk_geometry g;
	struct bk_layout l;

	out->fd = -1;
	out->v.base = NULL;
	if (bk_geometry_clamp(req, p->max_large, &g) < 0) {
		snprintf(err, errlen,
			 "geometry beyond limits: sq %u (max %u), cq %u (max %u), slots %u (max %u), inline %u (max %u), "
			 "large %llu (max %llu)",
			 req->sq_entries, BK_RING_MAX, req->cq_entries, BK_RING_MAX, req->nslots, BK_SLOTS_MAX,
			 req->slot_inline, BK_INLINE_MAX, (unsigned long long)req->large_size,
			 (unsigned long long)p->max_large);
		return -EINVAL;
	}
	bk_layout_compute(&g, &l);

	int fd = memfd_create("bk-region", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "memfd_create: %s", strerror(e));
		return -e;
	}
	if (ftruncate(fd, (off_t)l.region_size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		int e = errno;
		snprintf(err, errlen, "sizing/sealing region: %s", strerror(e));
		close(fd);
		return -e;
	}
	void *base = mmap(NULL, l.region_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		int e = errno;
		snprintf(err, errlen, "mmap region of %llu bytes: %s", (unsigned long long)l.region_size, strerror(e));
		close(fd);
		return -e;
	}

	/* A fresh memfd reads as zeros; set only what is not zero. */
	struct bk_region_view *v = &out->v;
	bk_region_view_bind(v, base, &g, &l);
	struct bk_region_hdr *h = v->hdr;
	h->abi_major = BK_ABI_MAJOR;
	h->abi_minor = BK_ABI_MINOR;
	h->layout_hash = BK_LAYOUT_HASH;
	h->region_size = l.region_size;
	h->sq_entries = g.sq_entries;
	h->cq_entries = g.cq_entries;
	h->nslots = g.nslots;
	h->slot_inline = g.slot_inline;
	h->sq_ctl_off = l.sq_ctl_off;
	h->sq_ring_off = l.sq_ring_off;
	h->cq_ctl_off = l.cq_ctl_off;
	h->cq_ring_off = l.cq_ring_off;
	h->slots_off = l.slots_off;
	h->arena_off = l.arena_off;
	h->arena_size = l.arena_size;
	h->large_off = l.large_off;
	h->large_size = l.large_size;
	h->broker_epoch = p->epoch;
	h->conn_id = p->conn_id;
	h->features = p->features;
	atomic_store_explicit(&h->broker_state, BK_BROKER_RUNNING, memory_order_relaxed);
	atomic_store_explicit(&v->sq_ctl->head, p->ring_start, memory_order_relaxed);
	atomic_store_explicit(&v->sq_ctl->tail, p->ring_start, memory_order_relaxed);
	atomic_store_explicit(&v->cq_ctl->head, p->ring_start, memory_order_relaxed);
	atomic_store_explicit(&v->cq_ctl->tail, p->ring_start, memory_order_relaxed);
	/* Publish: every store above happens before a mapper's acquire load of magic sees it. */
	atomic_store_explicit(&h->magic, BK_REGION_MAGIC, memory_order_release);

	out->fd = fd;
	return 0;
}

void bkd_region_destroy(struct bkd_region *r)
{
	if (r->v.base) {
		munmap(r->v.base, r->v.size);
		r->v.base = NULL;
	}
	if (r->fd >= 0) {
		close(r->fd);
		r->fd = -1;
	}
}
