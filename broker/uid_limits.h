// SPDX-License-Identifier: MIT
/*
 * uid_limits.h - per-uid accounting, so that one user cannot exhaust brokerd
 * (docs/SECURITY.md, "Limits"): connections (--max-conns-per-uid), slots
 * (--max-inflight-per-uid: a connection reserves its whole slot table, so
 * a uid can never have more tasks in flight) and shared-region bytes
 * (--max-region-bytes-per-uid).  Root and brokerd's own uid are not
 * limited: they already have every right brokerd has.  Control thread only.
 */
#ifndef BROKER_UID_LIMITS_H
#define BROKER_UID_LIMITS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Over-limit connections of one uid kept until their HELLO, to be told why; more are closed at once. */
#define BKD_LIMITS_REFUSING_MAX 4u

struct bkd_limits;

struct bkd_limits_cfg {
	uint32_t max_conns;
	uint64_t max_slots;
	uint64_t max_region_bytes;
};

int bkd_limits_create(const struct bkd_limits_cfg *cfg, uid_t self, struct bkd_limits **out);
void bkd_limits_destroy(struct bkd_limits *l);

enum bkd_limits_admit {
	BKD_LIMITS_COUNTED = 0, /* within the limit: counted, release with bkd_limits_conn_del */
	BKD_LIMITS_OVER, /* over the limit: refuse at HELLO (reason from bkd_limits_conn_reason), release with
			  * bkd_limits_refusing_del */
	BKD_LIMITS_DROP, /* over the limit and enough of its refusals pending: close at once */
};

/* A new connection of uid (at accept). */
enum bkd_limits_admit bkd_limits_conn_add(struct bkd_limits *l, uid_t uid);
void bkd_limits_conn_del(struct bkd_limits *l, uid_t uid);
void bkd_limits_refusing_del(struct bkd_limits *l, uid_t uid);
/* The refusal text for an over-limit connection of uid. */
void bkd_limits_conn_reason(const struct bkd_limits *l, uid_t uid, char *why, size_t len);

/* Reserve slots and region bytes for a served connection: 0, or -EDQUOT with the reason (naming the flag). */
int bkd_limits_reserve(struct bkd_limits *l, uid_t uid, uint32_t slots, uint64_t bytes, char *why, size_t len);
void bkd_limits_unreserve(struct bkd_limits *l, uid_t uid, uint32_t slots, uint64_t bytes);

#endif /* BROKER_UID_LIMITS_H */
