/*
 * offload.h - a small pool of threads for blocking calls that must never
 * run on a worker.  Bounded queue; results go back through the owning
 * worker's inbox so callbacks run on the worker.
 */
#ifndef BROKER_OFFLOAD_H
#define BROKER_OFFLOAD_H

struct bkd_offload;
struct bkd_op;

int bkd_offload_create(unsigned nthreads, unsigned capacity, struct bkd_offload **out);
/* Queue op (op->work, op->task, op->cb_ud).  -EAGAIN when the queue is full, -ESHUTDOWN when stopping. */
int bkd_offload_submit(struct bkd_offload *p, struct bkd_op *op);
/* Run what is queued, then stop and join the threads.  NULL is a no-op. */
void bkd_offload_destroy(struct bkd_offload *p);

#endif /* BROKER_OFFLOAD_H */
