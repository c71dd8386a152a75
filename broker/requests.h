// SPDX-License-Identifier: MIT
/*
 * requests.h - the control messages of wire.h, served by the control
 * thread: the handshake (HELLO) and LOOKUP, STATUS, MODULES, CLIENTS, LOAD,
 * UNLOAD.
 */
#ifndef BROKER_REQUESTS_H
#define BROKER_REQUESTS_H

#include <stddef.h>

#include "brokerd.h"

/*
 * Serve one datagram from c.  fds are the descriptors that came with it
 * (ownership passes to this call).  Returns 0 to keep the connection, or a
 * negative code to drop it (garbage, refused handshake, unreadable peer).
 */
int bkd_request_handle(struct bkd_broker *b, struct bkd_conn *c, const void *msg, size_t len, int *fds, int nfds);

/* Send an unsolicited BK_MSG_BYE.  Best effort. */
void bkd_request_send_bye(struct bkd_conn *c);

#endif /* BROKER_REQUESTS_H */
