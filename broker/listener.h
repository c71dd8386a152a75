// SPDX-License-Identifier: MIT
/*
 * listener.h - the listening SOCK_SEQPACKET socket (docs/ARCHITECTURE.md, "Inside brokerd") and the
 * peer-credential access policy.
 */
#ifndef BROKER_LISTENER_H
#define BROKER_LISTENER_H

#include <stdbool.h>
#include <sys/socket.h>

#include "creds.h"
#include "options.h"

/*
 * Bind and listen at path with mode (--socket-mode, 0660 by default).  A path that answers a connect()
 * belongs to a live brokerd: -EADDRINUSE, nothing is touched.  A stale socket
 * (ECONNREFUSED) is replaced.  Something that is not a socket: -EEXIST.
 * group >= 0 becomes the socket file's group, so that its members can reach
 * the socket at all (the policy check follows on connect).  Each failure is
 * logged with the path.  Returns the fd or -errno.
 */
int bkd_listener_open(const char *path, unsigned mode, long group);

/*
 * The same checks as bkd_listener_open without touching anything: 0 when the
 * path is free or a stale socket, else the error bkd_listener_open would give
 * (logged).  Lets brokerd refuse early, before it loads modules.
 */
int bkd_listener_probe(const char *path);

/* Same uid as brokerd, root, or listed with --allow-uid / --allow-gid (primary or supplementary group). */
bool bkd_peer_allowed(const struct bkd_options *o, const struct bkd_caller *c);

/* May load, unload and upgrade modules: root, brokerd's own uid, or a member of --admin-gid. */
bool bkd_peer_admin(const struct bkd_options *o, const struct bkd_caller *c);

#endif /* BROKER_LISTENER_H */
