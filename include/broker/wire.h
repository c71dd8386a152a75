// SPDX-License-Identifier: MIT
/*
 * wire.h - control messages on the SOCK_SEQPACKET socket between brokerd
 * and its clients (libbkclient, brokerctl).  Not installed.
 *
 * Every message is one datagram starting with struct bk_msg_hdr; len is the
 * whole datagram.  The client speaks first (HELLO) and every request gets
 * exactly one reply carrying the request's seq.  The broker may also send
 * unsolicited BK_MSG_BYE (seq 0) when it shuts down.  Strings are NUL
 * terminated inside their fixed arrays; a receiver forces the terminator.
 * The socket stays open for the connection's life and is its liveness signal.
 */
#ifndef BROKER_WIRE_H
#define BROKER_WIRE_H

#include <stdint.h>

#include "broker/proto.h"

#define BK_WIRE_MAGIC 0x5742424bu /* "KBBW" */
#define BK_WIRE_MAX_MSG 65536u /* largest datagram either side sends */

enum bk_msg_type {
	BK_MSG_HELLO = 1, /* c->b: bk_msg_hello; optional SCM_RIGHTS: the client's eventfd */
	BK_MSG_HELLO_REPLY = 2, /* b->c: bk_msg_hello_reply; SCM_RIGHTS: region memfd [, broker eventfd] */
	BK_MSG_LOOKUP = 3, /* c->b: bk_msg_lookup */
	BK_MSG_LOOKUP_REPLY = 4, /* b->c: bk_msg_lookup_reply */
	BK_MSG_STATUS = 5, /* c->b: bk_msg_hdr only */
	BK_MSG_STATUS_REPLY = 6, /* b->c: bk_msg_status_reply */
	BK_MSG_MODULES = 7, /* c->b: bk_msg_list (paged) */
	BK_MSG_MODULES_REPLY = 8, /* b->c: bk_msg_list_reply + bk_wire_module[count] */
	BK_MSG_CLIENTS = 9, /* c->b: bk_msg_list (paged) */
	BK_MSG_CLIENTS_REPLY = 10, /* b->c: bk_msg_list_reply + bk_wire_client[count] */
	BK_MSG_LOAD = 11, /* c->b: bk_msg_path (module file) */
	BK_MSG_UNLOAD = 12, /* c->b: bk_msg_path (module name) */
	BK_MSG_RESULT = 13, /* b->c: bk_msg_result, reply to LOAD/UNLOAD and to any bad request */
	BK_MSG_BYE = 14, /* b->c: bk_msg_hdr only: brokerd is shutting down */
	/* Latency accounting (docs/ARCHITECTURE.md, "Observability"); numbered apart from the rest. */
	BK_MSG_FN_STATS = 40, /* c->b: bk_msg_list (paged) */
	BK_MSG_FN_STATS_REPLY = 41, /* b->c: bk_msg_list_reply + bk_wire_fn_stats[count] */
	BK_MSG_CLIENT_STATS = 42, /* c->b: bk_msg_list (paged) */
	BK_MSG_CLIENT_STATS_REPLY = 43, /* b->c: bk_msg_list_reply + bk_wire_client_stats[count] */
	BK_MSG_REMOTE_FNS = 15, /* c->b: bk_msg_list (paged): functions other nodes serve (--cluster) */
	BK_MSG_REMOTE_FNS_REPLY = 16, /* b->c: bk_msg_list_reply + bk_wire_rfn[count] */
	BK_MSG_NODES = 17, /* c->b: bk_msg_list (paged): the cluster's nodes (--cluster) */
	BK_MSG_NODES_REPLY = 18, /* b->c: bk_msg_list_reply + bk_wire_node[count] */
	BK_MSG_JOBS = 19, /* c->b: bk_msg_list (paged): durable jobs this node sent or runs (--cluster) */
	BK_MSG_JOBS_REPLY = 20, /* b->c: bk_msg_list_reply + bk_wire_job[count] */
};

struct bk_msg_hdr {
	uint32_t magic;
	uint16_t type;
	uint16_t flags;
	uint32_t len; /* whole datagram, header included */
	uint32_t seq;
};

/* bk_msg_hello.flags */
#define BK_HELLO_CONTROL 0x1u /* control-only connection (brokerctl): no region */
#define BK_HELLO_EVENTFD 0x2u /* an eventfd is attached: signal it when notify_armed is set */

struct bk_msg_hello {
	struct bk_msg_hdr h;
	uint16_t abi_major;
	uint16_t abi_minor;
	uint32_t flags;
	uint64_t layout_hash;
	struct bk_geometry geo;
};

struct bk_msg_hello_reply {
	struct bk_msg_hdr h;
	int32_t status; /* 0, or -errno / BK_E* with error[] saying why */
	uint32_t conn_id;
	uint16_t abi_major; /* the broker's, so a mismatch can name both */
	uint16_t abi_minor;
	uint32_t features;
	uint64_t layout_hash;
	uint64_t region_size;
	char error[192];
};

struct bk_msg_lookup {
	struct bk_msg_hdr h;
	char name[128]; /* "module.function" */
};

struct bk_msg_lookup_reply {
	struct bk_msg_hdr h;
	int32_t status; /* 0, -ENOENT, or -EACCES (--module-access) */
	uint32_t fn;
};

struct bk_msg_status_reply {
	struct bk_msg_hdr h;
	char version[32];
	uint32_t pid;
	uint32_t workers;
	uint64_t uptime_ns;
	uint32_t connections;
	uint32_t modules;
	uint64_t tasks_done; /* completed, whatever the status */
	uint64_t tasks_failed; /* completed with a negative status */
	uint64_t inflight;
	uint64_t violations; /* protocol violations seen */
	uint64_t connections_total; /* accepted since start */
	uint32_t open_fds; /* brokerd's own, from /proc/self/fd */
	uint32_t migrations; /* connections moved from one worker to another since start, saturating; older
			      * brokerds send 0 (the field was reserved) */
	uint64_t rss_bytes;
};

/* Paged listing request: records [start, start + count) of the reply's total. */
struct bk_msg_list {
	struct bk_msg_hdr h;
	uint32_t start;
	uint32_t rsvd;
};

struct bk_msg_list_reply {
	struct bk_msg_hdr h;
	uint32_t total;
	uint32_t count; /* records following this struct */
};

/* bk_wire_module.state */
#define BK_MODSTATE_ACTIVE 0u
#define BK_MODSTATE_DRAINING 1u

struct bk_wire_module {
	char name[32];
	char version[32];
	char path[128];
	char functions[256]; /* comma-separated short names */
	uint32_t nfunctions;
	uint32_t state;
	uint64_t tasks_done;
	uint64_t inflight;
};

struct bk_wire_client {
	uint32_t conn_id;
	uint32_t pid;
	uint32_t uid;
	uint32_t gid;
	uint32_t worker;
	uint32_t sq_depth; /* entries waiting in the SQ now */
	uint32_t cq_depth; /* completions not yet reaped */
	uint32_t sq_entries;
	uint32_t cq_entries;
	uint32_t nslots;
	uint64_t inflight;
	uint64_t submitted;
	uint64_t completed;
	uint64_t errors; /* tasks completed with an error status */
	uint64_t violations;
	uint64_t connected_ns; /* how long ago it connected */
	char comm[16]; /* its process name when it connected (display only) */
};

/* A function served by other nodes of the cluster (docs/CLUSTER.md). */
struct bk_wire_rfn {
	char name[128]; /* "module.function" */
	uint32_t flags; /* BK_FN_* of its module descriptor (module.h) */
	uint32_t rsvd;
	char nodes[192]; /* comma-separated node names, ",..." when they do not fit */
};

/* A node of the cluster as the answering node sees it. */
struct bk_wire_node {
	char name[32];
	uint64_t last_seen_ns; /* how long ago it was last heard of; 0 for the answering node */
	uint64_t inflight; /* remote calls it is serving now, as it last said */
	uint64_t served; /* remote calls it served since it started */
	uint32_t nfunctions;
	uint32_t self; /* 1 for the answering node */
	char functions[256]; /* comma-separated full names, ",..." when they do not fit */
};

/* bk_wire_job.state */
#define BK_JOB_PENDING 0u /* sent by this node, its completion not back yet */
#define BK_JOB_RUNNING 1u /* running on this node */
#define BK_JOB_FAILED 2u /* sent by this node, completed with an error (the last 64) */

/* A durable job (docs/CLUSTER.md, "Durable jobs"). */
struct bk_wire_job {
	char id[64];
	char name[128]; /* "module.function" */
	uint32_t state; /* BK_JOB_* */
	int32_t status; /* BK_JOB_FAILED: its status */
	uint64_t age_ns; /* since it was sent, started or failed */
};

struct bk_msg_path {
	struct bk_msg_hdr h;
	char path[512];
};

struct bk_msg_result {
	struct bk_msg_hdr h;
	int32_t status;
	uint32_t rsvd;
	char message[256];
};

/* bk_msg_hdr.flags of FN_STATS and CLIENT_STATS replies */
#define BK_STATS_OFF 0x1u /* brokerd was built without latency accounting: the figures are all 0 */

/* Latency distributions, in this order, in bk_wire_fn_stats and bk_wire_client_stats. */
#define BK_LAT_QUEUE 0 /* the worker took the entry off the SQ -> handler start */
#define BK_LAT_RUN 1 /* handler start -> completion */
#define BK_LAT_TOTAL 2 /* the worker took the entry off the SQ -> completion */
#define BK_LAT_KINDS 3

/* One distribution in nanoseconds; quantiles are a bucket's middle (a few percent), max is exact. */
struct bk_wire_lat {
	uint64_t count; /* samples (may trail the calls counted by a task or so while tasks complete) */
	uint64_t sum_ns;
	uint64_t max_ns;
	uint64_t p50_ns, p90_ns, p99_ns, p999_ns;
};

/* bk_wire_fn_stats.below[k]: samples under 2^(k + BK_WIRE_BELOW_LOG2) ns (exact: bucket edges align). */
#define BK_WIRE_BELOW_LOG2 6
#define BK_WIRE_BELOW_N 32

/* One function id; calls count completed tasks that reached the function's handler. */
struct bk_wire_fn_stats {
	char name[128]; /* "module.function" */
	uint32_t fn;
	uint32_t rsvd;
	uint64_t calls;
	uint64_t errors; /* completed with a negative status */
	struct bk_wire_lat lat[BK_LAT_KINDS];
	uint64_t below[BK_LAT_KINDS][BK_WIRE_BELOW_N]; /* cumulative, for Prometheus histograms */
};

/* One client: the CLIENTS record plus the latency of its tasks that reached a handler. */
struct bk_wire_client_stats {
	struct bk_wire_client c;
	uint64_t calls;
	uint64_t errors;
	struct bk_wire_lat lat[BK_LAT_KINDS];
};

_Static_assert(sizeof(struct bk_msg_hdr) == 16, "msg hdr");
_Static_assert(sizeof(struct bk_msg_hello) == 56, "hello");
_Static_assert(sizeof(struct bk_wire_module) == 472, "wire module");
_Static_assert(sizeof(struct bk_wire_client) == 104, "wire client");
_Static_assert(sizeof(struct bk_wire_fn_stats) == 1088, "wire fn stats");
_Static_assert(sizeof(struct bk_wire_client_stats) == 288, "wire client stats");
_Static_assert(sizeof(struct bk_wire_rfn) == 328, "wire remote function");
_Static_assert(sizeof(struct bk_wire_node) == 320, "wire node");
_Static_assert(sizeof(struct bk_wire_job) == 208, "wire job");

#endif /* BROKER_WIRE_H */
