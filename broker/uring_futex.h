// SPDX-License-Identifier: MIT
/*
 * uring_futex.h - FUTEX_WAIT / FUTEX_WAKE requests for io_uring (kernel
 * 6.7+), filled by hand because liburing 2.3 has no helpers for them.
 * The futex words live in memory shared with another process, so the
 * requests must NOT carry FUTEX2_PRIVATE.
 */
#ifndef BROKER_URING_FUTEX_H
#define BROKER_URING_FUTEX_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

#define BKD_IORING_OP_FUTEX_WAIT 51
#define BKD_IORING_OP_FUTEX_WAKE 52
#define BKD_FUTEX2_SIZE_U32 0x02u
#define BKD_FUTEX_BITSET_MATCH_ANY 0xffffffffu

/* Complete when *word is woken; completes at once with -EAGAIN if *word != expected. */
static inline void bkd_prep_futex_wait(struct io_uring_sqe *sqe, _Atomic uint32_t *word, uint32_t expected)
{
	io_uring_prep_rw(BKD_IORING_OP_FUTEX_WAIT, sqe, (int)BKD_FUTEX2_SIZE_U32, (const void *)word, 0, expected);
	sqe->addr3 = BKD_FUTEX_BITSET_MATCH_ANY;
}

/* Wake every waiter on *word. */
static inline void bkd_prep_futex_wake(struct io_uring_sqe *sqe, _Atomic uint32_t *word)
{
	io_uring_prep_rw(BKD_IORING_OP_FUTEX_WAKE, sqe, (int)BKD_FUTEX2_SIZE_U32, (const void *)word, 0, INT32_MAX);
	sqe->addr3 = BKD_FUTEX_BITSET_MATCH_ANY;
}

/*
 * Does this kernel run futex requests through io_uring?  The opcode probe
 * alone is not trusted: a real wait (value mismatch -> -EAGAIN) and a real
 * wait + wake are performed on a scratch ring.  0 when they work; -EPROTO
 * when the mismatch wait did not fail with -EAGAIN at once (its result in
 * *mismatch_res, if not NULL); -ENOTSUP when the opcodes are not listed or
 * the wait + wake did not complete; the scratch ring's own error when it
 * cannot be set up.
 */
int bkd_uring_futex_check(int *mismatch_res);

#endif /* BROKER_URING_FUTEX_H */
