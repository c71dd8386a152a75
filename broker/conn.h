/*
 * conn.h - allocation and release of one client connection (control thread).
 */
#ifndef BROKER_CONN_H
#define BROKER_CONN_H

#include "brokerd.h"

/* A freshly accepted socket; reads SO_PEERCRED.  NULL on ENOMEM or when the credentials cannot be read. */
struct bk_conn *bk_conn_new(struct bk_broker *b, int sock);

/* Release everything the connection holds: socket, region, rings, eventfds, task table. */
void bk_conn_free(struct bk_conn *c);

#endif /* BROKER_CONN_H */
