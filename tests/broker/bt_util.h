// SPDX-License-Identifier: MIT
/*
 * bt_util.h - helpers for brokerd's integration tests: start a brokerd with
 * extra flags, read its STATUS over a control connection, and make one call
 * end to end.  Every wait is bounded and fails the test.
 */
#ifndef BT_UTIL_H
#define BT_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "broker/client.h"
#include "broker/wire.h"
#include "harness.h"

#define BT_SEC 1000000000LL

/* Start brokerd (harness) with a NULL-ended list of extra flags; fails the test on error. */
void bt_start(struct bkt_brokerd *b, const char *const *extra);

/* Fetch STATUS over a fresh control connection; fails the test on error. */
void bt_status(const char *socket, struct bk_msg_status_reply *out);

/* Connect with default options; fails the test on error. */
bk_client *bt_connect(const char *socket);
/* The same with room for `slots` futures in flight and as many queued submissions (0: the defaults). */
bk_client *bt_connect_slots(const char *socket, uint32_t slots);

/* Look up name; fails the test on error. */
bk_fn bt_lookup(bk_client *c, const char *name);

/*
 * Call fn(arg) and wait up to 10 s.  Returns the task's status; the result
 * bytes (at most cap) go to out and their length to *out_len.
 */
int bt_call(bk_client *c, bk_fn fn, const void *arg, size_t len, void *out, size_t cap, size_t *out_len);

/* Count of lines in brokerd's log containing needle. */
int bt_log_count(const struct bkt_brokerd *b, const char *needle);

/* Wait up to timeout_ns until brokerd's log contains needle: 0, or -ETIMEDOUT. */
int bt_log_wait(const struct bkt_brokerd *b, const char *needle, int64_t timeout_ns);

/* Copy the file from to to (created or truncated) with mode; fails the test on error. */
void bt_copy_file(const char *from, const char *to, mode_t mode);

#endif /* BT_UTIL_H */
