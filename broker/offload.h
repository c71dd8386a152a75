// SPDX-License-Identifier: MIT
/*
 * offload.h - the blocking-work pool (in the spirit of libuv's uv__work):
 * a fixed set of threads runs work items that must not block a worker's
 * event loop.  The pool knows nothing of tasks or workers: an item brings
 * two hooks, work() and done(), both run on the pool thread; done() is where
 * the submitter hands the result back to its own thread (host_api.c posts it
 * to the task's worker inbox).
 */
#ifndef BROKER_OFFLOAD_H
#define BROKER_OFFLOAD_H

struct bkd_offload;

struct bkd_work {
	void (*work)(struct bkd_work *item); /* pool thread: the blocking part */
	void (*done)(struct bkd_work *item); /* pool thread, after work: hand the item back */
	struct bkd_work *qnext; /* the pool's queue */
};

int bkd_offload_create(unsigned nthreads, unsigned capacity, struct bkd_offload **out);
/* Queue item.  -EAGAIN when the queue is full, -ESHUTDOWN when stopping. */
int bkd_offload_submit(struct bkd_offload *p, struct bkd_work *item);
/* Run what is queued, then stop and join the threads.  NULL is a no-op. */
void bkd_offload_destroy(struct bkd_offload *p);

#endif /* BROKER_OFFLOAD_H */
