/*
 * offload.h - a small pool of threads for blocking calls that must never
 * run on a worker.  Bounded queue; results go back through the owning
 * worker's inbox so callbacks run on the worker.
 */
#ifndef BROKER_OFFLOAD_H
#define BROKER_OFFLOAD_H

struct bk_offload;
struct bk_op;

int bk_offload_create(unsigned nthreads, unsigned capacity, struct bk_offload **out);
/* Queue op (op->work, op->task, op->cb_ud).  -EAGAIN when the queue is full, -ESHUTDOWN when stopping. */
int bk_offload_submit(struct bk_offload *p, struct bk_op *op);
/* Run what is queued, then stop and join the threads.  NULL is a no-op. */
void bk_offload_destroy(struct bk_offload *p);

#endif /* BROKER_OFFLOAD_H */
