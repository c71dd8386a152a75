// SPDX-License-Identifier: MIT
/*
 * lanes.c - priority lanes: three intrusive FIFOs and the share rule of a
 * round (docs/ARCHITECTURE.md, "Priorities").  Pure bookkeeping; task.c
 * starts what bkd_lanes_plan says.
 */
#include "lanes.h"

#include <stddef.h>

#include "task.h"

void bkd_lanes_push(struct bkd_lanes *l, struct bk_task *t)
{
	struct bkd_lane *q = &l->lane[t->prio];
	t->lane_next = NULL;
	if (q->tail)
		q->tail->lane_next = t;
	else
		q->head = t;
	q->tail = t;
	q->n++;
	l->queued++;
}

struct bk_task *bkd_lanes_pop(struct bkd_lanes *l, unsigned i)
{
	struct bkd_lane *q = &l->lane[i];
	struct bk_task *t = q->head;
	if (!t)
		return NULL;
	q->head = t->lane_next;
	if (!q->head)
		q->tail = NULL;
	q->n--;
	l->queued--;
	t->lane_next = NULL;
	return t;
}

static unsigned min_u(unsigned a, unsigned b)
{
	return a < b ? a : b;
}

/*
 * Strict priority with reserved shares: normal and background first get
 * their guaranteed minimum (if they have work), interactive takes what it
 * needs of the rest, then normal, then background take what is left.  With
 * only one lane busy it gets the whole round.
 */
void bkd_lanes_plan(const struct bkd_lanes *l, unsigned round, unsigned take[BKD_LANES])
{
	if (round == 0) { /* the shares' minimum of 1 below would make `left` wrap (tests/fuzz/fuzz_lanes.c) */
		take[0] = take[1] = take[2] = 0;
		return;
	}
	const unsigned ni = l->lane[BK_SQE_PRIO_INTERACTIVE].n;
	const unsigned nn = l->lane[BK_SQE_PRIO_NORMAL].n;
	const unsigned nb = l->lane[BK_SQE_PRIO_BACKGROUND].n;
	/* One lane busy, the usual case: it gets the whole round, as the shares below would give it. */
	if ((ni != 0) + (nn != 0) + (nb != 0) <= 1) {
		take[BK_SQE_PRIO_INTERACTIVE] = min_u(ni, round);
		take[BK_SQE_PRIO_NORMAL] = min_u(nn, round);
		take[BK_SQE_PRIO_BACKGROUND] = min_u(nb, round);
		return;
	}
	unsigned rn = min_u(nn, round / BKD_LANES_SHARE_NORMAL ? round / BKD_LANES_SHARE_NORMAL : 1);
	unsigned rb = min_u(nb, round / BKD_LANES_SHARE_BACKGROUND ? round / BKD_LANES_SHARE_BACKGROUND : 1);
	if (rn + rb > round)
		rb = round - min_u(rn, round);
	unsigned left = round - rn - rb;
	unsigned ti = min_u(ni, left);
	left -= ti;
	unsigned tn = rn + min_u(nn - rn, left);
	left -= tn - rn;
	unsigned tb = rb + min_u(nb - rb, left);
	take[BK_SQE_PRIO_INTERACTIVE] = ti;
	take[BK_SQE_PRIO_NORMAL] = tn;
	take[BK_SQE_PRIO_BACKGROUND] = tb;
}
