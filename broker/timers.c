// SPDX-License-Identifier: MIT
/*
 * timers.c - the binary min-heap of timers.h.  Each entry knows its index,
 * so moving or removing one is a sift from where it is, O(log n).
 */
#include "timers.h"

#include <errno.h>
#include <stdlib.h>

#define INITIAL_CAP 64u

static void place(struct bkd_timers *h, uint32_t i, struct bkd_timer *t)
{
	h->heap[i] = t;
	t->idx = i;
}

static void sift_up(struct bkd_timers *h, uint32_t i)
{
	struct bkd_timer *t = h->heap[i];
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;
		if (h->heap[parent]->deadline <= t->deadline)
			break;
		place(h, i, h->heap[parent]);
		i = parent;
	}
	place(h, i, t);
}

static void sift_down(struct bkd_timers *h, uint32_t i)
{
	struct bkd_timer *t = h->heap[i];
	for (;;) {
		uint32_t l = 2 * i + 1;
		if (l >= h->n)
			break;
		uint32_t m = l + 1 < h->n && h->heap[l + 1]->deadline < h->heap[l]->deadline ? l + 1 : l;
		if (t->deadline <= h->heap[m]->deadline)
			break;
		place(h, i, h->heap[m]);
		i = m;
	}
	place(h, i, t);
}

int bkd_timers_add(struct bkd_timers *h, struct bkd_timer *t, int64_t deadline)
{
	if (h->n == h->cap) {
		uint32_t cap = h->cap ? h->cap * 2 : INITIAL_CAP;
		if (cap <= h->cap)
			return -ENOMEM;
		struct bkd_timer **heap = realloc(h->heap, (size_t)cap * sizeof(*heap));
		if (!heap)
			return -ENOMEM;
		h->heap = heap;
		h->cap = cap;
	}
	t->deadline = deadline;
	place(h, h->n++, t);
	sift_up(h, t->idx);
	return 0;
}

void bkd_timers_move(struct bkd_timers *h, struct bkd_timer *t, int64_t deadline)
{
	if (!bkd_timer_queued(t))
		return;
	int64_t old = t->deadline;
	t->deadline = deadline;
	if (deadline < old)
		sift_up(h, t->idx);
	else
		sift_down(h, t->idx);
}

void bkd_timers_del(struct bkd_timers *h, struct bkd_timer *t)
{
	if (!bkd_timer_queued(t))
		return;
	uint32_t i = t->idx;
	t->idx = BKD_TIMER_NONE;
	struct bkd_timer *last = h->heap[--h->n];
	if (i == h->n)
		return;
	/* The last entry fills the hole and goes whichever way its deadline says. */
	place(h, i, last);
	if (i > 0 && h->heap[(i - 1) / 2]->deadline > last->deadline)
		sift_up(h, i);
	else
		sift_down(h, i);
}

struct bkd_timer *bkd_timers_pop_due(struct bkd_timers *h, int64_t now)
{
	if (!h->n || h->heap[0]->deadline > now)
		return NULL;
	struct bkd_timer *t = h->heap[0];
	bkd_timers_del(h, t);
	return t;
}

void bkd_timers_fini(struct bkd_timers *h)
{
	free(h->heap);
	h->heap = NULL;
	h->n = h->cap = 0;
}
