// SPDX-License-Identifier: MIT
/*
 * test_host.h - a real bk_host_api for tests that drives modules without
 * brokerd.  Each operation is recorded; io operations are queued and run by
 * th_run() in order (as a worker's completion loop would), so handlers see
 * truly asynchronous callbacks.  A cancelled task's queued operations get
 * -ECANCELED, except close, which (as in io_uring) takes effect at once.
 */
#ifndef BK_TEST_HOST_H
#define BK_TEST_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "broker/module.h"

enum th_op_kind { TH_READ, TH_WRITE, TH_OPENAT, TH_CLOSE, TH_TIMEOUT, TH_OFFLOAD };

#define TH_MAX_OPS 64

struct th_op {
	enum th_op_kind kind;
	int fd;
	void *buf;
	uint32_t len;
	uint64_t offset;
	char path[4096];
	int flags;
	uint64_t ns;
	int res; /* close, offload: already known */
	bk_io_cb cb;
	void *ud;
};

struct bk_task {
	const void *arg;
	size_t arglen;
	void *result;
	size_t cap;
	int cancelled;
	uint32_t max_io; /* nonzero: reads and writes move at most this many bytes (short I/O) */

	int completions; /* must end at exactly 1 */
	int status;
	size_t len; /* as passed to complete; status -ENOBUFS when it exceeded cap */

	struct th_op ops[TH_MAX_OPS]; /* queued, not yet run */
	int nops;
	int counts[TH_OFFLOAD + 1]; /* operations started, by kind */
	uint64_t last_timeout_ns;
	char last_log[256];
};

/* The host table; the same for every task. */
extern const bk_host_api th_host;

/* Prepare a task with an argument and a result buffer. */
void th_task_init(struct bk_task *t, const void *arg, size_t arglen, void *result, size_t cap);

/* Run queued operations (and those they queue) until none is left or max ran. Returns how many ran. */
int th_run(struct bk_task *t, int max);

/* Mark the task cancelled, as a client cancel would. */
void th_cancel(struct bk_task *t);

#endif /* BK_TEST_HOST_H */
