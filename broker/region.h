// SPDX-License-Identifier: MIT
/*
 * region.h - brokerd's side of a connection's shared region: create the
 * sealed memfd, size it from a clamped geometry, initialise and publish it.
 */
#ifndef BROKER_REGION_H
#define BROKER_REGION_H

#include <stddef.h>

#include "broker/proto.h"

struct bkd_region {
	int fd;
	struct bk_region_view v;
};

struct bkd_region_params {
	uint64_t max_large; /* broker's cap on the large (zero-copy) area */
	uint32_t ring_start; /* first value of the free-running ring counters (tests start near UINT32_MAX) */
	uint32_t conn_id;
	uint64_t epoch;
	uint32_t features; /* BK_FEAT_* */
};

/*
 * Create, seal, map and publish a region for the requested geometry.
 * Returns 0, -EINVAL for a request beyond the limits (err says which), or a
 * negative errno from memfd_create/ftruncate/fcntl/mmap.
 */
int bkd_region_create(const struct bk_geometry *req, const struct bkd_region_params *p, struct bkd_region *out,
		     char *err, size_t errlen);

/* Unmap and close.  Safe on a zeroed or already destroyed region. */
void bkd_region_destroy(struct bkd_region *r);

#endif /* BROKER_REGION_H */
