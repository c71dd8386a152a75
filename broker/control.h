// SPDX-License-Identifier: MIT
/*
 * control.h - the control thread: an epoll loop over the listening socket,
 * every client socket, a signalfd and the control inbox; it owns the
 * connections' life cycle and runs the shutdown sequence.  Set-up and
 * teardown of everything else are broker.c's.
 */
#ifndef BROKER_CONTROL_H
#define BROKER_CONTROL_H

#include "brokerd.h"

/* Set up epoll over b->listen_fd, the control inbox and a signalfd (SIGTERM, SIGINT; already blocked). */
int bkd_control_init(struct bkd_broker *b);

/* Serve until SIGTERM/SIGINT, then drain (grace period) and cancel what is left.  0, or -errno if the
 * loop itself failed.  The workers are still running when it returns. */
int bkd_control_run(struct bkd_broker *b);

/* After the workers are joined: close and free every connection that is left. */
void bkd_control_free_conns(struct bkd_broker *b);

/* Close the epoll and signal descriptors.  Safe after a failed or no init (fds -1). */
void bkd_control_fini(struct bkd_broker *b);

#endif /* BROKER_CONTROL_H */
