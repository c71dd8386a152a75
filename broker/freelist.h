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
 *
 * Under AddressSanitizer a kept object is poisoned whole (its size is
 * passed to every call for that): a use after bkd_freelist_put, say a CQE
 * of an operation already ended, is reported as it would be after free().
 */
#ifndef BROKER_FREELIST_H
#define BROKER_FREELIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define BKD_FREELIST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BKD_FREELIST_ASAN 1
#endif
#endif
#ifdef BKD_FREELIST_ASAN
#include <sanitizer/asan_interface.h>
#define BKD_FREELIST_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define BKD_FREELIST_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define BKD_FREELIST_POISON(p, n) ((void)(p), (void)(n))
#define BKD_FREELIST_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

struct bkd_freelist {
	void *head;
	unsigned n;
};

/* A free object of size bytes, or NULL when the cache is empty (then the caller allocates). */
static inline void *bkd_freelist_get(struct bkd_freelist *f, size_t size)
{
	void *p = f->head;
	if (p) {
		BKD_FREELIST_UNPOISON(p, size);
		memcpy(&f->head, p, sizeof(void *));
		f->n--;
	}
	return p;
}

/* Keep p (size bytes) for reuse, or free it when max are kept already. */
static inline void bkd_freelist_put(struct bkd_freelist *f, void *p, size_t size, unsigned max)
{
	if (f->n >= max) {
		free(p);
		return;
	}
	memcpy(p, &f->head, sizeof(void *));
	f->head = p;
	f->n++;
	BKD_FREELIST_POISON(p, size);
}

/* Free everything kept (the worker is exiting). */
static inline void bkd_freelist_drop(struct bkd_freelist *f, size_t size)
{
	void *p;
	while ((p = bkd_freelist_get(f, size)))
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
