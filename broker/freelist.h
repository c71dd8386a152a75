// SPDX-License-Identifier: MIT
/*
 * freelist.h - a worker's bounded cache of free objects of one size, for
 * what brokerd makes and drops per task: task objects, I/O operations and
 * argument copies (docs/ARCHITECTURE.md, "Per-task allocations").  glibc
 * keeps at most 7 free chunks a size in its thread cache and none above
 * 1 KiB, so a burst of tasks went through _int_malloc and _int_free:
 * 7 % of a fleet brokerd's samples (docs/BENCHMARKS.md, "Per-task
 * allocations").  One thread only (the worker); the link lives in the
 * free object's first word, so an object must be at least a pointer long.
 */
#ifndef BROKER_FREELIST_H
#define BROKER_FREELIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct bkd_freelist {
	void *head;
	unsigned n;
};

/* A free object, or NULL when the cache is empty (then the caller allocates). */
static inline void *bkd_freelist_get(struct bkd_freelist *f)
{
	void *p = f->head;
	if (p) {
		memcpy(&f->head, p, sizeof(void *));
		f->n--;
	}
	return p;
}

/* Keep p for reuse, or free it when max are kept already. */
static inline void bkd_freelist_put(struct bkd_freelist *f, void *p, unsigned max)
{
	if (f->n >= max) {
		free(p);
		return;
	}
	memcpy(p, &f->head, sizeof(void *));
	f->head = p;
	f->n++;
}

/* Free everything kept (the worker is exiting). */
static inline void bkd_freelist_drop(struct bkd_freelist *f)
{
	void *p;
	while ((p = bkd_freelist_get(f)))
		free(p);
}

/*
 * Zero len bytes in 64-byte pieces: GCC expands one constant memset of
 * more than 64 bytes into `rep stosq`, whose start-up was a tenth of a
 * window-256 brokerd's samples; 64-byte pieces become four vector stores.
 */
static inline void bkd_zero64(void *p, size_t len)
{
	size_t whole = len / 64 * 64;
	for (size_t i = 0; i < whole; i += 64)
		memset((uint8_t *)p + i, 0, 64);
	memset((uint8_t *)p + whole, 0, len - whole);
}

#endif
