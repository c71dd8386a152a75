/*
 * brokerd.h - the daemon's shared state: the broker context, one connection
 * and the statistics counters, and who owns which field.
 *
 * Ownership: the control thread (main thread, control.c) owns the connection
 * list, sockets and the life cycle of every bkd_conn; the worker a connection
 * is handed to owns its rings, its tasks and the fields marked "worker".
 * Hand-over in both directions goes through a mutex-protected inbox, which
 * gives the happens-before edges for the plain fields.
 */
#ifndef BROKER_BROKERD_H
#define BROKER_BROKERD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conn_rings.h"
#include "loader.h"
#include "options.h"
#include "region.h"

struct bkd_worker;
struct bk_task;
struct bkd_offload;

/* A message in a worker's or the control thread's inbox; embedded in its owner (no allocation). */
enum bkd_inbox_type {
	BKD_IN_ADD_CONN = 1, /* worker: start serving conn */
	BKD_IN_TEARDOWN, /* worker: conn hung up; cancel, drain, hand back */
	BKD_IN_OFFLOAD_DONE, /* worker: an offloaded work item finished */
	BKD_IN_DRAIN, /* worker: shutdown began, refuse new calls */
	BKD_IN_CANCEL_ALL, /* worker: grace period over, cancel everything */
	BKD_IN_STOP, /* worker: exit the loop */
	BKD_IN_CONN_DROP, /* control: worker found a protocol violation, please tear down */
	BKD_IN_CONN_DONE, /* control: worker drained conn, free it */
};

struct bkd_inbox_item {
	struct bkd_inbox_item *next;
	enum bkd_inbox_type type;
	void *ptr;
};

/* The first member of everything whose address is an io_uring user_data. */
enum bkd_ud_kind {
	BKD_UD_INBOX = 1,
	BKD_UD_CONN_WAIT,
	BKD_UD_TASK_OP,
	BKD_UD_BACKLOG_TIMER,
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
	int64_t connected_ns;
	bool in_epoll;
	bool drop_requested;
	int client_efd; /* client's eventfd (BK_HELLO_EVENTFD), -1 if none */
	int wake_efd; /* BK_FEAT_SQ_EVENTFD: the client writes it to wake us; -1 if unused */
	struct bkd_region region;
	struct bkd_worker *w;

	/* worker (after BKD_IN_ADD_CONN until BKD_IN_CONN_DONE) */
	struct bkd_conn_rings cr;
	struct bkd_conn *wnext, *wprev;
	struct bkd_conn *dirty_next;
	bool dirty;
	bool torn; /* teardown started (by violation or hang-up): fetch nothing more */
	bool teardown_received; /* control asked for the teardown; only then may we hand back */
	bool wait_armed;
	bool wait_cancel_sent;
	bool sleeping; /* sleep_prepare called, sleep_finish due */
	uint64_t violations_seen; /* cr.violations already logged and counted */
	struct bkd_ud wait_ud;
	uint64_t wake_buf;
	struct bk_task **tasks; /* by slot, in-flight tasks */
	uint32_t ntasks; /* allocated task objects (in flight or waiting for ops) */

	/* statistics, read by the control thread */
	_Atomic uint64_t errors;

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
	struct bkd_worker *workers;
	unsigned nworkers;
	struct bkd_offload *offload;
	struct bkd_stats stats;
	uint64_t epoch;
	bool futex_ok; /* io_uring has FUTEX_WAIT and FUTEX_WAKE */
	bool sq_futex; /* workers sleep on FUTEX_WAIT (else the eventfd fallback) */
	_Atomic bool draining;

	/* control thread */
	int epfd;
	int listen_fd;
	int sig_fd;
	int ctl_efd; /* wakes the control thread: inbox and registry notify */
	_Atomic bool collect_needed;
	pthread_mutex_t ctl_lock;
	struct bkd_inbox_item *ctl_head, *ctl_tail; /* guarded by ctl_lock */
	struct bkd_conn *conns_head, *conns_tail;
	uint32_t next_conn_id;
	unsigned rr_next;
};

/* Monotonic clock in nanoseconds. */
int64_t bk_now_ns(void);

/* Post a message to the control thread (any thread). */
void bkd_control_post(struct bkd_broker *b, struct bkd_inbox_item *it);

/* Process statistics from /proc/self: open fds and resident bytes. */
uint32_t bkd_stats_open_fds(void);
uint64_t bkd_stats_rss_bytes(void);

#endif /* BROKER_BROKERD_H */
