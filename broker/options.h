// SPDX-License-Identifier: MIT
/*
 * options.h - brokerd's command line (--socket, --workers,
 * --module, --module-dir and --foreground are a fixed contract: scripts and
 * units rely on them).
 */
#ifndef BROKER_OPTIONS_H
#define BROKER_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define BKD_OPT_MAX_LIST 64
#define BKD_LATENCY_BUDGET_DEFAULT 64 /* --latency-budget */

struct bkd_options {
	char socket[108]; /* sun_path size */
	unsigned workers;
	const char *modules[BKD_OPT_MAX_LIST];
	unsigned nmodules;
	const char *module_dirs[BKD_OPT_MAX_LIST];
	unsigned nmodule_dirs;
	bool foreground;
	bool keep_going; /* --keep-going: serve even when a --module/--module-dir fails */
	const char *pidfile; /* --pidfile PATH, NULL if none */
	/*
	 * Not flags: the listening socket inherited from socket activation (-1 if none) and its path.
	 * socket[] is then empty, so that no shutdown path unlinks the socket unit's file.
	 */
	int listen_fd;
	char activated_name[108];
	uid_t allow_uid[BKD_OPT_MAX_LIST];
	unsigned nallow_uid;
	gid_t allow_gid[BKD_OPT_MAX_LIST];
	unsigned nallow_gid;
	unsigned spin_us;
	int spin_policy; /* enum bkd_spin_policy */
	unsigned grace_ms;
	unsigned latency_budget; /* --latency-budget: tasks timed per ms per worker, 0: all (latency.h) */
	int log_level;
	bool no_futex; /* hidden: force the eventfd wake-up fallback (tests) */
	bool no_balance; /* hidden: never move connections between workers (tests, benchmarks) */
	uint64_t max_large; /* cap on a connection's zero-copy area */
	/* multi-user (docs/SECURITY.md) */
	long admin_gid; /* --admin-gid: may load/unload besides root; -1 if none */
	const char *module_access[BKD_OPT_MAX_LIST]; /* --module-access MODULE=RULE, checked */
	unsigned nmodule_access;
	uint32_t max_conns_per_uid;
	uint64_t max_inflight_per_uid;
	uint32_t max_inflight_per_conn; /* tasks + charged work of one connection (task.c) */
	uint64_t max_region_bytes_per_uid;
	unsigned handshake_timeout_ms;
	unsigned socket_mode; /* --socket-mode, default 0660 */
	long socket_group; /* --socket-group as a gid, -1 if none (then the first --allow-gid) */
	const char *cluster_url; /* --cluster nats://HOST:PORT, NULL: no cluster (docs/CLUSTER.md) */
	const char *node; /* --node NAME, NULL: the host name */
};

/*
 * Parse argv.  Returns 0 to run, 1 when --help/--version was printed (exit
 * 0), or 2 after printing a clear message for bad input (exit 2).
 */
int bkd_options_parse(int argc, char **argv, struct bkd_options *o);

/* --cluster URL or (node) --node NAME: 0, or 2 after a message (cluster_opts.c). */
int bkd_options_cluster(struct bkd_options *o, bool node, const char *arg);


#endif /* BROKER_OPTIONS_H */
