// SPDX-License-Identifier: MIT
/*
 * offload.h - the blocking-work pool (in the spirit of libuv's uv__work):
 * a fixed set of threads runs work items that must not block a worker's
 * event loop.  The pool knows nothing of tasks or workers: an item brings
 * two hooks, work() and done(), both run on the pool thread; done() is where
 * the submitter hands the result back to its own thread (host_api.c posts it
 * to the task's worker inbox).
 *
 * Fairness (docs/ARCHITECTURE.md, "Offload: one queue per connection"):
 * items are queued per key (the submitting connection) and the keys are
 * served round robin; a key may hold at most BKD_OFFLOAD_PER_KEY items
 * (queued or running) and run on at most all threads but one, so one
 * client's long work never holds every thread while another waits.
 */
#ifndef BROKER_OFFLOAD_H
#define BROKER_OFFLOAD_H

#include <stdatomic.h>
#include <stdbool.h>

/* Items one key may have queued or running; more are refused with -EAGAIN. */
#define BKD_OFFLOAD_PER_KEY 64u

struct bkd_offload;

struct bkd_work {
	void (*work)(struct bkd_work *item); /* pool thread: the blocking part */
	void (*done)(struct bkd_work *item); /* pool thread, after work: hand the item back */
	const void *key; /* whose queue: fairness and quota (NULL is a key like any other) */
	const _Atomic int *cancelled; /* optional: once non-zero, work is not started */
	bool dropped; /* set by the pool before done(): work never ran (cancelled, or the pool stopping) */
	struct bkd_work *qnext; /* the pool's queue */
};

int bkd_offload_create(unsigned nthreads, unsigned capacity, struct bkd_offload **out);
/* Queue item.  -EAGAIN when the pool or item->key is at its limit, -ESHUTDOWN when stopping. */
int bkd_offload_submit(struct bkd_offload *p, struct bkd_work *item);
/* Drop what is queued (done() with dropped set), wait for running work, join the threads.  NULL is a no-op. */
void bkd_offload_destroy(struct bkd_offload *p);

#endif /* BROKER_OFFLOAD_H */
