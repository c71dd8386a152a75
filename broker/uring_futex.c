// SPDX-License-Identifier: MIT
/*
 * uring_futex.c - decide once, at start-up, whether io_uring futex requests
 * work here (docs/ARCHITECTURE.md, "Wake-ups": FUTEX_WAIT through io_uring on 6.7+, an eventfd
 * otherwise).  It logs nothing and needs nothing else of brokerd: broker-bench
 * asks the same question before its io_uring futex baseline.
 */
#include "uring_futex.h"

#include <errno.h>
#include <stdatomic.h>

static int wait_one(struct io_uring *ring, uint64_t *ud, int *res)
{
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = { .tv_sec = 1, .tv_nsec = 0 };
	int r = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
	if (r < 0)
		return r;
	*ud = cqe->user_data;
	*res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return 0;
}

int bkd_uring_futex_check(int *mismatch_res)
{
	struct io_uring_probe *probe = io_uring_get_probe();
	bool listed = probe && io_uring_opcode_supported(probe, BKD_IORING_OP_FUTEX_WAIT) &&
		      io_uring_opcode_supported(probe, BKD_IORING_OP_FUTEX_WAKE);
	if (probe)
		io_uring_free_probe(probe);
	if (!listed)
		return -ENOTSUP;

	struct io_uring ring;
	int e = io_uring_queue_init(8, &ring, 0);
	if (e < 0)
		return e;
	int rc = -ENOTSUP; /* until both steps pass */
	_Atomic uint32_t word = 5;
	uint64_t ud = 0;
	int res = 0;

	/* 1. A wait on a value that is not there must fail with -EAGAIN at once. */
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	bkd_prep_futex_wait(sqe, &word, 4);
	io_uring_sqe_set_data64(sqe, 1);
	if (io_uring_submit(&ring) != 1 || wait_one(&ring, &ud, &res) < 0 || res != -EAGAIN) {
		if (mismatch_res)
			*mismatch_res = res;
		rc = -EPROTO;
		goto out;
	}
	/* 2. A wait on the right value must be completed by a wake. */
	sqe = io_uring_get_sqe(&ring);
	bkd_prep_futex_wait(sqe, &word, 5);
	io_uring_sqe_set_data64(sqe, 2);
	sqe = io_uring_get_sqe(&ring);
	bkd_prep_futex_wake(sqe, &word);
	io_uring_sqe_set_data64(sqe, 3);
	if (io_uring_submit(&ring) != 2)
		goto out;
	int got_wait = 0, got_wake = 0;
	for (int i = 0; i < 2; i++) {
		if (wait_one(&ring, &ud, &res) < 0)
			goto out;
		if (ud == 2 && res == 0)
			got_wait = 1;
		if (ud == 3 && res >= 0)
			got_wake = 1;
	}
	if (got_wait && got_wake)
		rc = 0;
out:
	io_uring_queue_exit(&ring);
	return rc;
}
