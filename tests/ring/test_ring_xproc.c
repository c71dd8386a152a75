// SPDX-License-Identifier: MIT
/*
 * test_ring_xproc.c - the rings across a process boundary, under load.
 *
 * A forked child plays the broker on a real sealed memfd region: it drains
 * the SQ with bkd_conn_rings (fetch/complete/flush), answers each entry with
 * a function of its argument bytes, and sleeps on the SQ wake_seq futex with
 * the need_wakeup protocol whenever it is idle.  The parent plays the client
 * through its own bkc_region_map() mapping: 4 submitter threads (serialised on
 * the SQ by a mutex, batches of up to 32) and 2 reaper threads (lock-free
 * bk_cq_consumer_reap, sleeping on the CQ wake_seq when idle).
 *
 * Checked: every entry is consumed exactly once (the child's bitmap of
 * sequence numbers, its count and a checksum of what it read, against the
 * client's), every completion carries the answer to its own argument and is
 * reaped exactly once (a bitmap of sequence numbers and per-slot counters).
 * A watchdog fails the test (and kills the child) at the deadline.
 *
 * BK_RING_XPROC_ENTRIES overrides the 10 million entries; tests/ring/
 * meson.build sets it only for sanitizer builds.
 */
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <sys/mman.h>

#include "ring_fixture.h"
#include "ring_util.h"
#include "region_map.h"

#define NSUB 4
#define NREAP 2
#define NSLOTS 1024u
#define SLOTS_PER_SUB (NSLOTS / NSUB)
#define BATCH 32u
#define INLINE 64u
#define DEADLINE_S 200.0

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* The broker's answer to one argument; both sides compute it. */
static inline uint64_t answer(uint64_t seq, uint64_t x)
{
	return rt_mix(x ^ (seq * 0x2545f4914f6cdd1dull));
}

/* Shared with the child through an anonymous shared mapping: stop flag and the child's findings. */
struct xctl {
	_Atomic uint32_t stop;
	_Atomic uint64_t consumed; /* progress, read by the watchdog report */
	uint64_t sum, dups, bad, sleeps, violations;
	char msg[200];
};

static struct xctl *g_ctl;

/* ---- the broker (child process) ------------------------------------------ */

static int broker_main(struct bkd_region *r, uint32_t start, uint64_t total)
{
	struct xctl *ctl = g_ctl;
	struct bkd_conn_rings cr;
	if (bkd_conn_rings_init(&cr, &r->v, start) < 0) {
		snprintf(ctl->msg, sizeof(ctl->msg), "conn_rings_init failed");
		return 1;
	}
	uint8_t *seen = calloc(total / 8 + 1, 1);
	if (!seen)
		return 1;
	uint64_t consumed = 0, sum = 0, dups = 0, bad = 0, sleeps = 0;
	struct bk_sqe out[64];
	for (;;) {
		int n = bkd_conn_rings_fetch(&cr, out, 64);
		if (n < 0) {
			snprintf(ctl->msg, sizeof(ctl->msg), "fetch: %d (%s)", n, cr.last_violation);
			return 1;
		}
		for (int i = 0; i < n; i++) {
			const struct bk_sqe *e = &out[i];
			uint64_t a[2];
			if (e->op != BK_OP_CALL || e->arg_len != 16 || e->res_cap < 8) {
				bad++;
				continue;
			}
			memcpy(a, bkd_conn_rings_arena(&cr, e->arg_off), sizeof(a));
			if (a[0] >= total || a[1] != rt_mix(a[0])) {
				bad++;
			} else if (seen[a[0] / 8] & (1u << (a[0] % 8))) {
				dups++;
			} else {
				seen[a[0] / 8] |= (uint8_t)(1u << (a[0] % 8));
			}
			uint64_t h = answer(a[0], a[1]);
			sum += h;
			memcpy(bkd_conn_rings_arena(&cr, e->res_off), &h, sizeof(h));
			if (bkd_conn_rings_complete(&cr, e->slot, -(int32_t)(h & 0xfff), 8) < 0)
				bad++;
		}
		consumed += (uint64_t)n;
		atomic_store_explicit(&ctl->consumed, consumed, memory_order_relaxed);
		if (bkd_conn_rings_backlog(&cr)) {
			int f = bkd_conn_rings_flush(&cr);
			if (f < 0) {
				snprintf(ctl->msg, sizeof(ctl->msg), "flush: %d (%s)", f, cr.last_violation);
				return 1;
			}
			if (f & BKD_FLUSH_WAKE_FUTEX)
				bk_futex_wake(&r->v.cq_ctl->wake_seq, INT_MAX);
		}
		if (n > 0)
			continue;
		if (bkd_conn_rings_backlog(&cr)) {
			/* CQ full: the client's reapers are awake (the CQ holds entries); let them run. */
			sched_yield();
			continue;
		}
		/* Idle: spin briefly, then sleep with need_wakeup raised. */
		for (int k = 0; k < 64 && !bkd_conn_rings_sq_pending(&cr); k++)
			cpu_relax();
		if (bkd_conn_rings_sq_pending(&cr))
			continue;
		if (atomic_load_explicit(&ctl->stop, memory_order_acquire))
			break;
		uint32_t seq = bkd_conn_rings_sleep_prepare(&cr);
		if (!bkd_conn_rings_sq_pending(&cr) && !atomic_load_explicit(&ctl->stop, memory_order_acquire)) {
			/* No timeout: a lost wakeup must hang and trip the watchdog, not be papered over. */
			bk_futex_wait(&r->v.sq_ctl->wake_seq, seq, NULL);
			sleeps++;
		}
		bkd_conn_rings_sleep_finish(&cr);
	}
	ctl->sum = sum;
	ctl->dups = dups;
	ctl->bad = bad;
	ctl->sleeps = sleeps;
	ctl->violations = cr.violations;
	free(seen);
	bkd_conn_rings_fini(&cr);
	return 0;
}

/* ---- the client (parent threads) ----------------------------------------- */

struct client {
	struct bk_region_view v;
	uint64_t total;
	pthread_mutex_t sq_mu;
	struct bk_sq_producer sqp;
	struct bk_cq_consumer cqc;
	_Atomic uint32_t busy[NSLOTS];
	_Atomic uint32_t gen[NSLOTS];
	_Atomic uint64_t seq[NSLOTS];
	_Atomic uint64_t sub_count[NSLOTS];
	_Atomic uint64_t reap_count[NSLOTS];
	_Atomic uint64_t *reaped_bits;
	_Atomic uint64_t reaped_total;
	_Atomic uint64_t submitted_total;
	_Atomic uint64_t sum;
	_Atomic uint32_t ret_seq[NSUB]; /* futex: bumped when a slot of submitter t is freed */
	_Atomic uint32_t waiting[NSUB];
	_Atomic uint32_t reap_done;
	_Atomic uint32_t failed;
	char fail_msg[256];
	uint64_t sq_wakes, sq_full;
};

static struct client *g_cl;

__attribute__((format(printf, 2, 3))) static void cl_fail(struct client *c, const char *fmt, ...)
{
	uint32_t zero = 0;
	if (atomic_compare_exchange_strong(&c->failed, &zero, 1)) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->fail_msg, sizeof(c->fail_msg), fmt, ap);
		va_end(ap);
	}
	/* Release reapers asleep on the CQ. */
	bk_ring_wake_bump(c->v.cq_ctl);
	bk_futex_wake(&c->v.cq_ctl->wake_seq, INT_MAX);
}

static void report(void)
{
	if (g_cl)
		fprintf(stderr, "client: submitted %" PRIu64 " reaped %" PRIu64 " of %" PRIu64 "\n",
			(uint64_t)atomic_load(&g_cl->submitted_total), (uint64_t)atomic_load(&g_cl->reaped_total),
			g_cl->total);
	if (g_ctl)
		fprintf(stderr, "broker: consumed %" PRIu64 "\n", (uint64_t)atomic_load(&g_ctl->consumed));
}

static int wait_slot(struct client *c, unsigned t, uint32_t slot)
{
	for (unsigned spin = 0;; spin++) {
		if (!atomic_load_explicit(&c->busy[slot], memory_order_acquire))
			return 0;
		if (atomic_load_explicit(&c->failed, memory_order_relaxed))
			return -1;
		if (spin < 128) {
			cpu_relax();
			continue;
		}
		uint32_t w = atomic_load(&c->ret_seq[t]);
		atomic_store(&c->waiting[t], 1);
		/* seq_cst store then load: pairs with the reaper's free, bump, load of waiting. */
		if (!atomic_load(&c->busy[slot])) {
			atomic_store(&c->waiting[t], 0);
			return 0;
		}
		struct timespec to = { 1, 0 }; /* only to notice another thread's failure */
		bk_futex_wait(&c->ret_seq[t], w, &to);
		atomic_store(&c->waiting[t], 0);
	}
}

struct sub_arg {
	struct client *c;
	unsigned t;
};

static void *submitter(void *arg)
{
	struct sub_arg *sa = arg;
	struct client *c = sa->c;
	const unsigned t = sa->t;
	const uint32_t base = t * SLOTS_PER_SUB;
	uint32_t cursor = 0, gen_local[SLOTS_PER_SUB] = { 0 };
	uint64_t next = t, sum = 0, wakes = 0, full = 0;
	struct bk_sqe e[BATCH];

	while (next < c->total && !atomic_load_explicit(&c->failed, memory_order_relaxed)) {
		uint32_t nb = 0;
		while (nb < BATCH && next < c->total) {
			uint32_t slot = base + cursor;
			if (atomic_load_explicit(&c->busy[slot], memory_order_acquire)) {
				if (nb)
					break; /* submit what we have before waiting */
				if (wait_slot(c, t, slot) < 0)
					return NULL;
			}
			uint32_t gen = ++gen_local[cursor];
			uint32_t off = slot * INLINE;
			uint64_t a[2] = { next, rt_mix(next) };
			memcpy(c->v.arena + off, a, sizeof(a));
			sum += answer(a[0], a[1]);
			atomic_store_explicit(&c->gen[slot], gen, memory_order_relaxed);
			atomic_store_explicit(&c->seq[slot], next, memory_order_relaxed);
			atomic_store_explicit(&c->busy[slot], 1, memory_order_relaxed);
			atomic_fetch_add_explicit(&c->sub_count[slot], 1, memory_order_relaxed);
			e[nb++] = (struct bk_sqe){ .op = BK_OP_CALL, .slot = slot, .gen = gen, .arg_off = off,
						   .arg_len = 16, .res_off = off + 16, .res_cap = INLINE - 16 };
			cursor = (cursor + 1) % SLOTS_PER_SUB;
			next += NSUB;
		}
		for (uint32_t done = 0; done < nb;) {
			pthread_mutex_lock(&c->sq_mu);
			uint32_t k = bk_sq_producer_space(&c->sqp);
			if (k > nb - done)
				k = nb - done;
			for (uint32_t i = 0; i < k; i++)
				bk_sq_producer_write(&c->sqp, i, &e[done + i]);
			if (k)
				bk_sq_producer_publish(&c->sqp, k);
			pthread_mutex_unlock(&c->sq_mu);
			if (k && bk_ring_wake_needed(c->v.sq_ctl)) {
				bk_ring_wake_bump(c->v.sq_ctl);
				bk_futex_wake(&c->v.sq_ctl->wake_seq, 1);
				wakes++;
			}
			if (!k) {
				/* SQ full: the broker is awake (we checked need_wakeup after our last publish). */
				full++;
				if (atomic_load_explicit(&c->failed, memory_order_relaxed))
					return NULL;
				sched_yield();
			}
			done += k;
		}
		atomic_fetch_add_explicit(&c->submitted_total, nb, memory_order_relaxed);
	}
	atomic_fetch_add(&c->sum, sum);
	pthread_mutex_lock(&c->sq_mu);
	c->sq_wakes += wakes;
	c->sq_full += full;
	pthread_mutex_unlock(&c->sq_mu);
	return NULL;
}

static void check_cqe(struct client *c, const struct bk_cqe *q)
{
	if (q->slot >= NSLOTS) {
		cl_fail(c, "cqe for slot %u out of range", q->slot);
		return;
	}
	uint32_t slot = q->slot;
	if (!atomic_load_explicit(&c->busy[slot], memory_order_acquire)) {
		cl_fail(c, "cqe for slot %u that is not in use (gen %u)", slot, q->gen);
		return;
	}
	uint32_t gen = atomic_load_explicit(&c->gen[slot], memory_order_relaxed);
	uint64_t s = atomic_load_explicit(&c->seq[slot], memory_order_relaxed);
	uint64_t h = answer(s, rt_mix(s)), got;
	memcpy(&got, c->v.arena + slot * INLINE + 16, sizeof(got));
	if (q->gen != gen || q->status != -(int32_t)(h & 0xfff) || q->res_len != 8 || got != h) {
		cl_fail(c, "slot %u seq %" PRIu64 ": cqe gen %u status %d len %u result %016" PRIx64
			   ", want gen %u status %d len 8 result %016" PRIx64,
			slot, s, q->gen, q->status, q->res_len, got, gen, -(int32_t)(h & 0xfff), h);
		return;
	}
	if (atomic_load_explicit(&c->v.slots[slot].done_gen, memory_order_acquire) != gen) {
		cl_fail(c, "slot %u: done_gen does not carry gen %u", slot, gen);
		return;
	}
	uint64_t bit = 1ull << (s % 64);
	if (atomic_fetch_or(&c->reaped_bits[s / 64], bit) & bit) {
		cl_fail(c, "seq %" PRIu64 " reaped twice", s);
		return;
	}
	atomic_fetch_add_explicit(&c->reap_count[slot], 1, memory_order_relaxed);
	/* Release: our reads of the result happen before the submitter rewrites the slot. */
	atomic_store_explicit(&c->busy[slot], 0, memory_order_release);
	unsigned t = slot / SLOTS_PER_SUB;
	atomic_fetch_add(&c->ret_seq[t], 1);
	if (atomic_load(&c->waiting[t]))
		bk_futex_wake(&c->ret_seq[t], 1);
}

static void *reaper(void *arg)
{
	struct client *c = arg;
	struct bk_cqe q[64];
	while (!atomic_load(&c->reap_done) && !atomic_load(&c->failed)) {
		unsigned n = bk_cq_consumer_reap(&c->cqc, q, 64);
		if (n == 0) {
			for (int k = 0; k < 64 && !bk_cq_consumer_pending(&c->cqc); k++)
				cpu_relax();
			if (bk_cq_consumer_pending(&c->cqc))
				continue;
			uint32_t seq = bk_ring_sleep_prepare(c->v.cq_ctl, true);
			if (!bk_cq_consumer_pending(&c->cqc) && !atomic_load(&c->reap_done) && !atomic_load(&c->failed))
				bk_futex_wait(&c->v.cq_ctl->wake_seq, seq, NULL); /* no timeout: see broker_main */
			bk_ring_sleep_finish(c->v.cq_ctl, true);
			continue;
		}
		for (unsigned i = 0; i < n; i++)
			check_cqe(c, &q[i]);
		if (atomic_fetch_add(&c->reaped_total, n) + n == c->total) {
			atomic_store(&c->reap_done, 1);
			bk_ring_wake_bump(c->v.cq_ctl);
			bk_futex_wake(&c->v.cq_ctl->wake_seq, INT_MAX);
		}
	}
	return NULL;
}

static void test_xproc_10m(void **state)
{
	(void)state;
	const uint64_t total = rt_env_count("BK_RING_XPROC_ENTRIES", 10000000);
	const uint32_t start = UINT32_MAX - 100000; /* the counters wrap during the run */
	struct bk_geometry g = { .sq_entries = 256, .nslots = NSLOTS, .slot_inline = INLINE, .large_size = 4096 };
	struct bkd_region_params p = { .max_large = 1 << 20, .ring_start = start, .conn_id = 1, .epoch = 1 };
	struct bkd_region r;
	char err[256];
	if (bkd_region_create(&g, &p, &r, err, sizeof(err)) < 0)
		fail_msg("bkd_region_create: %s", err);
	g_ctl = mmap(NULL, sizeof(*g_ctl), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(g_ctl != MAP_FAILED);
	memset(g_ctl, 0, sizeof(*g_ctl));

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		rt_child_setup();
		_exit(broker_main(&r, start, total));
	}

	struct client *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	g_cl = c;
	c->total = total;
	/* The client's own mapping, validated like libbkclient does; the creator's is the broker's. */
	if (bkc_region_map(r.fd, &c->v, err, sizeof(err)) < 0) {
		kill(pid, SIGKILL);
		fail_msg("bkc_region_map: %s", err);
	}
	c->reaped_bits = calloc(total / 64 + 1, sizeof(*c->reaped_bits));
	assert_non_null(c->reaped_bits);
	pthread_mutex_init(&c->sq_mu, NULL);
	bk_sq_producer_init(&c->sqp, c->v.sq_ctl, c->v.sq, c->v.geo.sq_entries);
	bk_cq_consumer_init(&c->cqc, c->v.cq_ctl, c->v.cq, c->v.geo.cq_entries);

	struct rt_watchdog wd;
	rt_watchdog_start(&wd, DEADLINE_S, "cross-process ring test", pid, report);
	int64_t t0 = bk_now_ns();
	pthread_t sub[NSUB], rep[NREAP];
	struct sub_arg sa[NSUB];
	for (unsigned t = 0; t < NSUB; t++) {
		sa[t] = (struct sub_arg){ c, t };
		assert_int_equal(pthread_create(&sub[t], NULL, submitter, &sa[t]), 0);
	}
	for (unsigned t = 0; t < NREAP; t++)
		assert_int_equal(pthread_create(&rep[t], NULL, reaper, c), 0);
	for (unsigned t = 0; t < NSUB; t++)
		pthread_join(sub[t], NULL);
	for (unsigned t = 0; t < NREAP; t++)
		pthread_join(rep[t], NULL);
	int64_t t1 = bk_now_ns();

	/* Let the broker go: it leaves once the SQ is empty and stop is set. */
	atomic_store_explicit(&g_ctl->stop, 1, memory_order_release);
	bk_ring_wake_bump(c->v.sq_ctl);
	bk_futex_wake(&c->v.sq_ctl->wake_seq, 1);
	int st = rt_wait_child(pid, 30);
	rt_watchdog_stop(&wd);

	if (atomic_load(&c->failed))
		fail_msg("client: %s", c->fail_msg);
	if (st != 0)
		fail_msg("broker process ended with %d: %s", st, g_ctl->msg);
	print_message("%" PRIu64 " entries in %.2f s (%.2f M/s); broker slept %" PRIu64
		      " times, client woke it %" PRIu64 " times, SQ full %" PRIu64 " times\n",
		      total, (double)(t1 - t0) / 1e9, (double)total * 1e3 / (double)(t1 - t0), g_ctl->sleeps,
		      c->sq_wakes, c->sq_full);

	/* Consumed exactly once, with the same payloads the client wrote. */
	assert_int_equal(atomic_load(&g_ctl->consumed), total);
	assert_int_equal(g_ctl->dups, 0);
	assert_int_equal(g_ctl->bad, 0);
	assert_int_equal(g_ctl->violations, 0);
	assert_int_equal(g_ctl->sum, atomic_load(&c->sum));
	/* Reaped exactly once: every sequence number, and per slot as often as submitted. */
	assert_int_equal(atomic_load(&c->reaped_total), total);
	for (uint64_t s = 0; s < total; s++)
		if (!(atomic_load_explicit(&c->reaped_bits[s / 64], memory_order_relaxed) & (1ull << (s % 64))))
			fail_msg("seq %" PRIu64 " never reaped", s);
	uint64_t per_slot = 0;
	for (uint32_t s = 0; s < NSLOTS; s++) {
		assert_int_equal(atomic_load(&c->sub_count[s]), atomic_load(&c->reap_count[s]));
		assert_int_equal(atomic_load(&c->busy[s]), 0);
		per_slot += atomic_load(&c->reap_count[s]);
	}
	assert_int_equal(per_slot, total);
	assert_false(bk_cq_consumer_pending(&c->cqc));

	g_cl = NULL;
	bkc_region_unmap(&c->v);
	bkd_region_destroy(&r);
	free(c->reaped_bits);
	free(c);
	munmap(g_ctl, sizeof(*g_ctl));
	g_ctl = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xproc_10m),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
