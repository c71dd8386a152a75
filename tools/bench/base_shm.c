// SPDX-License-Identifier: MIT
/*
 * base_shm.c - the physical limits of a cross-process round trip: a raw
 * cache-line ping-pong with both sides spinning, and a futex ping-pong with
 * both sides sleeping.  Request and reply each live on their own cache line
 * of a MAP_SHARED anonymous mapping inherited across fork().
 *
 * A third one is the floor of brokerd's own sleeping path: the same futex
 * ping-pong, but the server sleeps as a worker does, in io_uring_enter on a
 * FUTEX_WAIT request (DEFER_TASKRUN ring), and answers with a FUTEX_WAKE
 * request submitted in the same enter as the re-armed wait.  The client
 * side is the plain futex one, as libbkclient's is.
 */
#include <errno.h>
#include <linux/futex.h>
#include <liburing.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "baselines.h"
#include "broker/uring_futex.h" /* the worker's request encoding and check, so the floor is the worker's mechanism */
#include "util.h"

#define STOP UINT32_MAX

struct pingpong {
	_Alignas(64) _Atomic uint32_t ping; /* client -> server: request number */
	_Alignas(64) _Atomic uint32_t pong; /* server -> client: number answered */
	_Alignas(64) pid_t server; /* the parent's own field: whom a sleeping round trip waits for */
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
static long futex(_Atomic uint32_t *w, int op, uint32_t val, const struct timespec *timeout)
{
	return syscall(SYS_futex, (uint32_t *)w, op, val, timeout, NULL, 0);
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
			if (futex(&pp->ping, FUTEX_WAIT, last, NULL) < 0 && errno != EAGAIN && errno != EINTR)
				_exit(2);
			continue;
		}
		if (v == STOP)
			_exit(0);
		last = v;
		atomic_store_explicit(&pp->pong, v, memory_order_release);
		if (futex(&pp->pong, FUTEX_WAKE, 1, NULL) < 0)
			_exit(3);
	}
}

static int futex_rt(void *arg, uint64_t seq)
{
	struct pingpong *pp = arg;
	uint32_t s = (uint32_t)(seq % (STOP - 1u)) + 1u;
	atomic_store_explicit(&pp->ping, s, memory_order_release);
	if (futex(&pp->ping, FUTEX_WAKE, 1, NULL) < 0)
		return -errno;
	for (;;) {
		uint32_t v = atomic_load_explicit(&pp->pong, memory_order_acquire);
		if (v == s)
			return 0;
		/* In 1 s slices: a server that died (a failed ring, an error CQE) fails the phase, not hangs it. */
		struct timespec slice = { .tv_sec = 1 };
		if (futex(&pp->pong, FUTEX_WAIT, v, &slice) == 0)
			continue;
		if (errno == ETIMEDOUT) {
			siginfo_t si = { 0 };
			/* WNOWAIT: the close path still reaps it and reports how it ended. */
			if (waitid(P_PID, (id_t)pp->server, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid != 0)
				return -ECHILD;
		} else if (errno != EAGAIN && errno != EINTR) {
			return -errno;
		}
	}
}

/* ---- sleeping in io_uring, as a brokerd worker does ---- */

#define WAIT_TAG 1u

/* A DEFER_TASKRUN ring, as a worker has on the kernels that run futex requests (broker/worker.c), else a plain
 * one; the probe below has made sure this kernel is one of those. */
static int uring_init(struct io_uring *ring)
{
	struct io_uring_params p = { .flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN };
	if (io_uring_queue_init_params(8, ring, &p) == 0)
		return 0;
	return io_uring_queue_init(8, ring, 0);
}

static void arm_wait(struct io_uring *ring, _Atomic uint32_t *w, uint32_t expected)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring); /* 8 entries, at most 2 queued: never NULL */
	bkd_prep_futex_wait(sqe, w, expected);
	io_uring_sqe_set_data64(sqe, WAIT_TAG);
}

static void uring_server(struct pingpong *pp)
{
	struct io_uring ring;
	if (uring_init(&ring) < 0)
		_exit(2);
	uint32_t last = 0;
	arm_wait(&ring, &pp->ping, last);
	for (;;) {
		/* The wake (if any) and the re-armed wait go in, and we sleep, in one io_uring_enter. */
		int e = io_uring_submit_and_wait(&ring, 1); /* liburing returns -errno */
		if (e < 0 && e != -EINTR)
			_exit(3);
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&ring, head, cqe) {
			/* The wait ends woken (0) or at once (-EAGAIN: ping moved before it slept); wakes post only errors. */
			if (cqe->user_data != WAIT_TAG || (cqe->res < 0 && cqe->res != -EAGAIN && cqe->res != -EINTR))
				_exit(4);
			seen++;
		}
		io_uring_cq_advance(&ring, seen);
		if (seen == 0)
			continue; /* the wait is still armed */
		uint32_t v = atomic_load_explicit(&pp->ping, memory_order_acquire);
		if (v == STOP)
			_exit(0);
		if (v != last) {
			last = v;
			atomic_store_explicit(&pp->pong, v, memory_order_release);
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			bkd_prep_futex_wake(sqe, &pp->pong);
			io_uring_sqe_set_flags(sqe, IOSQE_CQE_SKIP_SUCCESS);
			io_uring_sqe_set_data64(sqe, 0);
		}
		/* FUTEX_WAIT compares ping with last in the kernel: a request stored after our load is not lost. */
		arm_wait(&ring, &pp->ping, last);
	}
}

/* Does this kernel run futex requests through io_uring (6.7+)?  brokerd's own start-up check answers. */
static int uring_futex_probe(void)
{
	int e = bkd_uring_futex_check(NULL);
	return e == -ENOSYS || e == -EPERM || e == -EPROTO ? -ENOTSUP : e;
}

static int shm_close(struct bk_base_run *run, int r)
{
	struct pingpong *pp = run->mem;
	atomic_store_explicit(&pp->ping, STOP, memory_order_release);
	if (run->flag)
		futex(&pp->ping, FUTEX_WAKE, 1, NULL);
	int st = bk_reap(run->pid, 2000);
	munmap(pp, sizeof(*pp));
	if (r == 0 && (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0))
		r = -ECHILD;
	return r;
}

int bk_base_shm_open(int sleeping, struct bk_base_run *run)
{
	if (sleeping == BK_SHM_URING) {
		int e = uring_futex_probe();
		if (e < 0)
			return e;
	}
	struct pingpong *pp = map_pp();
	if (!pp)
		return -errno;
	pid_t pid = bk_fork_child();
	if (pid < 0) {
		munmap(pp, sizeof(*pp));
		return pid;
	}
	if (pid == 0) {
		if (sleeping == BK_SHM_URING)
			uring_server(pp);
		else if (sleeping)
			futex_server(pp);
		else
			spin_server(pp);
		_exit(1);
	}
	pp->server = pid;
	*run = (struct bk_base_run){ .rt = sleeping ? futex_rt : spin_rt, .ctx = pp, .close = shm_close,
				     .pid = pid, .flag = sleeping != 0, .mem = pp };
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
