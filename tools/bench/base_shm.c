// SPDX-License-Identifier: MIT
/*
 * base_shm.c - the physical limits of a cross-process round trip: a raw
 * cache-line ping-pong with both sides spinning, and a futex ping-pong with
 * both sides sleeping.  Request and reply each live on their own cache line
 * of a MAP_SHARED anonymous mapping inherited across fork().
 */
#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "baselines.h"
#include "util.h"

#define STOP UINT32_MAX

struct pingpong {
	_Alignas(64) _Atomic uint32_t ping; /* client -> server: request number */
	_Alignas(64) _Atomic uint32_t pong; /* server -> client: number answered */
};

static struct pingpong *map_pp(void)
{
	void *p = mmap(NULL, sizeof(struct pingpong), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	struct pingpong *pp = p;
	atomic_store_explicit(&pp->ping, 0, memory_order_relaxed);
	atomic_store_explicit(&pp->pong, 0, memory_order_relaxed);
	return pp;
}

/* Shared (not private) futexes: the two sides are different processes. */
static long futex(_Atomic uint32_t *w, int op, uint32_t val)
{
	return syscall(SYS_futex, (uint32_t *)w, op, val, NULL, NULL, 0);
}

/* ---- spinning ---- */

static void spin_server(struct pingpong *pp)
{
	uint32_t last = 0;
	for (;;) {
		/* acquire pairs with the client's release store of ping: nothing else is
		 * exchanged, but keep the same orders a real protocol would need. */
		uint32_t v = atomic_load_explicit(&pp->ping, memory_order_acquire);
		if (v == last) {
			bk_cpu_relax();
			continue;
		}
		if (v == STOP)
			_exit(0);
		last = v;
		atomic_store_explicit(&pp->pong, v, memory_order_release);
	}
}

static int spin_rt(void *arg, uint64_t seq)
{
	struct pingpong *pp = arg;
	uint32_t s = (uint32_t)(seq % (STOP - 1u)) + 1u;
	atomic_store_explicit(&pp->ping, s, memory_order_release);
	while (atomic_load_explicit(&pp->pong, memory_order_acquire) != s)
		bk_cpu_relax();
	return 0;
}

/* ---- sleeping ---- */

static void futex_server(struct pingpong *pp)
{
	uint32_t last = 0;
	for (;;) {
		uint32_t v = atomic_load_explicit(&pp->ping, memory_order_acquire);
		if (v == last) {
			/* FUTEX_WAIT re-checks ping == last in the kernel, so a store+wake
			 * between our load and the wait is not lost. */
			if (futex(&pp->ping, FUTEX_WAIT, last) < 0 && errno != EAGAIN && errno != EINTR)
				_exit(2);
			continue;
		}
		if (v == STOP)
			_exit(0);
		last = v;
		atomic_store_explicit(&pp->pong, v, memory_order_release);
		if (futex(&pp->pong, FUTEX_WAKE, 1) < 0)
			_exit(3);
	}
}

static int futex_rt(void *arg, uint64_t seq)
{
	struct pingpong *pp = arg;
	uint32_t s = (uint32_t)(seq % (STOP - 1u)) + 1u;
	atomic_store_explicit(&pp->ping, s, memory_order_release);
	if (futex(&pp->ping, FUTEX_WAKE, 1) < 0)
		return -errno;
	for (;;) {
		uint32_t v = atomic_load_explicit(&pp->pong, memory_order_acquire);
		if (v == s)
			return 0;
		if (futex(&pp->pong, FUTEX_WAIT, v) < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
	}
}

static int shm_close(struct bk_base_run *run, int r)
{
	struct pingpong *pp = run->mem;
	atomic_store_explicit(&pp->ping, STOP, memory_order_release);
	if (run->flag)
		futex(&pp->ping, FUTEX_WAKE, 1);
	int st = bk_reap(run->pid, 2000);
	munmap(pp, sizeof(*pp));
	if (r == 0 && (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0))
		r = -ECHILD;
	return r;
}

int bk_base_shm_open(int sleeping, struct bk_base_run *run)
{
	struct pingpong *pp = map_pp();
	if (!pp)
		return -errno;
	pid_t pid = bk_fork_child();
	if (pid < 0) {
		munmap(pp, sizeof(*pp));
		return pid;
	}
	if (pid == 0) {
		if (sleeping)
			futex_server(pp);
		else
			spin_server(pp);
		_exit(1);
	}
	*run = (struct bk_base_run){ .rt = sleeping ? futex_rt : spin_rt, .ctx = pp, .close = shm_close,
				     .pid = pid, .flag = sleeping, .mem = pp };
	return 0;
}

static int run(int sleeping, const struct bk_rtt_cfg *cfg, struct bk_hist *h)
{
	struct bk_base_run b;
	int r = bk_base_shm_open(sleeping, &b);
	if (r < 0)
		return r;
	return b.close(&b, bk_measure_rtt(b.rt, b.ctx, cfg, h));
}

int bk_base_shm_spin(const struct bk_rtt_cfg *cfg, struct bk_hist *h)
{
	return run(0, cfg, h);
}

int bk_base_futex(const struct bk_rtt_cfg *cfg, struct bk_hist *h)
{
	return run(1, cfg, h);
}
