// SPDX-License-Identifier: MIT
/*
 * lanes.h - the worker's three priority lanes of taken, not yet started
 * tasks (docs/ARCHITECTURE.md, "Priorities").  A round of the worker first
 * takes entries from every connection with work into the lanes, then starts
 * them: interactive first, with normal and background each guaranteed a
 * share of the round so that neither starves.  Worker thread only.
 */
#ifndef BROKER_LANES_H
#define BROKER_LANES_H

#include <stdbool.h>
#include <stdint.h>

#define BKD_LANES 3u /* BK_SQE_PRIO_NORMAL, _INTERACTIVE, _BACKGROUND */
/* Starts per round; the shares below are of this. */
#define BKD_LANES_ROUND 256u
#define BKD_LANES_SHARE_NORMAL 4u /* normal gets at least 1/4 of a round when it has work */
#define BKD_LANES_SHARE_BACKGROUND 8u /* background at least 1/8 */

struct bk_task;

struct bkd_lane {
	struct bk_task *head, *tail;
	unsigned n;
};

struct bkd_lanes {
	struct bkd_lane lane[BKD_LANES];
	unsigned queued; /* sum of the lanes' n */
};

/* Queue t (its prio says where) behind the tasks of its lane: FIFO within a lane. */
void bkd_lanes_push(struct bkd_lanes *l, struct bk_task *t);
/* How many of each lane a round of up to `round` starts takes, by the rule above. */
void bkd_lanes_plan(const struct bkd_lanes *l, unsigned round, unsigned take[BKD_LANES]);
/* Pop the head of lane i, NULL when empty. */
struct bk_task *bkd_lanes_pop(struct bkd_lanes *l, unsigned i);

#endif /* BROKER_LANES_H */
