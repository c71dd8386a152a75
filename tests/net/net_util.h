// SPDX-License-Identifier: MIT
/*
 * net_util.h - what the net tests share: calls with zero-copy arguments and
 * result buffers of any size, bounded waits for a condition, brokerd's
 * descriptor count back to a baseline, and a port nothing listens on.
 */
#ifndef NET_UTIL_H
#define NET_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/client.h"
#include "harness.h"

/* A call in flight: its future and the zero-copy buffers it uses. */
struct nt_call {
	bk_future *f;
	void *arg_buf, *res_buf;
	bk_client *c;
};

/* Submit fn(arg) with a result buffer of res_cap bytes (a zero-copy one past the inline size); fails the test. */
void nt_submit(bk_client *c, bk_fn fn, const void *arg, size_t len, size_t res_cap, struct nt_call *out);
/*
 * Wait up to timeout_ns for it (fails the test past that), copy the result
 * (malloc'd, NUL-terminated, *out may be NULL) and free everything.
 * Returns the task's status.
 */
int nt_finish(struct nt_call *call, int64_t timeout_ns, char **out, size_t *out_len);
/* Both at once, 10 s. */
int nt_call(bk_client *c, bk_fn fn, const void *arg, size_t len, size_t res_cap, char **out, size_t *out_len);

/* Poll pred(arg) every millisecond until true or timeout_ns passed: true when it held. */
bool nt_wait_for(bool (*pred)(void *arg), void *arg, int64_t timeout_ns);
/* Wait up to 10 s for brokerd's open descriptors to be back at base; fails the test with the count otherwise. */
void nt_expect_fds(const struct bkt_brokerd *b, int base);
/* A loopback port that was free a moment ago and has no listener (connections are refused). */
uint16_t nt_closed_port(void);

#endif /* NET_UTIL_H */
