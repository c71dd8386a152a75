// SPDX-License-Identifier: MIT
/*
 * uid_limits.c - per-uid counters (uid_limits.h) in a small chained hash table;
 * an entry exists while anything of its uid is counted.
 */
#include "uid_limits.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#define NBUCKETS 256u

struct usage {
	struct usage *next;
	uid_t uid;
	uint32_t conns, refusing;
	uint64_t slots, bytes;
};

struct bkd_limits {
	struct bkd_limits_cfg cfg;
	uid_t self;
	struct usage *buckets[NBUCKETS];
};

int bkd_limits_create(const struct bkd_limits_cfg *cfg, uid_t self, struct bkd_limits **out)
{
	struct bkd_limits *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->cfg = *cfg;
	l->self = self;
	*out = l;
	return 0;
}

void bkd_limits_destroy(struct bkd_limits *l)
{
	if (!l)
		return;
	for (unsigned i = 0; i < NBUCKETS; i++) {
		while (l->buckets[i]) {
			struct usage *u = l->buckets[i];
			l->buckets[i] = u->next;
			free(u);
		}
	}
	free(l);
}

static bool exempt(const struct bkd_limits *l, uid_t uid)
{
	return uid == 0 || uid == l->self;
}

static struct usage **slot_of(struct bkd_limits *l, uid_t uid)
{
	struct usage **pp = &l->buckets[((uint32_t)uid * 2654435761u) % NBUCKETS];
	while (*pp && (*pp)->uid != uid)
		pp = &(*pp)->next;
	return pp;
}

/* The entry of uid, made when missing; NULL on ENOMEM. */
static struct usage *get(struct bkd_limits *l, uid_t uid)
{
	struct usage **pp = slot_of(l, uid);
	if (!*pp) {
		*pp = calloc(1, sizeof(**pp));
		if (*pp)
			(*pp)->uid = uid;
	}
	return *pp;
}

/* Forget uid's entry once nothing of it is counted. */
static void put(struct bkd_limits *l, uid_t uid)
{
	struct usage **pp = slot_of(l, uid);
	struct usage *u = *pp;
	if (u && !u->conns && !u->refusing && !u->slots && !u->bytes) {
		*pp = u->next;
		free(u);
	}
}

enum bkd_limits_admit bkd_limits_conn_add(struct bkd_limits *l, uid_t uid)
{
	if (exempt(l, uid))
		return BKD_LIMITS_COUNTED;
	struct usage *u = get(l, uid);
	if (!u)
		return BKD_LIMITS_DROP;
	if (u->conns < l->cfg.max_conns) {
		u->conns++;
		return BKD_LIMITS_COUNTED;
	}
	if (u->refusing >= BKD_LIMITS_REFUSING_MAX)
		return BKD_LIMITS_DROP;
	u->refusing++;
	return BKD_LIMITS_OVER;
}

void bkd_limits_conn_del(struct bkd_limits *l, uid_t uid)
{
	struct usage *u = exempt(l, uid) ? NULL : *slot_of(l, uid);
	if (!u)
		return;
	if (u->conns)
		u->conns--;
	put(l, uid);
}

void bkd_limits_refusing_del(struct bkd_limits *l, uid_t uid)
{
	struct usage *u = exempt(l, uid) ? NULL : *slot_of(l, uid);
	if (!u)
		return;
	if (u->refusing)
		u->refusing--;
	put(l, uid);
}

void bkd_limits_conn_reason(const struct bkd_limits *l, uid_t uid, char *why, size_t len)
{
	snprintf(why, len, "uid %u already has %u connections, the limit (--max-conns-per-uid)", (unsigned)uid,
		 l->cfg.max_conns);
}

int bkd_limits_reserve(struct bkd_limits *l, uid_t uid, uint32_t slots, uint64_t bytes, char *why, size_t len)
{
	if (exempt(l, uid))
		return 0;
	struct usage *u = get(l, uid);
	if (!u) {
		snprintf(why, len, "out of memory for the per-uid accounting");
		return -ENOMEM;
	}
	if (u->slots + slots > l->cfg.max_slots) {
		snprintf(why, len,
			 "uid %u would have %" PRIu64 " tasks in flight (%" PRIu64 " reserved + %u slots), over the limit "
			 "of %" PRIu64 " (--max-inflight-per-uid)",
			 (unsigned)uid, u->slots + slots, u->slots, slots, l->cfg.max_slots);
		put(l, uid);
		return -EDQUOT;
	}
	if (u->bytes + bytes > l->cfg.max_region_bytes) {
		snprintf(why, len,
			 "uid %u would map %" PRIu64 " region bytes (%" PRIu64 " + %" PRIu64 "), over the limit of %" PRIu64
			 " (--max-region-bytes-per-uid)",
			 (unsigned)uid, u->bytes + bytes, u->bytes, bytes, l->cfg.max_region_bytes);
		put(l, uid);
		return -EDQUOT;
	}
	u->slots += slots;
	u->bytes += bytes;
	return 0;
}

void bkd_limits_unreserve(struct bkd_limits *l, uid_t uid, uint32_t slots, uint64_t bytes)
{
	struct usage *u = exempt(l, uid) ? NULL : *slot_of(l, uid);
	if (!u)
		return;
	u->slots -= slots <= u->slots ? slots : u->slots;
	u->bytes -= bytes <= u->bytes ? bytes : u->bytes;
	put(l, uid);
}
