// SPDX-License-Identifier: MIT
/*
 * fuzz_input.h - the fuzz targets' reader of their input: fixed-size fields
 * taken off the front, zeros once the input runs out (so every input is a
 * complete script), and an assertion that aborts (libFuzzer records the
 * input as a crash) even in a build without assert().
 */
#ifndef BK_FUZZ_INPUT_H
#define BK_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fuzz_in {
	const uint8_t *p;
	size_t len;
};

#define FUZZ_ASSERT(cond)                                                                                    \
	do {                                                                                                 \
		if (!(cond)) {                                                                               \
			fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond);    \
			abort();                                                                             \
		}                                                                                            \
	} while (0)

static inline void fuzz_bytes(struct fuzz_in *in, void *out, size_t n)
{
	size_t k = n < in->len ? n : in->len;
	if (k)
		memcpy(out, in->p, k);
	memset((uint8_t *)out + k, 0, n - k);
	in->p += k;
	in->len -= k;
}

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	uint8_t v;
	fuzz_bytes(in, &v, sizeof(v));
	return v;
}

static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
	uint16_t v;
	fuzz_bytes(in, &v, sizeof(v));
	return v;
}

static inline uint32_t fuzz_u32(struct fuzz_in *in)
{
	uint32_t v;
	fuzz_bytes(in, &v, sizeof(v));
	return v;
}

#endif
