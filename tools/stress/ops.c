// SPDX-License-Identifier: MIT
/*
 * ops.c - the operations a stress client mixes, with their expected
 * results: echo.echo (random bytes), echo.upper (random printable ASCII),
 * timer.sleep (a few ms), hash.sha256 (checked against OpenSSL), and a
 * timer.sleep that is cancelled at once.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "stress.h"

const char *const stress_op_fn_names[OP_NKINDS] = { "echo.echo", "echo.upper", "timer.sleep", "hash.sha256",
						"timer.sleep" };

uint64_t stress_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static void random_bytes(uint8_t *p, size_t n, uint64_t *rng)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)stress_rand(rng);
}

int stress_op_make(struct stress_op *op, uint64_t *rng, uint64_t seq)
{
	memset(op, 0, sizeof(*op));
	uint64_t r = stress_rand(rng) % 100;
	/* Mostly cheap calls, so that many futures go through; some sleeps and cancels. */
	op->kind = r < 35 ? OP_ECHO : r < 60 ? OP_UPPER : r < 85 ? OP_SHA256 : r < 97 ? OP_SLEEP : OP_CANCEL_SLEEP;
	switch (op->kind) {
	case OP_ECHO:
		op->len = (size_t)(stress_rand(rng) % (OP_ARG_MAX + 1));
		random_bytes(op->arg, op->len, rng);
		if (op->len >= sizeof(seq))
			memcpy(op->arg, &seq, sizeof(seq)); /* a mixed-up completion cannot match */
		memcpy(op->expect, op->arg, op->len);
		op->expect_len = op->len;
		break;
	case OP_UPPER:
		op->len = (size_t)(stress_rand(rng) % (OP_ARG_MAX + 1));
		for (size_t i = 0; i < op->len; i++) {
			op->arg[i] = (uint8_t)(0x20 + stress_rand(rng) % 95); /* printable ASCII */
			op->expect[i] = (uint8_t)toupper(op->arg[i]);
		}
		op->expect_len = op->len;
		break;
	case OP_SHA256: {
		op->len = (size_t)(stress_rand(rng) % (OP_ARG_MAX + 1));
		random_bytes(op->arg, op->len, rng);
		unsigned int mdlen = 0;
		if (EVP_Digest(op->arg, op->len, op->expect, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
			return -EIO;
		op->expect_len = mdlen;
		break;
	}
	case OP_SLEEP:
	case OP_CANCEL_SLEEP: {
		unsigned ms = op->kind == OP_SLEEP ? 1 + (unsigned)(stress_rand(rng) % 5) : 50;
		op->len = (size_t)snprintf((char *)op->arg, sizeof(op->arg), "%u", ms);
		op->expect_len = 0;
		/* io_uring timeouts do not fire early; allow 1 ms for clock granularity. */
		op->min_ns = op->kind == OP_SLEEP ? (int64_t)(ms - 1) * 1000000 : 0;
		break;
	}
	default:
		return -EINVAL;
	}
	return 0;
}

static void hex(char *out, size_t outlen, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t o = 0;
	if (outlen)
		out[0] = 0;
	for (size_t i = 0; i < n && o + 3 < outlen; i++)
		o += (size_t)snprintf(out + o, outlen - o, "%02x", b[i]);
}

int stress_op_check(const struct stress_op *op, int status, const void *data, size_t len, int64_t elapsed_ns, char *why,
		size_t whylen)
{
	const char *fn = stress_op_fn_names[op->kind];
	if (op->kind == OP_CANCEL_SLEEP) {
		/* Either the cancel won (-ECANCELED) or the 50 ms sleep finished first. */
		if (status == -ECANCELED || (status == 0 && len == 0))
			return 0;
		snprintf(why, whylen, "cancelled %s ended with %d (%s), %zu result bytes", fn, status,
			 bk_strerror(status), len);
		return -EPROTO;
	}
	if (status != 0) {
		snprintf(why, whylen, "%s(%zu bytes) failed: %d (%s)", fn, op->len, status, bk_strerror(status));
		return -EPROTO;
	}
	if (len != op->expect_len || (len && memcmp(data, op->expect, len) != 0)) {
		char a[72], b[72];
		hex(a, sizeof(a), data, len < 32 ? len : 32);
		hex(b, sizeof(b), op->expect, op->expect_len < 32 ? op->expect_len : 32);
		snprintf(why, whylen, "%s(%zu bytes): wrong result: got %zu bytes %s..., want %zu bytes %s...", fn,
			 op->len, len, a, op->expect_len, b);
		return -EPROTO;
	}
	if (elapsed_ns < op->min_ns) {
		snprintf(why, whylen, "%s(%.*s) completed after only %" PRId64 " us", fn, (int)op->len,
			 (const char *)op->arg, elapsed_ns / 1000);
		return -EPROTO;
	}
	return 0;
}
