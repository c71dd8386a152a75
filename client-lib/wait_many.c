// SPDX-License-Identifier: MIT
/*
 * wait_many.c - bk_wait, bk_wait_all and bk_wait_any: one wait over one or
 * many futures of one client, with one spin and one sleep per wake-up for
 * all of them instead of one per future (docs/ARCHITECTURE.md, "Wake-ups").
 * bk_wait is the one-future case.  The sleep
 * is the same as bk_wait's: announce it on the CQ, re-check every future,
 * FUTEX_WAIT on the CQ's wake word in slices, with the broker-gone checks in
 * between.  bk_wait_all still waiting for n futures asks not to be woken
 * before n more completions were published (proto.h, wake_at).
 */
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>

#include "client_internal.h"

struct many {
	bk_future *const *fs;
	size_t n;
	bool all; /* bk_wait_all: every future; else the first one found */
	size_t next; /* all: fs[0..next) are known done (a done future stays done until released) */
	size_t found; /* any: the one that ended */
};

/* 1 when the wait is over, 0 not yet, or an error of one future (BK_ESTALE). */
static int scan(struct many *m, unsigned reap)
{
	for (size_t i = m->all ? m->next : 0; i < m->n; i++) {
		int r = bkc_check_future(m->fs[i], reap);
		reap = 0; /* one reap serves every future */
		if (r < 0 || (r > 0 && !m->all)) {
			m->found = i;
			return r;
		}
		if (r == 0 && m->all) {
			m->next = i;
			return 0;
		}
	}
	if (m->all)
		m->next = m->n;
	return m->all ? 1 : 0;
}

/* The answer once the wait is over: 0, or BK_EGONE when a future that counts was lost. */
static int finish(struct many *m, int r)
{
	if (r < 0)
		return r;
	if (!m->all)
		return bkc_outcome(m->fs[m->found], 1, 0);
	for (size_t i = 0; i < m->n; i++)
		if (bkc_outcome(m->fs[i], 1, 0) != 0)
			return BK_EGONE;
	return 0;
}

/* After the broker died: end what it left undone, then look again (everything is done now). */
static int scan_gone(struct many *m, bk_client *c)
{
	bkc_fail_pending(c);
	return scan(m, false);
}

/*
 * A few looks before the clock: with a spinning broker a round trip takes
 * a few hundred ns, and the two clock reads of a timed wait (its start, and
 * what it learnt) were a fifth of that (docs/BENCHMARKS.md).  A wait that
 * ends here counts as instant for the adaptive spin.  Skipped for an app
 * that asked never to spin and for a zero timeout; at most BKC_QUICK_LOOKS
 * pauses (well under a microsecond) otherwise.
 */
#define BKC_QUICK_LOOKS 16
static int quick_looks(struct many *m, bk_client *c, int64_t timeout_ns)
{
	if (c->spin_ns == 0 || timeout_ns == 0)
		return 0;
	for (unsigned i = 0; i < BKC_QUICK_LOOKS; i++) {
		bkc_cpu_relax();
		int r = scan(m, false);
		if (r != 0)
			return r;
	}
	return 0;
}

static int spin(struct many *m, bk_client *c, int64_t start, int64_t deadline)
{
	bool yield;
	int64_t budget = bkc_spin_budget(c, start, &yield);
	if (budget <= 0)
		return 0;
	int64_t end = start + budget < deadline ? start + budget : deadline;
	for (unsigned i = 1;; i++) {
		int r = scan(m, (i & 15) == 0);
		if (r != 0)
			return r;
		/* A polite spin (others wait for a CPU: spin.c) gives the CPU away at each look, and a look
		 * that costs a syscall can afford the clock; a plain one reads it every 16 looks. */
		if ((yield || (i & 15) == 0) && bk_now_ns() >= end)
			return 0;
		if (yield)
			sched_yield();
		else
			bkc_cpu_relax();
	}
}

/*
 * The CQ tail bk_wait_all needs before it can be done: every future it still waits for completes at
 * or past the head this client published (what it reaped), so at least that many entries must follow
 * it.  Other threads' completions count too: a lower bound, never late.  false: any completion may do.
 */
/*
 * Futures of the wait whose completion is not in yet, 0 when one shows up twice (then no gate: ring.h).
 * Not in: pending, and the slot's done_gen not its generation.  Every entry below the head we read is
 * seen done here: the broker stores done_gen before it publishes the entry (release tail), whoever
 * claimed it read that tail (acquire) before its head CAS (release), and we read the head (acquire).
 */
static uint32_t count_pending(const struct many *m, bk_client *c)
{
	uint32_t pending = 0;
	for (size_t i = m->next; i < m->n; i++) {
		const struct bk_future *f = m->fs[i];
		if (atomic_load_explicit(&f->state, memory_order_acquire) != F_PENDING)
			continue; /* done, or released (an error the scan reports): completes nothing we need */
		if (bkc_slot_done(c, f))
			continue; /* completed: its entry, if it counts at all, is already in the tail */
		for (size_t j = m->next; j < i; j++)
			if (m->fs[j] == m->fs[i])
				return 0; /* one completion would count twice */
		pending++;
	}
	return pending;
}

/*
 * The CQ tail bk_wait_all needs before it can be done: every future it still waits for completes at
 * or past the head this client published (what it reaped), so at least that many entries must follow
 * it.  Other threads' completions count too: a lower bound, never late.  false: no gate (one future
 * to go, too many to check for duplicates, or bk_wait_any).
 */
#define GATE_MAX_FUTURES 32
static bool needed_tail(struct many *m, bk_client *c, uint32_t *at)
{
	if (!m->all || m->n - m->next < 2 || m->n - m->next > GATE_MAX_FUTURES)
		return false;
	/* The head first: a future not seen completed below completes at or past it. */
	uint32_t head = atomic_load_explicit(&c->v.cq_ctl->head, memory_order_acquire);
	uint32_t pending = count_pending(m, c);
	if (pending < 2)
		return false;
	*at = head + pending;
	return true;
}

static int sleep_until_done(struct many *m, bk_client *c, int64_t deadline)
{
	for (;;) {
		int64_t now = bk_now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		/* Announce the sleep, then re-check: a completion published after this is seen or wakes us; with
		 * several futures to go, the broker wakes us when enough of them can have completed (ring.h). */
		uint32_t at = 0;
		bool gated = needed_tail(m, c, &at);
		uint32_t seq = bk_ring_sleep_prepare_until(c->v.cq_ctl, gated, at);
		int r = scan(m, BKC_REAP | BKC_REAP_SLEEPER);
		/*
		 * The socket is polled once a slice, not before every sleep: a client ticking every 10 ms
		 * paid a poll a tick, 3 % of a fleet's shared CPU.  A broker that died before this wait is
		 * noticed after one slice, as one that dies during it always was.
		 */
		if (r == 0 && !bkc_check_gone(c, BKC_WAIT_SLICE_NS)) {
			int64_t slice = deadline - now < BKC_WAIT_SLICE_NS ? deadline - now : BKC_WAIT_SLICE_NS;
			struct timespec ts = { .tv_sec = slice / 1000000000LL, .tv_nsec = slice % 1000000000LL };
			bk_futex_wait(&c->v.cq_ctl->wake_seq, seq, &ts);
			r = scan(m, false);
		}
		bk_ring_sleep_finish(c->v.cq_ctl, true);
		if (r != 0)
			return r;
		if (bkc_gone(c))
			return scan_gone(m, c);
	}
}

static int wait_many(struct many *m, int64_t timeout_ns)
{
	if (!m->fs)
		return -EINVAL;
	bk_client *c = NULL;
	for (size_t i = 0; i < m->n; i++) {
		if (!m->fs[i] || (c && m->fs[i]->c != c))
			return -EINVAL; /* every future, and all of one client */
		c = m->fs[i]->c;
	}
	if (!c)
		return m->all ? 0 : -EINVAL; /* all of none are done; any of none never is */
	int r = scan(m, true);
	if (r == 0 && bkc_gone(c))
		r = scan_gone(m, c);
	if (r != 0)
		return finish(m, r);
	r = quick_looks(m, c, timeout_ns);
	if (r != 0) {
		bkc_learn_wait_time(c, 0);
		return finish(m, r);
	}
	int64_t start = bk_now_ns();
	int64_t deadline = timeout_ns < 0 ? INT64_MAX : start + timeout_ns;
	r = spin(m, c, start, deadline);
	if (r == 0)
		r = sleep_until_done(m, c, deadline);
	if (r == -ETIMEDOUT)
		return r;
	bkc_learn_wait_time(c, bk_now_ns() - start);
	return finish(m, r);
}

BKC_API int bk_wait(bk_future *f, int64_t timeout_ns)
{
	struct many m = { .fs = &f, .n = 1, .all = true };
	return f ? wait_many(&m, timeout_ns) : -EINVAL;
}

BKC_API int bk_wait_all(bk_future *const *futures, size_t n, int64_t timeout_ns)
{
	struct many m = { .fs = futures, .n = n, .all = true };
	return wait_many(&m, timeout_ns);
}

BKC_API int bk_wait_any(bk_future *const *futures, size_t n, int64_t timeout_ns, size_t *index)
{
	struct many m = { .fs = futures, .n = n, .all = false };
	int r = wait_many(&m, timeout_ns);
	if (index && (r == 0 || r == BK_EGONE || r == BK_ESTALE))
		*index = m.found;
	return r;
}
