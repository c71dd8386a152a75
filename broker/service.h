// SPDX-License-Identifier: MIT
/*
 * service.h - brokerd under a service manager (docs/ARCHITECTURE.md,
 * "Running as a service"): the listening socket of socket activation, and
 * the sd_notify(3) protocol (READY=1 once serving, STATUS= figures,
 * RELOADING=1 around a module rescan, STOPPING=1, WATCHDOG=1).  Without
 * NOTIFY_SOCKET every notification is a no-op.  Control thread only, except
 * bkd_service_listen_fd (main, before daemonising).
 */
#ifndef BROKER_SERVICE_H
#define BROKER_SERVICE_H

#include <stddef.h>

#include "brokerd.h"

/*
 * The socket systemd passed (LISTEN_FDS, LISTEN_PID: a brokerd.socket unit or systemd-socket-activate),
 * made non-blocking, with its path in name; -ENOENT when none was passed; another negative code (logged)
 * when what was passed is not one listening AF_UNIX SOCK_SEQPACKET socket.
 */
int bkd_service_listen_fd(char *name, size_t namelen);

/* brokerd serves: READY=1 with a STATUS line, and the watchdog clock starts. */
void bkd_service_ready(struct bkd_broker *b);

/* Shutdown began: STOPPING=1. */
void bkd_service_stopping(void);

/* SIGHUP: RELOADING=1, rescan the modules (reload.h), READY=1 with what changed. */
void bkd_service_reload(struct bkd_broker *b);

/* Called on every turn of the control loop: sends WATCHDOG=1 and STATUS= when due.  Returns the loop's
 * epoll timeout in ms (timeout_ms, -1: none) shortened to the next of them. */
int bkd_service_tick(struct bkd_broker *b, int timeout_ms);

#endif /* BROKER_SERVICE_H */
