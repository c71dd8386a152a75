/*
 * control.h - the control thread: an epoll loop over the listening socket,
 * every client socket, a signalfd and the control inbox; it owns the
 * connections' life cycle and runs the shutdown sequence.
 */
#ifndef BROKER_CONTROL_H
#define BROKER_CONTROL_H

#include "brokerd.h"

/* Set up epoll over b->listen_fd, b->ctl_efd and a signalfd (SIGTERM, SIGINT; already blocked). */
int bkd_control_init(struct bkd_broker *b);

/* Serve until SIGTERM/SIGINT, then drain and stop workers.  Returns the exit code. */
int bkd_control_run(struct bkd_broker *b);

#endif /* BROKER_CONTROL_H */
