// SPDX-License-Identifier: MIT
/*
 * host_op.h - the common start and end of a module's io_uring operation
 * (host_api.c, host_net.c): the worker and cancellation checks, the op
 * record, the caller's personality, and a linked timeout when the task
 * asked for one (host->link_timeout).
 */
#ifndef BROKER_HOST_OP_H
#define BROKER_HOST_OP_H

#include <liburing.h>
#include <stdbool.h>

#include "task.h"

/*
 * An op record and a free SQE for t.  A cancelled task may only close (so
 * that a module can always release its fds).  0, -EPERM (not on t's
 * worker), -ECANCELED, -ENOMEM, -EBUSY, or the personality's error.
 */
int bkd_hop_begin(struct bk_task *t, enum bkd_op_type type, bool allow_cancelled, bk_io_cb cb, void *ud,
		  struct bkd_op **opp, struct io_uring_sqe **sqep);
/* After the prep helper: personality, user_data, and the linked timeout if one is due. */
void bkd_hop_commit(struct bkd_op *op, struct io_uring_sqe *sqe);

#endif /* BROKER_HOST_OP_H */
