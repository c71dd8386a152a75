// SPDX-License-Identifier: MIT
/*
 * broker.h - brokerd as a whole: bring every part up in order, serve, and
 * take them down again in reverse order, from any point of a failed start.
 * main.c is only the process around it (flags, signals, daemonising).
 */
#ifndef BROKER_BROKER_H
#define BROKER_BROKER_H

#include "brokerd.h"

/* b->opt is parsed and the signals are blocked.  Starts workers and the offload pool, loads modules,
 * binds the socket.  0 or -errno, logged; on failure call bkd_broker_fini, which undoes what was done. */
int bkd_broker_init(struct bkd_broker *b);

/* Serve until SIGTERM/SIGINT and the shutdown sequence are over.  0, or -errno if the loop failed. */
int bkd_broker_run(struct bkd_broker *b);

/* Stop and free everything init set up, in reverse order.  1 if tasks were still in flight after
 * cancellation (their modules are then left loaded), else 0. */
int bkd_broker_fini(struct bkd_broker *b);

#endif /* BROKER_BROKER_H */
