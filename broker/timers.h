// SPDX-License-Identifier: MIT
/*
 * timers.h - a worker's timers: a binary min-heap of deadlines
 * (docs/ARCHITECTURE.md, "Timers").  The worker keeps one io_uring timeout
 * armed for the earliest deadline; adding, moving and removing an entry are
 * O(log n) here in user space, so cancelling 65k timers costs no kernel walk.
 * An entry is embedded in its owner (a task's op record today; a task's
 * deadline later) and may sit in the heap once.  Worker thread only.
 */
#ifndef BROKER_TIMERS_H
#define BROKER_TIMERS_H

#include <stdbool.h>
#include <stdint.h>

#define BKD_TIMER_NONE UINT32_MAX /* bkd_timer.idx of an entry not in the heap */

/* What an entry belongs to, for whoever fires it (task.c). */
#define BKD_TIMER_OP 0u /* a host->timeout op: struct bkd_op.timer */
#define BKD_TIMER_DEADLINE 1u /* a started task's deadline: struct bk_task.deadline_timer */

struct bkd_timer {
	int64_t deadline; /* CLOCK_MONOTONIC ns (bk_now_ns) */
	uint32_t idx; /* position in the heap, BKD_TIMER_NONE when not queued */
	uint32_t kind; /* BKD_TIMER_*; set by the owner after bkd_timer_init */
};

struct bkd_timers {
	struct bkd_timer **heap;
	uint32_t n, cap;
};

static inline void bkd_timer_init(struct bkd_timer *t)
{
	t->deadline = 0;
	t->idx = BKD_TIMER_NONE;
	t->kind = BKD_TIMER_OP;
}

static inline bool bkd_timer_queued(const struct bkd_timer *t)
{
	return t->idx != BKD_TIMER_NONE;
}

/* The earliest deadline, or INT64_MAX when empty. */
static inline int64_t bkd_timers_next(const struct bkd_timers *h)
{
	return h->n ? h->heap[0]->deadline : INT64_MAX;
}

/* Queue t (not queued) for deadline: 0, or -ENOMEM. */
int bkd_timers_add(struct bkd_timers *h, struct bkd_timer *t, int64_t deadline);
/* Give a queued t a new deadline (earlier or later). */
void bkd_timers_move(struct bkd_timers *h, struct bkd_timer *t, int64_t deadline);
/* Take t out of the heap, if it is in. */
void bkd_timers_del(struct bkd_timers *h, struct bkd_timer *t);
/* Remove and return the earliest entry when its deadline is <= now, else NULL. */
struct bkd_timer *bkd_timers_pop_due(struct bkd_timers *h, int64_t now);
/* Free the heap's array (entries belong to their owners). */
void bkd_timers_fini(struct bkd_timers *h);

#endif /* BROKER_TIMERS_H */
