// SPDX-License-Identifier: MIT
/*
 * spin.c - the worker's spin policy (spin.h).  Every decision is taken once
 * per idle period, at its first idle turn, so its cost is paid per sleep
 * avoided, not per loop turn; /proc/loadavg is read at most once a
 * millisecond.
 */
#include "spin.h"

#include <sched.h>

#include "broker/sys.h"

#define PROBE_MIN 8u
#define PROBE_MAX 256u
/*
 * The runnable count is read at most once per BK_LOAD_CHECK_NS (sys.h): a
 * client in a loop of single round trips starts an idle period per task.
 * A polite spin lasts at most BK_POLITE_SPIN_MAX_NS: it is there for the
 * client that submits again a few microseconds after its completion, and
 * with 100 apps ticking spread over 10 ms a 50 us one doubled brokerd's tick
 * p99 (docs/BENCHMARKS.md, "Polite spinning").
 */

void bkd_spin_init(struct bkd_spin *s, int64_t budget_ns, enum bkd_spin_policy policy)
{
	*s = (struct bkd_spin){ .budget_ns = budget_ns, .policy = policy, .probe_every = PROBE_MIN };
	bk_load_check_init(&s->load, policy == BKD_SPIN_ADAPTIVE && budget_ns > 0);
}

void bkd_spin_fini(struct bkd_spin *s)
{
	bk_load_check_fini(&s->load);
}

void bkd_spin_busy(struct bkd_spin *s)
{
	if (!s->idle_since)
		return;
	int64_t gap = bk_now_ns() - s->idle_since;
	/* EWMA with weight 1/8: a few short gaps bring spinning back, one long one does not stop it. */
	s->gap_ewma_ns += (gap - s->gap_ewma_ns) / 8;
	if (gap <= s->budget_ns)
		s->probe_every = PROBE_MIN; /* spinning would have paid: probe often again */
	s->idle_since = 0;
	s->idle_turns = 0;
}

/* Is spinning this idle period, starting now, worth it? */
static bool worth_spinning(struct bkd_spin *s, int64_t now, bool (*clients_all_asleep)(void *arg), void *arg)
{
	s->yield = false;
	if (s->budget_ns <= 0)
		return false;
	if (s->policy == BKD_SPIN_ALWAYS)
		return true;
	/*
	 * Recent idle periods outlasted the budget: this one most likely will too.
	 * Now and then such a period spins anyway, as a probe: a period that ended
	 * in a sleep is measured with the wake-up latency in it, so without probes
	 * a client that went back to a tight loop would never bring spinning back.
	 * Probes back off: every 8th period, doubling to every 256th while they
	 * fail, back to 8 when a period is short again (bkd_spin_busy).
	 */
	if (s->gap_ewma_ns > s->budget_ns) {
		if (++s->probe < s->probe_every)
			return false;
		s->probe = 0;
		if (s->probe_every < PROBE_MAX)
			s->probe_every *= 2;
	}
	/* Every client waits on us: no submission can come before one of our own completions, which wakes
	 * a sleeping io_uring_enter as well. */
	if (clients_all_asleep && clients_all_asleep(arg))
		return false;
	/*
	 * A thread of the machine waits for a CPU: then the period spins
	 * politely, yielding the CPU on every turn (docs/ARCHITECTURE.md,
	 * "Spinning that pays for itself").  A thread waiting for this CPU gets
	 * it at once, as if we slept (one queued on another CPU does not), and
	 * the client whose submission ends the period finds us awake: no
	 * wake-up syscall on its side, no IPI to a halted CPU on ours.
	 */
	s->yield = bk_load_check_busy(&s->load, now);
	return true;
}

bool bkd_spin_idle(struct bkd_spin *s, bool (*clients_all_asleep)(void *arg), void *arg)
{
	if (!s->idle_since) {
		s->idle_since = bk_now_ns();
		s->idle_turns = 0;
		bool spin = worth_spinning(s, s->idle_since, clients_all_asleep, arg);
		int64_t len = s->yield && s->budget_ns > BK_POLITE_SPIN_MAX_NS ? BK_POLITE_SPIN_MAX_NS : s->budget_ns;
		s->spin_until = spin ? s->idle_since + len : s->idle_since;
		if (spin)
			s->spun++;
		else
			s->skipped++;
		if (spin && s->yield)
			s->yielded++;
		return spin;
	}
	if (s->yield) {
		/* A turn costs a syscall here anyway: the clock every turn keeps the period within its budget. */
		if (bk_now_ns() >= s->spin_until)
			return false;
		sched_yield();
		return true;
	}
	/* The clock is read every 16 idle turns: reading it every turn was ~8% of a busy brokerd. */
	if ((++s->idle_turns & 15) != 0)
		return s->spin_until > s->idle_since;
	return bk_now_ns() < s->spin_until;
}

bool bkd_spin_spinning(const struct bkd_spin *s, int64_t now)
{
	return s->idle_since && s->spin_until > s->idle_since && now < s->spin_until;
}
