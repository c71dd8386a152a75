// SPDX-License-Identifier: MIT
/*
 * spin.c - how long a waiting client thread busy-polls before it sleeps
 * (docs/ARCHITECTURE.md, "Spinning that pays for itself").  A spin only
 * saves the latency of a sleep and a wake-up, so with the adaptive default
 * a wait spins only when recent waits were short enough for a spin to catch
 * them; and while some thread of the machine waits for a CPU, which a plain
 * spin would take from the broker or from another app, it spins politely:
 * sched_yield() between looks, so that thread runs first.
 */

#include "client_internal.h"

void bkc_spin_init(bk_client *c)
{
	bk_load_check_init(&c->load, c->spin_ns < 0);
	atomic_init(&c->spin_probe, 0);
	atomic_init(&c->spin_probe_every, 8);
}

void bkc_spin_fini(bk_client *c)
{
	bk_load_check_fini(&c->load);
}

int64_t bkc_spin_budget(bk_client *c, int64_t now, bool *yield)
{
	*yield = false;
	if (c->spin_ns >= 0)
		return c->spin_ns; /* what the app asked for */
	/* Twice the recent average wait, within bounds; a wait longer than any spin we allow sleeps at once. */
	int64_t spin = 2 * atomic_load_explicit(&c->wait_ewma_ns, memory_order_relaxed);
	if (spin > BKC_SPIN_MAX_NS) {
		/*
		 * Now and then such a wait spins the budget anyway: a wait that slept
		 * is measured with the wake-up latency in it, so without probes a
		 * broker that answers fast again would never be noticed.  Every 8th,
		 * doubling to every 256th while they fail; a short wait resets it
		 * (bkc_spin_learned).  Relaxed: hints shared by the client's threads.
		 */
		unsigned every = atomic_load_explicit(&c->spin_probe_every, memory_order_relaxed);
		if ((atomic_fetch_add_explicit(&c->spin_probe, 1, memory_order_relaxed) + 1) % every != 0)
			return 0;
		if (every < 256)
			atomic_store_explicit(&c->spin_probe_every, every * 2, memory_order_relaxed);
		spin = BKC_SPIN_MAX_NS;
	}
	if (spin < BKC_SPIN_MIN_NS)
		spin = BKC_SPIN_MIN_NS;
	/* Polite, and short: a thread that yielded has no wake-up preemption to take the CPU back (sys.h). */
	*yield = bk_load_check_busy(&c->load, now);
	if (*yield && spin > BK_POLITE_SPIN_MAX_NS)
		spin = BK_POLITE_SPIN_MAX_NS;
	return spin;
}

void bkc_spin_learned(bk_client *c, int64_t took_ns)
{
	if (took_ns <= BKC_SPIN_MAX_NS)
		atomic_store_explicit(&c->spin_probe_every, 8, memory_order_relaxed); /* spinning would have paid */
}
