// SPDX-License-Identifier: MIT
/*
 * admit.h - taking connections in without letting any client hold brokerd
 * (docs/SECURITY.md, "Limits"): accept, the per-uid connection count, the
 * descriptor reserve and the handshake deadline.
 *
 * A connection over a limit is not served, but kept until its HELLO so it
 * can be told why (BK_EREFUSED and a reason naming the limit); only a few
 * such connections are kept per uid and while short of descriptors, the
 * rest are closed at once.  A connection that sends no HELLO within
 * --handshake-timeout-ms is dropped.  When accept itself finds no
 * descriptor, a spare one kept for the purpose is given up to accept and
 * close the connection, so the listening socket never stays readable with
 * nothing done (which would spin the control loop).  Control thread only.
 */
#ifndef BROKER_ADMIT_H
#define BROKER_ADMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "brokerd.h"

/* Descriptors kept free below RLIMIT_NOFILE: a connection accepted within them is refused at HELLO. */
#define BKD_ADMIT_FD_RESERVE 32
/* Connections accepted within the reserve and waiting for HELLO, at most; more are closed at once. */
#define BKD_ADMIT_LOW_FD_CONNS 8u

/* Raise RLIMIT_NOFILE to its hard limit, make the per-uid table and the spare descriptor.  0 or -errno. */
int bkd_admit_init(struct bkd_broker *b);
void bkd_admit_fini(struct bkd_broker *b);

/*
 * Accept one waiting connection: 1 with *out set (on the handshake list,
 * counted), 0 when none is waiting (or accepting is paused), -EMFILE when
 * not even the spare descriptor is left: the caller stops polling the
 * listener until bkd_admit_resume_due says so.  Connections that are closed
 * at once are handled inside and do not end the call.
 */
int bkd_admit_accept(struct bkd_broker *b, struct bkd_conn **out);

/* An accept pause is over (true once): poll the listener again. */
bool bkd_admit_resume_due(struct bkd_broker *b, int64_t now);

/* At HELLO: BK_EREFUSED with the reason in why when c must not be served (a limit, no descriptors), else 0. */
int bkd_admit_refusal(struct bkd_broker *b, const struct bkd_conn *c, char *why, size_t len);

/* c's HELLO was served: it leaves the handshake list. */
void bkd_admit_hello_done(struct bkd_broker *b, struct bkd_conn *c);

/* c is going: forget it in every count and list (before bkd_conn_free). */
void bkd_admit_release(struct bkd_broker *b, struct bkd_conn *c);

/* Milliseconds until the next handshake deadline or the end of an accept pause; -1 if none. */
int bkd_admit_timeout_ms(struct bkd_broker *b, int64_t now);

/* The oldest connection whose handshake deadline passed (taken off the list: tear it down), or NULL. */
struct bkd_conn *bkd_admit_expired(struct bkd_broker *b, int64_t now);

#endif /* BROKER_ADMIT_H */
