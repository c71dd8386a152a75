// SPDX-License-Identifier: MIT
/*
 * region_map.c - map and validate a connection's region (docs/ARCHITECTURE.md,
 * "The shared region").
 *
 * The client trusts nothing it has not checked: the memfd must be sealed
 * against shrinking (or the broker could SIGBUS us), the header must carry
 * our magic, ABI major and layout hash, and every size and offset must be the
 * one this build computes for the header's geometry.  Header fields are read
 * once into a private copy after the acquire load of magic.
 */
#include "region_map.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "broker/client.h"
#include "broker/ring.h"

#define REGION_MAP_MAX ((uint64_t)BK_ARENA_MAX + (64u << 20))

int bkc_region_validate(void *base, size_t size, struct bk_region_view *v, char *err, size_t errlen)
{
	const struct bk_region_hdr *h = base;

	if (size < sizeof(*h)) {
		snprintf(err, errlen, "region of %zu bytes is smaller than its header", size);
		return BK_EBADREGION;
	}
	/* Acquire pairs with the broker's release store of magic: the rest of the header is complete. */
	uint32_t magic = atomic_load_explicit(&((struct bk_region_hdr *)base)->magic, memory_order_acquire);
	if (magic != BK_REGION_MAGIC) {
		snprintf(err, errlen, "bad region magic %08" PRIx32 " (want %08x)", magic, BK_REGION_MAGIC);
		return BK_EBADREGION;
	}
	struct bk_region_hdr hc;
	memset(&hc, 0, sizeof(hc));
	bk_shm_read_words(&hc, h, sizeof(hc) / 4);
	if (hc.abi_major != BK_ABI_MAJOR) {
		snprintf(err, errlen, "region ABI %u.%u, this library speaks %u.%u", hc.abi_major, hc.abi_minor,
			 BK_ABI_MAJOR, BK_ABI_MINOR);
		return BK_EVERSION;
	}
	if (hc.layout_hash != BK_LAYOUT_HASH) {
		snprintf(err, errlen,
			 "region layout hash %016" PRIx64 " (ABI %u.%u), this library %016" PRIx64
			 " (ABI %u.%u): incompatible builds",
			 hc.layout_hash, hc.abi_major, hc.abi_minor, (uint64_t)BK_LAYOUT_HASH, BK_ABI_MAJOR, BK_ABI_MINOR);
		return BK_ELAYOUT;
	}
	if (hc.region_size != size) {
		snprintf(err, errlen, "region header says %" PRIu64 " bytes, mapping has %zu", hc.region_size, size);
		return BK_EBADREGION;
	}

	/* The geometry must be one the clamp would produce, and the layout exactly ours. */
	struct bk_geometry req = {
		.sq_entries = hc.sq_entries,
		.cq_entries = hc.cq_entries,
		.nslots = hc.nslots,
		.slot_inline = hc.slot_inline,
		.large_size = hc.large_size,
	}, g;
	if (bk_geometry_clamp(&req, BK_ARENA_MAX, &g) < 0 || memcmp(&g, &req, sizeof(g)) != 0) {
		snprintf(err, errlen, "invalid region geometry: sq %u cq %u slots %u inline %u large %" PRIu64,
			 hc.sq_entries, hc.cq_entries, hc.nslots, hc.slot_inline, hc.large_size);
		return BK_EBADREGION;
	}
	struct bk_layout l;
	bk_layout_compute(&g, &l);
	if (l.sq_ctl_off != hc.sq_ctl_off || l.sq_ring_off != hc.sq_ring_off || l.cq_ctl_off != hc.cq_ctl_off ||
	    l.cq_ring_off != hc.cq_ring_off || l.slots_off != hc.slots_off || l.arena_off != hc.arena_off ||
	    l.arena_size != hc.arena_size || l.large_off != hc.large_off || l.region_size != hc.region_size) {
		snprintf(err, errlen, "region offsets differ from this library's layout for the same geometry");
		return BK_EBADREGION;
	}
	bk_region_view_bind(v, base, &g, &l);
	return 0;
}

int bkc_region_map(int fd, struct bk_region_view *v, char *err, size_t errlen)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		snprintf(err, errlen, "fstat region fd: %s", strerror(e));
		return -e;
	}
	int seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
		snprintf(err, errlen, "region fd is not sealed against shrinking (seals %d)", seals);
		return BK_EBADREGION;
	}
	if (st.st_size < (off_t)sizeof(struct bk_region_hdr) || (uint64_t)st.st_size > REGION_MAP_MAX) {
		snprintf(err, errlen, "region fd has an implausible size %lld", (long long)st.st_size);
		return BK_EBADREGION;
	}
	size_t size = (size_t)st.st_size;
	void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		int e = errno;
		snprintf(err, errlen, "mmap region: %s", strerror(e));
		return -e;
	}
	int r = bkc_region_validate(base, size, v, err, errlen);
	if (r < 0)
		munmap(base, size);
	return r;
}

void bkc_region_unmap(struct bk_region_view *v)
{
	if (v->base) {
		munmap(v->base, v->size);
		v->base = NULL;
	}
}
