// SPDX-License-Identifier: MIT
/*
 * brokerd.h - the daemon's shared state: the broker context, one connection
 * and the statistics counters, and who owns which field.
 *
 * Ownership: the control thread (main thread, control.c) owns the connection
 * list, sockets and the life cycle of every bkd_conn; the worker a connection
 * is handed to owns its rings, its tasks and the fields marked "worker".
 * Hand-over in both directions goes through an inbox (inbox.h), whose mutex
 * gives the happens-before edges for the plain fields.
 */
#ifndef BROKER_BROKERD_H
#define BROKER_BROKERD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "broker/sys.h" /* bk_now_ns */
#include "conn_rings.h"
#include "inbox.h"
#include "registry.h"
#include "options.h"
#include "ratelimit.h"
#include "region.h"

struct bkd_worker;
struct bk_task;
struct bkd_offload;
struct bkd_caller;
struct bkd_pers;
struct bkd_limits;
struct bkd_access;
struct bkd_lat_set;

/* The object that embeds member at ptr. */
#define BKD_CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* The first member of everything whose address is an io_uring user_data. */
enum bkd_ud_kind {
	BKD_UD_INBOX = 1,
	BKD_UD_CONN_WAIT,
	BKD_UD_TASK_OP,
	BKD_UD_BACKLOG_TIMER,
	BKD_UD_TIMER, /* the worker's one armed timeout over its timer heap (timers.h) */
	BKD_UD_NOTIFY, /* a connection's one outstanding eventfd notify write */
};
struct bkd_ud {
	uint8_t kind;
};

enum bkd_conn_state {
	BKD_CONN_NEW = 0, /* accepted, waiting for HELLO */
	BKD_CONN_CONTROL, /* control-only connection (brokerctl) */
	BKD_CONN_ACTIVE, /* has a region, served by a worker */
	BKD_CONN_TEARDOWN, /* hung up; the worker is draining it */
};

struct bkd_conn {
	/* control thread */
	struct bkd_conn *next, *prev;
	int sock;
	enum bkd_conn_state state;
	uint32_t id;
	struct ucred cred;
	struct bkd_caller *caller; /* the peer's credentials and groups (creds.h); never NULL once accepted */
	int64_t connected_ns;
	bool in_epoll;
	bool drop_requested;
	int client_efd; /* client's eventfd (BK_HELLO_EVENTFD), -1 if none */
	int wake_efd; /* BK_FEAT_SQ_EVENTFD: the client writes it to wake us; -1 if unused */
	struct bkd_region region;
	/* The serving worker: set by the control thread before the first hand-over, then only by the
	 * worker that hands c to another (worker_conns.c, migrate); read with bkd_conn_worker(). */
	_Atomic(struct bkd_worker *) w;
	/* admission (control thread: admit.c, uid_limits.c) */
	struct bkd_conn *hs_next, *hs_prev; /* waiting for HELLO, oldest first */
	int64_t hs_deadline_ns;
	bool hs_listed;
	bool counted; /* in the per-uid connection count */
	bool refusing_counted; /* in the per-uid count of over-limit connections told why at HELLO */
	bool low_fds; /* accepted while brokerd was low on descriptors: refused at HELLO */
	uint32_t reserved_slots; /* per-uid reservation of a served connection */
	uint64_t reserved_bytes;
	/* control thread: warnings and requests per connection (ratelimit.h, control.c) */
	struct bkd_ratelimit warn_rl, req_rl;
	uint32_t ctl_violations; /* malformed requests answered -EINVAL; BKD_VIOLATIONS_MAX drops it */
	struct bkd_conn *thr_next, *thr_prev; /* over its request rate: not read until thr_until_ns */
	int64_t thr_until_ns;
	bool throttled;

	/* worker (after BKD_IN_ADD_CONN until BKD_IN_CONN_DONE) */
	struct bkd_conn_rings cr;
	struct bkd_conn *wnext, *wprev;
	/* The ready list (conns with work, visited by rounds) and the teardown list (cancelling or torn): see
	 * docs/ARCHITECTURE.md, "Only connections with work".  A parked conn is on neither, its wake armed. */
	struct bkd_conn *rnext, *rprev, *tnext, *tprev;
	bool on_ready, parked, on_tlist, cancelling;
	uint32_t cancel_cursor; /* next slot whose task an incremental cancel visits */
	int64_t last_work_ns; /* the worker's turn clock when c last had entries */
	uint32_t charges; /* extra in-flight work counted against c's cap (bkd_task_charge) */
	bool notify_inflight, notify_owed; /* one eventfd write at a time; owed: another is due after it */
	struct bkd_ud notify_ud;
	struct bkd_conn *dirty_next;
	bool dirty;
	bool torn; /* teardown started (by violation or hang-up): fetch nothing more */
	bool teardown_received; /* control asked for the teardown; only then may we hand back */
	bool wait_armed;
	bool wait_cancel_sent;
	bool moving; /* going to an idle worker once its wake request is back (worker_conns.c) */
	bool sleeping; /* sleep_prepare called, sleep_finish due */
	uint64_t violations_seen; /* cr.violations already logged and counted */
	struct bkd_ratelimit wwarn_rl; /* the worker's warnings about this connection (ratelimit.h) */
	struct bkd_ud wait_ud;
	uint64_t wake_buf;
	struct bk_task **tasks; /* by slot, in-flight tasks */
	uint32_t ntasks; /* allocated task objects (in flight or waiting for ops) */
	uint32_t ntasks_peak; /* the most it had at once: a big one's teardown hands memory back (worker_conns.c) */
	uint32_t children; /* live child tasks (task_tree.c), counted against BKD_CHILDREN_PER_CONN */

	/* statistics, read by the control thread */
	_Atomic uint64_t errors;
	_Atomic(struct bkd_lat_set *) lat; /* latency accounting (latency.h), made by the worker on first use */

	struct bkd_inbox_item add_item, teardown_item, drop_item, done_item;
};

struct bkd_stats {
	int64_t start_ns;
	/* task counts live in each worker (worker.h: struct bkd_task_counters) */
	_Atomic uint64_t violations;
	_Atomic uint64_t connections_total;
	_Atomic uint32_t connections;
};

struct bkd_broker {
	struct bkd_options opt;
	struct bkd_registry *reg;
	const bk_host_api *host; /* the table handed to every handler */
	struct bkd_worker *workers;
	unsigned nworkers;
	struct bkd_offload *offload;
	struct bkd_pers *pers; /* io_uring personalities per worker (personality.h) */
	struct bkd_limits *limits; /* per-uid accounting (uid_limits.h) */
	struct bkd_access *access; /* --module-access rules (access.h), NULL: none */
	struct bkd_cluster *cluster; /* --cluster (cluster.h), NULL: none */
	struct bkd_stats stats;
	uint64_t epoch;
	bool balance; /* move quiescent connections to idle workers (not --no-balance) */
	bool futex_ok; /* io_uring has FUTEX_WAIT and FUTEX_WAKE */
	bool sq_futex; /* workers sleep on FUTEX_WAIT (else the eventfd fallback) */
	_Atomic bool draining;
	int up; /* how far bkd_broker_init got (broker.c) */

	/* control thread */
	int epfd;
	int listen_fd;
	int sig_fd;
	struct bkd_inbox ctl_inbox; /* workers' hand-backs; kicked alone for a registry collect */
	_Atomic bool collect_needed;
	struct bkd_conn *conns_head, *conns_tail;
	struct bkd_conn *hs_head, *hs_tail; /* connections waiting for HELLO (admit.c) */
	int spare_fd; /* kept free for accepting (and dropping) a connection when descriptors run out */
	unsigned low_fd_conns; /* accepted while low on descriptors, waiting for their HELLO to be refused */
	int64_t accept_paused_until; /* no descriptor even for the spare: accepting resumes then (0: not paused) */
	int64_t drops_logged_ns; /* when a connection closed at once was last logged (one line a second) */
	uint64_t drops_unlogged;
	struct bkd_conn *thr_head; /* connections over their request rate (control.c) */
	uint32_t next_conn_id;
	unsigned rr_next;
};

/* Process statistics from /proc/self: open fds and resident bytes.  Control thread only: both are cached
 * (docs/ARCHITECTURE.md, "Hostile clients"); the fd count is taken again after bkd_stats_fds_changed(). */
uint32_t bkd_stats_open_fds(void);
uint64_t bkd_stats_rss_bytes(void);
void bkd_stats_fds_changed(void);

/* The worker serving c now (any thread).  Acquire pairs with the release store of a migration. */
static inline struct bkd_worker *bkd_conn_worker(struct bkd_conn *c)
{
	return atomic_load_explicit(&c->w, memory_order_acquire);
}

#endif /* BROKER_BROKERD_H */
