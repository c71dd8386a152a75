// SPDX-License-Identifier: MIT
/*
 * hash.c - the "hash" module: message digests with GNU Nettle, never
 * hand-written crypto.  Nettle rather than OpenSSL's libcrypto: the same
 * SHA-256 code paths (SHA-NI where the CPU has it) at 0.3 MiB of library
 * instead of 4.7, and no provider state to load; libcrypto cost every
 * brokerd 3.4 MiB of PSS for one algorithm (docs/modules.md, "hash").
 *
 * Functions (argument -> result):
 *   hash.sha256  any bytes (empty included) -> the 32 raw bytes of their
 *                SHA-256 digest (not hex).  A result buffer smaller than 32
 *                bytes completes with -ENOBUFS, needing 32.
 * Arguments up to HASH_INLINE_MAX (64 KiB, some tens of microseconds) are
 * hashed on the worker; longer ones run on brokerd's offload pool
 * (host->offload) so a 16 MiB argument does not stall the worker's other
 * tasks.  Offloaded hashing goes in HASH_CHUNK steps and stops between
 * two with -ECANCELED once the task is cancelled (a disconnecting client's
 * 1 GiB hash must not hold a pool thread to its end).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/sha2.h>

#include "bk_mod.h"
#include "hash_file.h"

#define HASH_INLINE_MAX (64u * 1024u)
#define SHA256_LEN SHA256_DIGEST_SIZE
#define HASH_CHUNK (1u << 20) /* about a millisecond of SHA-256: how late a cancellation is seen */

struct hash_job {
	const bk_host_api *host;
	const void *arg;
	size_t len;
	unsigned char digest[SHA256_LEN];
};

static int hash_init(const bk_host_api *host, void **state)
{
	*state = NULL; /* Nettle keeps no global state: nothing to set up or share */
	if (!BK_HOST_HAS(host, arg) || !BK_HOST_HAS(host, result) || !BK_HOST_HAS(host, complete) ||
	    !BK_HOST_HAS(host, offload) || !BK_HOST_HAS(host, cancelled))
		return -EPROTO;
	return 0;
}

static void digest(const void *data, size_t len, unsigned char *out)
{
	struct sha256_ctx ctx;

	sha256_init(&ctx);
	if (len) /* an empty argument may come as a NULL pointer, which memcpy must not see */
		sha256_update(&ctx, len, data);
	sha256_digest(&ctx, SHA256_LEN, out);
}

/* Copy a finished digest into the result buffer (write-only client memory) and complete. */
static void put_digest(bk_task *task, const bk_host_api *host, const unsigned char *d)
{
	size_t cap = 0;
	void *out = host->result(task, &cap);

	if (cap >= SHA256_LEN)
		memcpy(out, d, SHA256_LEN);
	host->complete(task, 0, SHA256_LEN); /* cap < 32: the host completes with -ENOBUFS */
}

/* Pool thread: the digest in chunks, looking for a cancellation between two. */
static int job_work(bk_task *task, void *ud)
{
	struct hash_job *job = ud;
	const unsigned char *p = job->arg;
	struct sha256_ctx ctx;

	sha256_init(&ctx);
	for (size_t done = 0; done < job->len;) {
		size_t step = job->len - done < HASH_CHUNK ? job->len - done : HASH_CHUNK;
		if (job->host->cancelled(task))
			return -ECANCELED;
		sha256_update(&ctx, step, p + done);
		done += step;
	}
	sha256_digest(&ctx, SHA256_LEN, job->digest);
	return 0;
}

static void job_done(bk_task *task, int res, void *ud)
{
	struct hash_job *job = ud;
	const bk_host_api *host = job->host;

	if (res < 0)
		host->complete(task, res, 0);
	else
		put_digest(task, host, job->digest);
	free(job);
}

static int hash_sha256(bk_task *task, const bk_host_api *host, void *state)
{
	size_t len = 0;
	const void *arg = host->arg(task, &len);
	unsigned char d[SHA256_LEN];
	struct hash_job *job;
	int rc;

	(void)state;
	if (len <= HASH_INLINE_MAX) {
		digest(arg, len, d);
		put_digest(task, host, d);
		return BK_TASK_DONE;
	}
	job = malloc(sizeof(*job));
	if (!job)
		return -ENOMEM;
	job->host = host;
	job->arg = arg;
	job->len = len;
	rc = host->offload(task, job_work, job_done, job);
	if (rc < 0) {
		free(job);
		return rc;
	}
	return BK_TASK_PENDING;
}

static const bk_function_desc hash_functions[] = {
	{ .name = "sha256", .handler = hash_sha256 },
	{ .name = "sha256_file", .handler = hash_sha256_file },
};

static const bk_module_desc hash_desc = {
	.size = sizeof(bk_module_desc),
	.abi_version = BK_MODULE_ABI_VERSION,
	.name = "hash",
	.version = "1.0.0",
	.functions = hash_functions,
	.nfunctions = sizeof(hash_functions) / sizeof(hash_functions[0]),
	.init = hash_init,
};

const bk_module_desc *BK_MODULE_ENTRY(void)
{
	return &hash_desc;
}
