// SPDX-License-Identifier: MIT
/*
 * spin.h - when a worker with nothing to do busy-polls before it sleeps
 * (docs/ARCHITECTURE.md, "Spinning that pays for itself").  Spinning only
 * saves the wake-up latency of a sleep; on a machine with more runnable
 * threads than CPUs a plain spin takes the CPU from the very work it waits
 * for.  The adaptive policy spins an idle period only when
 *   - recent idle periods were shorter than the budget (an EWMA of them), and
 *   - not every client of the worker is itself asleep waiting on it;
 * and while a thread of the machine waits for a CPU (/proc/loadavg, read
 * at most once a millisecond), the period yields the CPU (sched_yield) on
 * every turn, so that a thread waiting for this CPU runs, and lasts at most
 * 10 us.
 */
#ifndef BROKER_SPIN_H
#define BROKER_SPIN_H

#include <stdbool.h>
#include <stdint.h>

#include "broker/sys.h"

enum bkd_spin_policy {
	BKD_SPIN_ADAPTIVE = 0, /* the default */
	BKD_SPIN_ALWAYS, /* spin the whole budget every time (benchmarks that ask for it) */
};

struct bkd_spin {
	int64_t budget_ns;
	enum bkd_spin_policy policy;
	int64_t gap_ewma_ns; /* idle periods, from the first idle turn to the next busy one */
	int64_t idle_since; /* 0 while busy */
	int64_t spin_until; /* end of this idle period's spin */
	unsigned idle_turns;
	bool yield; /* this idle period yields the CPU on every turn: other threads want one */
	unsigned probe; /* periods that did not spin since the last probe */
	unsigned probe_every; /* probe once in that many (8 to 256, doubling while probes fail) */
	struct bk_load_check load; /* is a CPU wanted by some thread (adaptive policy with a budget only) */
	/* Figures for tests: idle periods that spun (yielded: of those, politely) and that slept at once. */
	uint64_t spun, skipped, yielded;
};

void bkd_spin_init(struct bkd_spin *s, int64_t budget_ns, enum bkd_spin_policy policy);
void bkd_spin_fini(struct bkd_spin *s);

/* A turn found work: close the idle period (if one was open) and learn its length. */
void bkd_spin_busy(struct bkd_spin *s);

/* A turn found nothing.  True: turn again (spin); false: sleep now.  clients_all_asleep is asked only
 * when the policy needs it, at the start of an idle period. */
bool bkd_spin_idle(struct bkd_spin *s, bool (*clients_all_asleep)(void *arg), void *arg);

/* An idle period is open, decided to spin, and its spin does not end before `now`.  Asks nothing,
 * yields nothing: for a caller that must not spin twice in one turn (worker.c, sleep_at_once). */
bool bkd_spin_spinning(const struct bkd_spin *s, int64_t now);

#endif /* BROKER_SPIN_H */
