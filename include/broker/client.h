// SPDX-License-Identifier: MIT
/*
 * client.h - libbkclient, the thin library applications link to post
 * futures (task requests) to brokerd and collect their results.
 *
 * Link with `pkg-config --cflags --libs bkclient`.  Every function returns 0
 * (or a count) on success and a negative errno-style code on failure, as
 * liburing does; bk_strerror() names any code.  The library keeps no global
 * state: everything lives in the bk_client handle, so two copies of the
 * library in one process simply make two connections.  It starts no threads.
 * After fork() the child must bk_connect() anew.
 *
 * Threads: every function may be called from several threads on one client
 * at once (they serialise on the client's locks), except bk_disconnect,
 * which no other thread may overlap.  A future may be waited on, polled and
 * cancelled from any thread, but once one thread has called bk_release on
 * it no thread may use it again; callbacks run in whichever thread calls
 * bk_dispatch, so release a future from its own callback or make sure its
 * callback cannot be running.  (The Rust binding relies on exactly this to
 * be Send + Sync; see client-lib/rust.)
 */
#ifndef BROKER_CLIENT_H
#define BROKER_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "broker/errors.h" /* BK_E* codes; errno codes are used where they fit */

#ifdef __cplusplus
extern "C" {
#endif

/* Library version; the soname carries the major. */
#define BK_CLIENT_VERSION_MAJOR 1
#define BK_CLIENT_VERSION_MINOR 1

typedef struct bk_client bk_client;
typedef struct bk_future bk_future;
typedef uint32_t bk_fn; /* a function id from bk_lookup(), valid for this connection */

/*
 * Completion callback: run once, after f ended, by bk_dispatch() in the
 * thread that calls it (never from another thread behind your back).  It may
 * call bk_result, bk_release and bk_submit.  It runs for a future lost with
 * its broker too: bk_result then returns BK_EGONE (see "How a future ends",
 * above bk_wait).
 */
typedef void (*bk_complete_cb)(bk_future *f, void *user_data);

/*
 * Connection options.  Initialise with bk_options_init() and change only the
 * fields you need: the size field lets later versions grow the struct.
 */
typedef struct bk_options {
	uint32_t size; /* sizeof(bk_options), set by bk_options_init */
	uint32_t max_inflight; /* futures in flight (slots); 0: 256 */
	uint32_t sq_entries; /* submission ring depth; 0: 256 */
	uint32_t inline_size; /* per-future inline argument/result bytes; 0: 256 */
	uint64_t zero_copy_size; /* bytes of the zero-copy buffer area; 0: 4 MiB */
	int64_t spin_ns; /* how long a wait spins before sleeping; <0: default (adaptive), 0: never spin */
	uint32_t flags; /* reserved, 0 */
	uint32_t rsvd;
} bk_options;

/* Fill o with defaults (all 0 = the broker's defaults; spin_ns -1 = adaptive). */
void bk_options_init(bk_options *o);

/*
 * Connect to brokerd at socket_path (NULL: $BROKER_SOCKET, else
 * $XDG_RUNTIME_DIR/broker.sock, else /run/broker/broker.sock) and map the
 * connection's shared region.  opts may be NULL.  On success *out owns the
 * connection (free it with bk_disconnect).  The handshake waits at most 5 s.
 * Errors: -ENOENT/-ECONNREFUSED (no broker there), -ENAMETOOLONG,
 * BK_ENOTBROKER (a socket that does not answer like a brokerd, or a silent
 * one), BK_EVERSION, BK_ELAYOUT, BK_EBADREGION, BK_EREFUSED, BK_EPROTOCOL,
 * -EINVAL (options beyond the limits of proto.h), -ENOMEM.
 */
int bk_connect(const char *socket_path, const bk_options *opts, bk_client **out);

/*
 * As bk_connect, and on failure writes a readable reason (naming both
 * versions on a mismatch, or the broker's refusal text) into err.
 */
int bk_connect_error(const char *socket_path, const bk_options *opts, bk_client **out, char *err, size_t errlen);

/*
 * Close the connection.  Futures still in flight are cancelled by the broker;
 * every bk_future and zero-copy buffer of this client becomes invalid.  No
 * other thread may be using the client.  NULL is a no-op.
 */
void bk_disconnect(bk_client *c);

/*
 * Resolve "module.function" to an id (one round trip, at most 5 s; cache the
 * id).  -ENOENT if unknown, -EINVAL for an empty or over-long name,
 * -ETIMEDOUT, BK_EGONE.
 */
int bk_lookup(bk_client *c, const char *name, bk_fn *out);

/*
 * A lookup that never blocks, for event loops (epoll, libuv, asyncio):
 * bk_lookup_async sends the request on a connection of its own and
 * returns at once; bk_lookup_fd is a descriptor that becomes readable when
 * the answer is there (watch it for input, level-triggered); then
 * bk_lookup_result gives 0 and *out, -EAGAIN while the answer has not come
 * (call again when the fd is readable), or the lookup's error as for
 * bk_lookup (-ENOENT, -EACCES, -ETIMEDOUT once 5 s passed, BK_EGONE,
 * BK_EREFUSED when brokerd refuses one more connection of this user).
 * bk_lookup_free releases the request, answered or not (NULL is a no-op).
 * Requests are independent of each other and of the client's other calls
 * (a request does not use c after bk_lookup_async returned).  bk_lookup_async itself does not
 * wait: -EAGAIN when brokerd's accept backlog is full, BK_EGONE, -EINVAL.
 *
 *     bk_lookup_req *r;
 *     bk_lookup_async(c, "net.request", &r);
 *     ... epoll_ctl(ep, EPOLL_CTL_ADD, bk_lookup_fd(r), &(struct epoll_event){.events = EPOLLIN}) ...
 *     ... when readable: if (bk_lookup_result(r, &fn) != -EAGAIN) { epoll_ctl(DEL); bk_lookup_free(r); }
 */
typedef struct bk_lookup_req bk_lookup_req;
int bk_lookup_async(bk_client *c, const char *name, bk_lookup_req **out);
int bk_lookup_fd(const bk_lookup_req *r);
int bk_lookup_result(bk_lookup_req *r, bk_fn *out);
void bk_lookup_free(bk_lookup_req *r);

/*
 * Post a task: fn(arg[0..len)).  The argument is copied into the shared
 * region before return, so arg may be reused at once; if arg lies inside a
 * bk_buf_alloc() buffer it is passed without a copy (zero copy, any length up
 * to the buffer's) and must stay unchanged until the future completes.  The
 * result comes back in the future's inline buffer (inline_size bytes).  On
 * success *out is a future the caller must bk_release().  Errors: -EAGAIN at
 * once when max_inflight futures are in flight or the ring is full,
 * -EMSGSIZE when len exceeds the inline size (use a zero-copy buffer),
 * BK_EGONE, -EINVAL.  The broker caps the work one connection has in flight
 * (tasks still running after their completion and work they started count
 * too; brokerd --max-inflight-per-conn, default 16384): a task posted beyond
 * the cap is accepted here but completes at once with status -EBUSY, without
 * running.
 */
int bk_submit(bk_client *c, bk_fn fn, const void *arg, size_t len, bk_future **out);

/* As bk_submit, but waits up to timeout_ns (<0: forever) for a free slot instead of -EAGAIN; -ETIMEDOUT then. */
int bk_submit_wait(bk_client *c, bk_fn fn, const void *arg, size_t len, int64_t timeout_ns, bk_future **out);

/*
 * Lanes (bk_call.priority).  A worker starts interactive calls first, then
 * normal, then background, and gives normal and background a guaranteed
 * share of every round so neither starves (docs/ARCHITECTURE.md,
 * "Priorities").  Zero, the default, is normal.
 */
#define BK_PRIO_NORMAL 0u
#define BK_PRIO_INTERACTIVE 1u
#define BK_PRIO_BACKGROUND 2u

/*
 * One task of a batch.  Fields after user_data came with version 1.1
 * (symbol bk_submit_batch@BKCLIENT_1.1); programs built against 1.0 keep
 * the shorter struct through bk_submit_batch@BKCLIENT_1.  Zero-initialise
 * it ({0} or designated initialisers) so fields added later stay unset.
 */
typedef struct bk_call {
	bk_fn fn;
	const void *arg; /* inline argument, or a bk_buf_alloc() buffer (then zero copy) */
	size_t len;
	void *result; /* NULL: the inline buffer; else a bk_buf_alloc() buffer of result_cap bytes */
	size_t result_cap;
	bk_complete_cb cb; /* optional, run by bk_dispatch */
	void *user_data;
	/*
	 * 1.1.  deadline_ns > 0: the broker completes the call with -ETIMEDOUT
	 * that long after submission (measured from bk_submit_batch, on
	 * CLOCK_MONOTONIC) and cancels what it started; a call whose deadline
	 * passed while queued is not started.  0: no deadline.  A handler that
	 * ignores cancellation delays that completion (module.h).
	 */
	int64_t deadline_ns;
	uint32_t priority; /* BK_PRIO_* */
	uint32_t flags; /* BK_CALL_*, 0: an ordinary call */
} bk_call;

/*
 * bk_call.flags.  BK_CALL_DURABLE: a durable background job of a brokerd
 * run with --cluster (docs/CLUSTER.md): stored in the cluster's JetStream
 * work queue under a job id, run by any node serving the function, at
 * least once (again when the node running it dies), and completed exactly
 * once here.  A brokerd without --cluster completes it with -EOPNOTSUPP.
 */
#define BK_CALL_DURABLE 0x1u
/*
 * BK_CALL_JOB_ID: the argument starts with a job id of BK_JOB_ID_LEN (48)
 * bytes, NUL-padded; brokerd strips it and the handler reads it with
 * host->job_id (module.h).  brokerd-cluster.so sets it for the durable jobs
 * it runs; the id is the caller's word, for a handler's idempotency only.
 * A shorter argument is -EINVAL.
 */
#define BK_CALL_JOB_ID 0x2u

/*
 * Post n calls with one ring publication (and at most one wake-up).  Fills
 * out[0..k) and returns k, the number posted (k < n when slots or ring space
 * ran out, and k <= 64 per call: loop for more; 0 is returned as -EAGAIN).
 * Every call is checked before any is posted: one bad call fails the whole
 * batch with its error (-EMSGSIZE, or -EINVAL for a result buffer that is not
 * a bk_buf_alloc() buffer).
 */
int bk_submit_batch(bk_client *c, const bk_call *calls, size_t n, bk_future **out);

/*
 * As bk_submit, with a deadline (relative ns, 0: none) and a priority
 * (BK_PRIO_*), as bk_call describes them.  -EINVAL for a negative deadline,
 * an unknown priority or an oversize deadline (over BK_DEADLINE_MAX_NS).
 */
int bk_submit_opts(bk_client *c, bk_fn fn, const void *arg, size_t len, int64_t deadline_ns, unsigned priority,
		   bk_future **out);
#define BK_DEADLINE_MAX_NS (86400ll * 365 * 1000000000ll) /* a year */

/*
 * How a future ends.  Every submitted future ends exactly once, one of two ways:
 *
 *   completed  the broker ran the task to its end.  bk_wait returns 0,
 *              bk_poll 1, and bk_result the task's status (0 or the
 *              module's error) and result bytes.  This stays so after the
 *              broker dies: a completion that reached the region before the
 *              death keeps its status and bytes, readable until bk_release
 *              (the region stays mapped until bk_disconnect).
 *   lost       the broker died or closed the connection first, so no result
 *              will ever come.  The library notices the death within a
 *              second in a sleeping bk_wait, within a millisecond in a
 *              bk_poll loop, at the next bk_dispatch, and in any call that
 *              returns BK_EGONE; from then on bk_wait and bk_poll return
 *              BK_EGONE for the future, and bk_result BK_EGONE with *len 0.
 *              Until then it is simply pending (bk_result: -EBUSY).
 *
 * Callbacks follow the same rule: a callback runs once for either ending,
 * from bk_dispatch, and tells them apart by bk_result (BK_EGONE: lost).  So
 * 0 from bk_wait (1 from bk_poll) always means the broker finished the task,
 * and BK_EGONE from any of bk_wait, bk_poll and bk_result always means it
 * never will; the handle is still yours to bk_release.  A zero-copy buffer
 * given to a lost future may have been in use by the dying broker: do not
 * reuse it (bk_disconnect frees it with the region).
 */

/*
 * Wait until f ends: 0 when completed, BK_EGONE when lost (see above),
 * -ETIMEDOUT when timeout_ns (<0: forever) passed, BK_ESTALE after release.
 * Spins up to bk_options.spin_ns, then sleeps on a futex in the region (no
 * syscall from the broker unless someone sleeps).  Several threads may wait
 * on different futures of one client at once.
 */
int bk_wait(bk_future *f, int64_t timeout_ns);

/*
 * Wait until every one of futures[0..n) has ended (all of one client):
 * 0 when all completed, BK_EGONE when the broker died and at least one was
 * lost (the completed ones keep their results), -ETIMEDOUT, BK_ESTALE if
 * one was released, -EINVAL for a NULL future or futures of two clients.
 * n == 0 returns 0.  One spin and one sleep per wake-up serve all of them,
 * so waiting for a batch costs what waiting for its slowest future costs.
 */
int bk_wait_all(bk_future *const *futures, size_t n, int64_t timeout_ns);

/*
 * Wait until one of futures[0..n) has ended and say which in *index: 0 when
 * it completed, BK_EGONE when it was lost, BK_ESTALE when it was released
 * (*index names it in all three cases), -ETIMEDOUT, -EINVAL (n == 0, a
 * NULL future, futures of two clients).  Of several that have ended, the
 * lowest index is reported.
 */
int bk_wait_any(bk_future *const *futures, size_t n, int64_t timeout_ns, size_t *index);

/* Non-blocking check: 1 completed, 0 pending, BK_EGONE lost (see above bk_wait), BK_ESTALE. */
int bk_poll(bk_future *f);

/*
 * The task's status (0 or a negative errno from the module; -ECANCELED after
 * a cancel; -ENOBUFS when the result did not fit, *len then being the size
 * needed) and its result bytes, valid until bk_release.  BK_EGONE (*len 0)
 * for a lost future (see above bk_wait), -EBUSY if still pending.
 */
int bk_result(bk_future *f, const void **data, size_t *len);

/*
 * Ask the broker to cancel f.  It still completes (usually with -ECANCELED,
 * or normally if it finished first); wait for it as usual.  0 also for a
 * future already done.  -EAGAIN when the ring is full, BK_ESTALE, BK_EGONE.
 */
int bk_cancel(bk_future *f);

/*
 * Give f back.  A pending future is cancelled (best effort: with a full
 * ring it simply runs to the end) and its slot is reused only after the
 * broker has completed it; its callback will not run.  After release, f must
 * not be used; calls on it return BK_ESTALE until the handle is recycled
 * (handles are recycled oldest-first, so that is as late as possible).
 */
void bk_release(bk_future *f);

/*
 * Run cb(f, user_data) once when f ends (completed or lost, see above
 * bk_wait), from the next bk_dispatch() in the thread that calls it (queued
 * at once, and bk_fd made readable, if f has already ended).  Replaces an
 * earlier callback.  BK_ESTALE after release.
 */
int bk_on_complete(bk_future *f, bk_complete_cb cb, void *user_data);

/* The client a future belongs to. */
bk_client *bk_future_client(bk_future *f);

/*
 * A file descriptor that becomes readable when completions or callbacks are
 * waiting, and when the broker hangs up, for epoll/poll/libuv/io_uring loops
 * (level-triggered; it is an epoll set, so it nests in other epoll sets).
 * The first call asks the broker to signal it; call bk_dispatch when it is
 * readable.  Owned by the client; do not close it.
 */
int bk_fd(bk_client *c);

/*
 * Reap every completion, run pending callbacks in the calling thread and
 * re-arm bk_fd.  Returns the number of callbacks run, or BK_EGONE once the
 * broker is gone: futures the broker did not complete are then lost (see
 * above bk_wait) and their callbacks run, with bk_result giving BK_EGONE.
 * Never blocks; a call does a bounded amount of work and leaves bk_fd
 * readable if more is waiting.
 */
int bk_dispatch(bk_client *c);

/*
 * Zero-copy buffers inside the shared region, for large arguments and
 * results (area size set by bk_options.zero_copy_size; blocks are 64-byte
 * aligned).  NULL when len is 0 or the area has no such free block.  Free
 * with bk_buf_free once no in-flight future uses it; freeing NULL or a
 * pointer that is not a buffer start is a no-op.  Thread-safe.
 */
void *bk_buf_alloc(bk_client *c, size_t len);
void bk_buf_free(bk_client *c, void *buf);

/* Human-readable name of any code these functions return. */
const char *bk_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* BROKER_CLIENT_H */
