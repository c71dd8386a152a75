// SPDX-License-Identifier: MIT
/*
 * fuzz_lanes.c - libFuzzer target: the worker's priority lanes
 * (broker/lanes.c; docs/ARCHITECTURE.md, "Priorities") under any mix of
 * pushes and rounds a hostile set of clients can cause.  Checked: a plan
 * never takes more than the round nor more than a lane holds, each lane's
 * guaranteed share is honoured when it has work, a round takes all it may
 * (no idle start while work waits), and every lane is FIFO.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_input.h"
#include "lanes.h"
#include "task.h"

#define POOL 1024

static struct bk_task pool[POOL];
static uint32_t seq_of[POOL]; /* push order, to check FIFO per lane */

static unsigned index_of(const struct bk_task *t)
{
	return (unsigned)(t - pool);
}

static void check_plan(const struct bkd_lanes *l, unsigned round, const unsigned take[BKD_LANES])
{
	unsigned sum = 0;
	for (unsigned i = 0; i < BKD_LANES; i++) {
		FUZZ_ASSERT(take[i] <= l->lane[i].n);
		sum += take[i];
	}
	FUZZ_ASSERT(sum <= round);
	/* Work conserving: a round stops short only when the lanes are empty. */
	FUZZ_ASSERT(sum == (l->queued < round ? l->queued : round));
	unsigned want_n = round / BKD_LANES_SHARE_NORMAL ? round / BKD_LANES_SHARE_NORMAL : 1;
	unsigned want_b = round / BKD_LANES_SHARE_BACKGROUND ? round / BKD_LANES_SHARE_BACKGROUND : 1;
	unsigned nn = l->lane[BK_SQE_PRIO_NORMAL].n, nb = l->lane[BK_SQE_PRIO_BACKGROUND].n;
	if (want_n + want_b <= round) {
		FUZZ_ASSERT(take[BK_SQE_PRIO_NORMAL] >= (nn < want_n ? nn : want_n));
		FUZZ_ASSERT(take[BK_SQE_PRIO_BACKGROUND] >= (nb < want_b ? nb : want_b));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct bkd_lanes l;
	memset(&l, 0, sizeof(l));
	unsigned used = 0;
	uint32_t seq = 0, last_popped[BKD_LANES] = { 0 };
	bool popped_any[BKD_LANES] = { false };
	while (in.len > 0) {
		uint8_t op = fuzz_u8(&in);
		if (op < 0xC0) { /* push a burst of op % 32 + 1 tasks into one lane */
			unsigned n = op % 32 + 1, prio = (op >> 5) % BKD_LANES;
			for (unsigned k = 0; k < n && used < POOL; k++) {
				struct bk_task *t = &pool[used];
				memset(t, 0, sizeof(*t));
				t->prio = (uint8_t)prio;
				seq_of[used++] = seq++;
				bkd_lanes_push(&l, t);
			}
			continue;
		}
		unsigned round = fuzz_u16(&in) % (2 * BKD_LANES_ROUND + 1);
		unsigned take[BKD_LANES];
		bkd_lanes_plan(&l, round, take);
		check_plan(&l, round, take);
		for (unsigned i = 0; i < BKD_LANES; i++)
			for (unsigned k = 0; k < take[i]; k++) {
				struct bk_task *t = bkd_lanes_pop(&l, i);
				FUZZ_ASSERT(t && t->prio == i);
				uint32_t s = seq_of[index_of(t)];
				FUZZ_ASSERT(!popped_any[i] || s > last_popped[i]);
				last_popped[i] = s;
				popped_any[i] = true;
			}
	}
	unsigned left = l.queued;
	for (unsigned i = 0; i < BKD_LANES; i++)
		while (bkd_lanes_pop(&l, i))
			left--;
	FUZZ_ASSERT(left == 0 && l.queued == 0);
	return 0;
}
