// SPDX-License-Identifier: MIT
/*
 * host_op.c - the common start and end of every io_uring operation a
 * module starts (host_op.h).  The op runs as the task's caller
 * (personality.h; 0 when brokerd's own credentials are the caller's, or
 * brokerd cannot switch).  A timeout the task asked for with
 * host->link_timeout rides on the op as IOSQE_IO_LINK + LINK_TIMEOUT: both
 * SQEs are taken before either is filled, so that no submit can fall
 * between them and break the link.
 */
#include "host_op.h"

#include <errno.h>

#include "personality.h"
#include "worker.h"

int bkd_hop_begin(struct bk_task *t, enum bkd_op_type type, bool allow_cancelled, bk_io_cb cb, void *ud,
		  struct bkd_op **opp, struct io_uring_sqe **sqep)
{
	if (!bkd_worker_is_current(t->w))
		return -EPERM;
	if (!allow_cancelled && atomic_load_explicit(&t->cancelled, memory_order_relaxed))
		return -ECANCELED;
	int pers = bkd_pers_for(t->w->b->pers, t->w, t->conn->caller);
	if (pers < 0)
		return pers;
	struct bkd_op *op = bkd_task_op_new(t, type, cb, ud);
	if (!op)
		return -ENOMEM;
	op->personality = (uint16_t)pers;
	if (t->link_ns && type == BKD_OPT_IO && io_uring_sq_space_left(&t->w->ring) < 2) {
		int r = io_uring_submit(&t->w->ring);
		if (r < 0) {
			bkd_task_op_abort(op);
			return r == -EINTR || r == -EAGAIN ? -EBUSY : r;
		}
	}
	struct io_uring_sqe *sqe = bkd_worker_sqe(t->w);
	if (!sqe) {
		bkd_task_op_abort(op);
		return -EBUSY;
	}
	*opp = op;
	*sqep = sqe;
	return 0;
}

void bkd_hop_commit(struct bkd_op *op, struct io_uring_sqe *sqe)
{
	struct bk_task *t = op->task;
	/* After the prep helper, which clears the field. */
	sqe->personality = op->personality;
	io_uring_sqe_set_data(sqe, &op->ud);
	if (!t->link_ns || op->type != BKD_OPT_IO)
		return;
	/* Room for it was made in bkd_hop_begin; the kernel copies the timespec at submission. */
	struct io_uring_sqe *lt = bkd_worker_sqe(t->w);
	if (!lt)
		return;
	op->ts.tv_sec = (long long)(t->link_ns / 1000000000u);
	op->ts.tv_nsec = (long long)(t->link_ns % 1000000000u);
	t->link_ns = 0;
	sqe->flags |= IOSQE_IO_LINK;
	io_uring_prep_link_timeout(lt, &op->ts, 0);
	io_uring_sqe_set_data64(lt, 0); /* its own result (fired or not) is not needed: op's says it */
	op->linked = true;
}
