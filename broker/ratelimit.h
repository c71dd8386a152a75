// SPDX-License-Identifier: MIT
/*
 * ratelimit.h - token buckets for what a client can make brokerd do as
 * often as it likes: write a log line (a warning about its own bad input)
 * or serve a control request.  One bucket per connection and per thread
 * that uses it (no locking).  docs/ARCHITECTURE.md, "Hostile clients".
 */
#ifndef BROKER_RATELIMIT_H
#define BROKER_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct bkd_ratelimit {
	int64_t last_ns; /* time of the last refill */
	uint32_t tokens;
	uint64_t suppressed; /* refused since the last allowed one */
};

/* Warnings a connection can trigger: a burst of this many lines, then one a second. */
#define BKD_WARN_BURST 5u
#define BKD_WARN_PERIOD_NS 1000000000LL

/* Bad submissions after which a connection is dropped: a client that keeps writing garbage is not served. */
#define BKD_VIOLATIONS_MAX 1024u

/*
 * Take a token from a bucket of `burst` refilled by one every period_ns
 * (a zeroed bucket is full).  True when allowed: *suppressed (may be NULL)
 * gets the number refused since the previous allowed one, and restarts.
 */
bool bkd_ratelimit_take(struct bkd_ratelimit *rl, int64_t now_ns, uint32_t burst, int64_t period_ns,
			uint64_t *suppressed);

/* Lines about connections that are closed (one each, but a client can reconnect at will): control thread. */
extern struct bkd_ratelimit bkd_drops_rl;

/* A warning through rl (BKD_WARN_BURST / BKD_WARN_PERIOD_NS); a line after refusals ends "(N suppressed)". */
void bkd_warn_limited(struct bkd_ratelimit *rl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* BROKER_RATELIMIT_H */
