// SPDX-License-Identifier: MIT
/*
 * snapshot.h - one look at brokerd's figures for stats, top and metrics:
 * STATUS, the function statistics and the client statistics (wire.h), taken
 * together with the time they were taken, and rates between two looks.
 */
#ifndef BROKERCTL_SNAPSHOT_H
#define BROKERCTL_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "broker/wire.h"
#include "ctl.h"

struct snapshot {
	int64_t t_ns; /* our clock when taken */
	struct bk_msg_status_reply st;
	struct bk_wire_fn_stats *fn;
	uint32_t nfn;
	struct bk_wire_client_stats *cl;
	uint32_t ncl;
	int accounting; /* 0: brokerd was built without latency accounting */
};

/* 0 or a negative code with x->err set; *s is then empty (safe to free). */
int snapshot_take(struct ctx *x, struct snapshot *s);
void snapshot_free(struct snapshot *s);

const struct bk_wire_fn_stats *snapshot_fn(const struct snapshot *s, uint32_t fn);
const struct bk_wire_client_stats *snapshot_client(const struct snapshot *s, uint32_t conn_id);

/* The id of "module.function" (LOOKUP); -ENOENT ("no such function") etc. with x->err set. */
int snapshot_lookup(struct ctx *x, const char *name, uint32_t *fn);

/* (now - before) / seconds between the looks; before may be 0 (rate since start, over uptime). */
double snapshot_rate(const struct snapshot *now, const struct snapshot *prev, uint64_t v_now, uint64_t v_prev);

/* "812ns", "1.25us", "3.4ms", "2.00s" in at most 7 characters; "-" for none. */
void fmt_ns(char *buf, size_t n, uint64_t ns, int have);
/* "123", "45.6k", "1.23M" per second. */
void fmt_rate(char *buf, size_t n, double r);

#endif /* BROKERCTL_SNAPSHOT_H */
