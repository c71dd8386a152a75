// SPDX-License-Identifier: MIT
/*
 * hash.c - the "hash" module: message digests with OpenSSL's libcrypto
 * (EVP), never hand-written crypto.
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

#include <openssl/evp.h>

#include "bk_mod.h"
#include "hash_file.h"

#define HASH_INLINE_MAX (64u * 1024u)
#define SHA256_LEN 32u
#define HASH_CHUNK (1u << 20) /* about a millisecond of SHA-256: how late a cancellation is seen */

struct hash_state {
	EVP_MD *sha256; /* fetched once: EVP_MD objects are safe to share between threads */
};

struct hash_job {
	const bk_host_api *host;
	const EVP_MD *md;
	const void *arg;
	size_t len;
	unsigned char digest[EVP_MAX_MD_SIZE];
};

static int hash_init(const bk_host_api *host, void **state)
{
	struct hash_state *st;

	*state = NULL;
	if (!BK_HOST_HAS(host, arg) || !BK_HOST_HAS(host, result) || !BK_HOST_HAS(host, complete) ||
	    !BK_HOST_HAS(host, offload) || !BK_HOST_HAS(host, cancelled))
		return -EPROTO;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!st->sha256 || EVP_MD_get_size(st->sha256) != (int)SHA256_LEN) {
		EVP_MD_free(st->sha256);
		free(st);
		return -ENOSYS;
	}
	*state = st;
	return 0;
}

static void hash_fini(void *state)
{
	struct hash_state *st = state;

	if (!st)
		return;
	EVP_MD_free(st->sha256);
	free(st);
}

static int digest(const EVP_MD *md, const void *data, size_t len, unsigned char *out)
{
	unsigned int n = 0;

	/* EVP_Digest accepts a NULL pointer only with length 0; give it a real one. */
	if (EVP_Digest(len ? data : "", len, out, &n, md, NULL) != 1 || n != SHA256_LEN)
		return -EIO;
	return 0;
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
	unsigned int n = 0;
	int rc = -EIO;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestInit_ex(ctx, job->md, NULL) != 1)
		goto out;
	for (size_t done = 0; done < job->len;) {
		size_t step = job->len - done < HASH_CHUNK ? job->len - done : HASH_CHUNK;
		if (job->host->cancelled(task)) {
			rc = -ECANCELED;
			goto out;
		}
		if (EVP_DigestUpdate(ctx, p + done, step) != 1)
			goto out;
		done += step;
	}
	if (EVP_DigestFinal_ex(ctx, job->digest, &n) == 1 && n == SHA256_LEN)
		rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	return rc;
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
	struct hash_state *st = state;
	size_t len = 0;
	const void *arg = host->arg(task, &len);
	unsigned char d[EVP_MAX_MD_SIZE];
	struct hash_job *job;
	int rc;

	if (len <= HASH_INLINE_MAX) {
		rc = digest(st->sha256, arg, len, d);
		if (rc < 0)
			return rc;
		put_digest(task, host, d);
		return BK_TASK_DONE;
	}
	job = malloc(sizeof(*job));
	if (!job)
		return -ENOMEM;
	job->host = host;
	job->md = st->sha256;
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
	.fini = hash_fini,
};

const bk_module_desc *BK_MODULE_ENTRY(void)
{
	return &hash_desc;
}
