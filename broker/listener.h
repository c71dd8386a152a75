// SPDX-License-Identifier: MIT
/*
 * listener.h - the listening SOCK_SEQPACKET socket (docs/ARCHITECTURE.md, "Inside brokerd") and the
 * peer-credential access policy.
 */
#ifndef BROKER_LISTENER_H
#define BROKER_LISTENER_H

#include <stdbool.h>
#include <sys/socket.h>

#include "options.h"

/*
 * Bind and listen at path with mode 0660.  A path that answers a connect()
 * belongs to a live brokerd: -EADDRINUSE, nothing is touched.  A stale socket
 * (ECONNREFUSED) is replaced.  Something that is not a socket: -EEXIST.
 * group >= 0 becomes the socket file's group, so that its members can reach
 * the socket at all (the policy check follows on connect).  Each failure is
 * logged with the path.  Returns the fd or -errno.
 */
int bkd_listener_open(const char *path, long group);

/*
 * The same checks as bkd_listener_open without touching anything: 0 when the
 * path is free or a stale socket, else the error bkd_listener_open would give
 * (logged).  Lets brokerd refuse early, before it loads modules.
 */
int bkd_listener_probe(const char *path);

/* Same uid as brokerd, root, or listed with --allow-uid / --allow-gid. */
bool bkd_peer_allowed(const struct bkd_options *o, const struct ucred *cred);

#endif /* BROKER_LISTENER_H */
