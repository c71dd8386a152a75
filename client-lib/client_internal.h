// SPDX-License-Identifier: MIT
/*
 * client_internal.h - private structures of libbkclient shared by its source
 * files: the client handle, the future pool and the helpers each file
 * provides to the others.  Nothing here is exported (-fvisibility=hidden and
 * the version script); only functions marked BKC_API leave the library.
 */
#ifndef BKCLIENT_INTERNAL_H
#define BKCLIENT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "broker/client.h"
#include "broker/proto.h"
#include "broker/ring.h"
#include "broker/sys.h"
#include "broker/wire.h"
#include "region_map.h"

#define BKC_API __attribute__((visibility("default")))

/* How long a round trip on the control socket (handshake, lookup) may take. */
#define BKC_REPLY_TIMEOUT_MS 5000
/* Longest single futex sleep in a wait: the broker-gone check runs between slices. */
#define BKC_WAIT_SLICE_NS 100000000LL
/*
 * Adaptive spin: a wait spins for twice the recent average completion time
 * (an EWMA of how long waits took, sleeping ones included), within these
 * bounds.  Learning from the observed time rather than from whether the last
 * spin succeeded means a wait that had to sleep (and so took longer) makes
 * the next one spin longer, instead of locking the spin at its minimum.
 */
#define BKC_SPIN_DEFAULT_NS 20000LL
#define BKC_SPIN_MIN_NS 2000LL
#define BKC_SPIN_MAX_NS 50000LL
/*
 * The socket is polled for a dead broker at most this often on the non-sleeping paths (bk_poll, a full
 * SQ); a sleeping wait polls at most once a slice (BKC_WAIT_SLICE_NS), docs/ARCHITECTURE.md "Broker gone".
 */
#define BKC_GONE_POLL_NS 1000000LL

/* bk_future.state */
enum {
	F_FREE = 0, /* in the free stack, or never used */
	F_PENDING, /* submitted, the broker owns the slot */
	F_DONE, /* completed, held by the user */
	F_ORPHAN, /* released while pending: freed once its completion is seen */
	F_ZOMBIE, /* released while its callback was queued: freed by dispatch */
};

struct bk_future {
	bk_client *c;
	uint32_t slot; /* == index in the pool */
	uint32_t gen; /* generation of the current use; never 0 */
	_Atomic uint32_t state; /* written under c->lock; read lock-free as a hint */
	int32_t status;
	uint32_t res_len;
	uint32_t res_off; /* arena-relative result buffer */
	uint32_t res_cap;
	bk_complete_cb cb;
	void *user_data;
	bool cb_queued;
	bool lost; /* F_DONE by the library, not the broker: the broker died first (client.h) */
	uint32_t next; /* free stack link (slot index, UINT32_MAX = none) */
	struct bk_future *cb_next; /* callback queue link */
};

struct bkc_buf_block; /* buffers.c */

struct bk_client {
	int sock;
	int efd; /* our eventfd, signalled by the broker when notify_armed */
	int pollfd; /* epoll set of efd and sock: what bk_fd returns */
	int broker_efd; /* BK_FEAT_SQ_EVENTFD: the broker's wake-up eventfd, else -1 */
	uint32_t features;
	uint32_t conn_id;
	struct bk_region_view v;

	pthread_mutex_t lock; /* the pool, the SQ producer, the callback queue */
	struct bk_sq_producer sq;
	struct bk_cq_consumer cq;
	struct bk_future *futures; /* nslots, mmap()ed: untouched until used */
	size_t futures_bytes;
	uint32_t free_head; /* stack of released futures (slot index, UINT32_MAX = none) */
	uint32_t fresh; /* futures from here on were never used */
	uint32_t nfree; /* released ones plus never used ones */
	struct bk_future *cb_head, *cb_tail;
	uint32_t slot_waiters; /* threads in bk_submit_wait */
	uint32_t free_seq; /* bumped whenever a slot is freed */

	pthread_mutex_t sock_lock; /* one request/reply on the socket at a time */
	uint32_t seq;

	pthread_mutex_t buf_lock;
	struct bkc_buf_block *blocks; /* buffers.c: allocation map of the large area */

	_Atomic int gone; /* broker closed the socket or marked the region gone: bkc_gone() */
	_Atomic int draining; /* broker said BYE: recorded only, nothing waits or orders on it (relaxed) */
	_Atomic int fd_armed; /* bk_fd() was called: keep notify_armed up (dispatch.c) */
	int64_t spin_ns; /* <0: adaptive */
	_Atomic int64_t wait_ewma_ns; /* adaptive spin: recent average time a wait took */
	struct bk_load_check load; /* spin.c: does a thread of the machine wait for a CPU (adaptive waits only) */
	_Atomic unsigned spin_probe; /* spin.c: waits that would not spin */
	_Atomic unsigned spin_probe_every; /* spin.c: one probe in that many (8 to 256) */
	_Atomic int64_t last_gone_poll_ns; /* bkc_check_gone: when the socket was last polled */
};

/*
 * c->gone is sticky, set 0 -> 1 by whichever thread first sees the broker
 * die (broker_state, read with acquire, or the socket's hang-up).  That
 * thread then sees every completion the broker wrote before dying; the
 * release store hands this on to a thread whose acquire load sees the 1, so
 * that its bkc_fail_pending finds a completion written just before the
 * death (done_gen, cqe) instead of ending that future as lost.  A reader
 * that misses a fresh store learns the same from bkc_check_gone.
 */
static inline bool bkc_gone(bk_client *c)
{
	return atomic_load_explicit(&c->gone, memory_order_acquire) != 0;
}

static inline void bkc_set_gone(bk_client *c)
{
	atomic_store_explicit(&c->gone, 1, memory_order_release);
}

/* ---- wire_io.c: datagrams with fds and deadlines (also used by brokerctl) ---- */
/* Connect a SOCK_SEQPACKET socket; -errno (BK_ENOTBROKER for a socket of another type). */
int bkc_socket_connect(const char *path, char *err, size_t errlen);
int bkc_send(int fd, const void *buf, size_t len, const int *fds, int nfds);
/*
 * Receive one datagram within timeout_ms: its length, 0 on hang-up, -ETIMEDOUT,
 * -EMSGSIZE if truncated, -errno.  Up to *nfds fds are stored (the count is
 * updated; surplus ones are closed).  fds may be NULL.
 */
int bkc_recv(int fd, void *buf, size_t cap, int *fds, int *nfds, int timeout_ms);
/* Check a received header: magic, length within n, type. */
bool bkc_hdr_ok(const struct bk_msg_hdr *h, size_t n, uint16_t type, size_t min_len);

/* One spin-loop turn: tell the CPU we are polling. */
static inline void bkc_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

/* ---- complete.c ---- */
/*
 * Lock-free: does f's slot say its current use completed?  Acquire pairs with the broker's release
 * store of done_gen, which comes before the entry is published (status and res_len are written).
 */
static inline bool bkc_slot_done(const bk_client *c, const bk_future *f)
{
	return atomic_load_explicit(&c->v.slots[f->slot].done_gen, memory_order_acquire) ==
	       __atomic_load_n(&f->gen, __ATOMIC_RELAXED);
}

/* bkc_check_future's reap and bkc_reap's flags. */
#define BKC_REAP 1u /* check_future: reap the CQ first */
#define BKC_REAP_SLEEPER 2u /* check_future: the re-check of a thread announced asleep: read the slot too */
#define BKC_REAP_DISPATCH 4u /* bkc_reap from bk_dispatch: it runs the callbacks itself */
/* 1 done (completed or lost), 0 pending, BK_ESTALE; reaps the CQ when reap has BKC_REAP; never blocks. */
int bkc_check_future(bk_future *f, unsigned reap);
/* bk_wait's answer for bkc_check_future's r: errors as they are, done as `done` or BK_EGONE if lost. */
int bkc_outcome(bk_future *f, int r, int done);
/* Adaptive spin: fold how long a finished wait took into the average. */
void bkc_learn_wait_time(bk_client *c, int64_t took_ns);
/* Reap the CQ and process what was claimed (flags: BKC_REAP_*); returns how many were processed. */
int bkc_reap(bk_client *c, unsigned flags);
/* With c->lock held: f (PENDING) completed with this status/length. */
void bkc_mark_done(bk_client *c, struct bk_future *f, int32_t status, uint32_t res_len, bool *signal_cb);
/* With c->lock held: put f at the tail of the free FIFO. */
void bkc_free_future(bk_client *c, struct bk_future *f);
/*
 * The broker is gone: end every future it did not complete as lost (status
 * BK_EGONE), queueing callbacks; one it did complete keeps its result.
 */
void bkc_fail_pending(bk_client *c);
/*
 * Test the socket and region for a dead broker (non-blocking); sets c->gone.
 * Returns true when gone.  The header is read every time; the socket poll (a
 * syscall) only when it was last polled every_ns ago or longer (0: now).
 */
bool bkc_check_gone(bk_client *c, int64_t every_ns);
/* Write 1 to our own eventfd so a loop on bk_fd wakes up. */
void bkc_signal_fd(bk_client *c);

/* ---- submit.c ---- */
/* With c->lock held: post a cancel for slot/gen if the SQ has room.  Returns true when posted. */
bool bkc_post_cancel_locked(bk_client *c, uint32_t slot, uint32_t gen);
/* After publishing: wake the broker if it sleeps. */
void bkc_wake_broker(bk_client *c);

/* ---- spin.c ---- */
void bkc_spin_init(bk_client *c);
void bkc_spin_fini(bk_client *c);
/* How long a wait starting at now spins before sleeping (0: sleep at once); *yield: with sched_yield between looks. */
int64_t bkc_spin_budget(bk_client *c, int64_t now, bool *yield);
/* bk_submit_batch of the current version (submit.c binds the exported names). */
int bkc_submit_batch(bk_client *c, const bk_call *calls, size_t n, bk_future **out);
/* A wait took took_ns: a short one makes probes frequent again. */
void bkc_spin_learned(bk_client *c, int64_t took_ns);

/* ---- buffers.c ---- */
int bkc_bufs_init(bk_client *c);
void bkc_bufs_fini(bk_client *c);

static inline bool bkc_in_large(const bk_client *c, const void *p, size_t len)
{
	const uint8_t *a = c->v.arena;
	const uint8_t *b = p;
	uint64_t lo = c->v.layout.large_off, hi = c->v.layout.arena_size;
	if (b < a + lo || b > a + hi)
		return false;
	return (uint64_t)(b - a) + len <= hi;
}

#endif /* BKCLIENT_INTERNAL_H */
