// SPDX-License-Identifier: MIT
/*
 * conn.h - a client connection's life: accepted (new), given a region and
 * rings (prepared), handed to a worker (started), freed.  The control thread
 * calls all of these; what happens in between is the worker's (worker.h).
 */
#ifndef BROKER_CONN_H
#define BROKER_CONN_H

#include <stddef.h>

#include "brokerd.h"

/* The wake-up features a new connection's region gets. */
static inline uint32_t bkd_conn_features(const struct bkd_broker *b)
{
	return b->sq_futex ? BK_FEAT_SQ_FUTEX : BK_FEAT_SQ_EVENTFD;
}

/* A freshly accepted socket; reads the peer's credentials (creds.h).  NULL on ENOMEM or when the credentials
 * cannot be read or kept (logged). */
struct bkd_conn *bkd_conn_new(struct bkd_broker *b, int sock);

/* Reserve the region and slots against the caller's per-uid limits (BK_EREFUSED over a limit), then build the
 * connection's region for geometry geo, its wake-up eventfd (eventfd mode), ring tables and task table.  0, or
 * a negative code with the reason in err; whatever was built or reserved is released with the connection. */
int bkd_conn_prepare(struct bkd_broker *b, struct bkd_conn *c, const struct bk_geometry *geo, char *err,
		     size_t errlen);

/* The hello reply carrying the region went out: drop our region fd (the mapping keeps the memory), keep the
 * client's eventfd (-1 if none), place c on the least loaded worker and hand it over. */
void bkd_conn_start(struct bkd_broker *b, struct bkd_conn *c, int client_efd);

/* Release everything the connection holds: socket, region, rings, eventfds, task table. */
void bkd_conn_free(struct bkd_conn *c);

#endif /* BROKER_CONN_H */
