// SPDX-License-Identifier: MIT
/*
 * control.h - control connections (brokerctl): a HELLO with
 * BK_HELLO_CONTROL, then request/reply round trips.  Internal to the
 * project: in client_core, not exported by libbkclient.
 */
#ifndef BKCLIENT_CONTROL_H
#define BKCLIENT_CONTROL_H

#include <stddef.h>
#include <stdint.h>

struct bkc_ctl {
	int fd;
	uint32_t seq;
	int timeout_ms;
};

/* Connect and handshake; 0 or a negative code with a reason in err. */
int bkc_ctl_open(struct bkc_ctl *k, const char *path, int timeout_ms, char *err, size_t errlen);
void bkc_ctl_close(struct bkc_ctl *k);

/*
 * Send req (a whole message whose header's magic, len and seq are filled
 * here) and receive the reply of reply_type into buf.  Returns the reply's
 * length, or a negative code with a reason in err; a BK_MSG_RESULT reply
 * with a negative status returns that status with its message in err.
 */
int bkc_ctl_call(struct bkc_ctl *k, void *req, size_t req_len, uint16_t reply_type, void *buf, size_t cap, char *err,
	       size_t errlen);

#endif /* BKCLIENT_CONTROL_H */
