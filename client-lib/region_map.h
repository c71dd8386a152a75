// SPDX-License-Identifier: MIT
/*
 * region_map.h - the client's side of the region life cycle: map a region fd
 * received from brokerd and validate it before touching anything.
 */
#ifndef BKCLIENT_REGION_MAP_H
#define BKCLIENT_REGION_MAP_H

#include <stddef.h>

#include "broker/proto.h"

/*
 * Map fd and check, in this order: seals, size, magic, ABI major, layout
 * hash, geometry limits and every offset against the layout this build would
 * compute.  Each failure is a distinct code with a message in err:
 * BK_EBADREGION (seals, size, magic, geometry, offsets), BK_EVERSION (ABI
 * major; the message names both versions), BK_ELAYOUT (layout hash; names
 * both hashes), or -errno from fstat/mmap.  On success *v describes the
 * mapping; release it with bkc_region_unmap().
 */
int bkc_region_map(int fd, struct bk_region_view *v, char *err, size_t errlen);

/* Same checks on memory already mapped (size bytes at base); maps nothing. */
int bkc_region_validate(void *base, size_t size, struct bk_region_view *v, char *err, size_t errlen);

void bkc_region_unmap(struct bk_region_view *v);

#endif /* BKCLIENT_REGION_MAP_H */
