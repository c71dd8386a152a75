// SPDX-License-Identifier: MIT
/*
 * buffers.c - bk_buf_alloc/bk_buf_free: a small first-fit allocator over the
 * region's large (zero-copy) area.  The allocation map lives in private
 * memory, never in the region, so the broker cannot corrupt it.  Blocks are
 * 64-byte aligned (cache lines) and neighbours merge on free.
 */
#include <errno.h>
#include <stdlib.h>

#include "client_internal.h"

#define BUF_ALIGN 64u

struct bkc_buf_block {
	uint64_t off; /* arena-relative */
	uint64_t size;
	bool used;
	struct bkc_buf_block *next; /* sorted by off; blocks tile the large area */
};

int bkc_bufs_init(bk_client *c)
{
	c->blocks = NULL;
	if (c->v.layout.large_size == 0)
		return 0;
	struct bkc_buf_block *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->off = c->v.layout.large_off;
	b->size = c->v.layout.large_size;
	c->blocks = b;
	return 0;
}

void bkc_bufs_fini(bk_client *c)
{
	struct bkc_buf_block *b = c->blocks;
	while (b) {
		struct bkc_buf_block *n = b->next;
		free(b);
		b = n;
	}
	c->blocks = NULL;
}

BKC_API void *bk_buf_alloc(bk_client *c, size_t len)
{
	if (!c || len == 0 || len > c->v.layout.large_size)
		return NULL;
	uint64_t want = bk_align_up(len, BUF_ALIGN);
	void *p = NULL;
	pthread_mutex_lock(&c->buf_lock);
	for (struct bkc_buf_block *b = c->blocks; b; b = b->next) {
		if (b->used || b->size < want)
			continue;
		if (b->size > want) {
			struct bkc_buf_block *rest = calloc(1, sizeof(*rest));
			if (!rest)
				break;
			rest->off = b->off + want;
			rest->size = b->size - want;
			rest->next = b->next;
			b->next = rest;
			b->size = want;
		}
		b->used = true;
		p = c->v.arena + b->off;
		break;
	}
	pthread_mutex_unlock(&c->buf_lock);
	return p;
}

BKC_API void bk_buf_free(bk_client *c, void *buf)
{
	if (!c || !buf)
		return;
	if (!bkc_in_large(c, buf, 0))
		return; /* not ours: ignore rather than corrupt the map */
	uint64_t off = (uint64_t)((uint8_t *)buf - c->v.arena);
	pthread_mutex_lock(&c->buf_lock);
	struct bkc_buf_block *prev = NULL, *b = c->blocks;
	while (b && b->off != off) {
		prev = b;
		b = b->next;
	}
	if (b && b->used) {
		b->used = false;
		struct bkc_buf_block *n = b->next;
		if (n && !n->used) {
			b->size += n->size;
			b->next = n->next;
			free(n);
		}
		if (prev && !prev->used) {
			prev->size += b->size;
			prev->next = b->next;
			free(b);
		}
	}
	pthread_mutex_unlock(&c->buf_lock);
}
