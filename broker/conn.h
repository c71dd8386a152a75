/*
 * conn.h - allocation and release of one client connection (control thread).
 */
#ifndef BROKER_CONN_H
#define BROKER_CONN_H

#include "brokerd.h"

/* A freshly accepted socket; reads SO_PEERCRED.  NULL on ENOMEM or when the credentials cannot be read. */
struct bkd_conn *bkd_conn_new(struct bkd_broker *b, int sock);

/* Release everything the connection holds: socket, region, rings, eventfds, task table. */
void bkd_conn_free(struct bkd_conn *c);

#endif /* BROKER_CONN_H */
