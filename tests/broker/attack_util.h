// SPDX-License-Identifier: MIT
/*
 * attack_util.h - what the hostile-load tests (test_attack_*.c) share: a
 * raw handshake that can pass any descriptor as the client's eventfd, the
 * count scale under sanitizers, latency figures of a bystander's calls and
 * the figures line every test prints (for the before/after table of
 * docs/SECURITY.md).  Every wait is bounded and fails the test.
 */
#ifndef ATTACK_UTIL_H
#define ATTACK_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "broker/proto.h"
#include "broker/ring.h"
#include "bt_util.h"

/* 1 in a plain build; smaller under ASan/TSan, where everything runs 3-20 times slower. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define AT_SANITIZED 1
#else
#define AT_SANITIZED 0
#endif
/* n in a plain build, n / div under sanitizers (at least 1). */
#define AT_SCALE(n, div) (AT_SANITIZED ? ((n) / (div) > 0 ? (n) / (div) : 1) : (n))

/*
 * A raw HELLO on a fresh socket (geometry geo, may be NULL), passing fd as
 * the client's eventfd when fd >= 0.  Returns the reply's status; the reply
 * text goes to why (may be NULL); *sock (may be NULL) gets the socket, else
 * it is closed.  Descriptors that came with the reply are closed.
 */
int at_raw_hello(const char *socket, const struct bk_geometry *geo, int fd, char *why, size_t whylen, int *sock);

/* A raw client with its region mapped (region_map.h), for writing hostile ring entries. */
struct at_raw {
	int sock;
	int wake_efd; /* BK_FEAT_SQ_EVENTFD: the broker's eventfd to kick, else -1 */
	struct bk_region_view v;
};
void at_raw_open(struct at_raw *r, const char *socket, const struct bk_geometry *geo);
/* Publish one entry and wake the broker. */
void at_raw_submit(struct at_raw *r, const struct bk_sqe *e);
void at_raw_close(struct at_raw *r);

/* Latencies of a series of round trips, in ns. */
struct at_lat {
	int64_t *ns;
	size_t n, cap;
};
void at_lat_init(struct at_lat *l, size_t cap);
void at_lat_add(struct at_lat *l, int64_t ns);
/* The p-th percentile (0..100) in microseconds; sorts l. */
double at_lat_pct_us(struct at_lat *l, double p);
void at_lat_free(struct at_lat *l);

/*
 * brokerd's own descriptor count (STATUS) once only the asking connection is left and nothing is in
 * flight (teardown is asynchronous; bounded by 10 s).
 */
uint32_t at_settled_fds(const char *socket);

/* One call of fn(arg) on c, bounded by timeout_ns: its round trip in ns, or -1 when it did not complete
 * (then cancelled and left to bk_disconnect). */
int64_t at_timed_call(bk_client *c, bk_fn fn, const void *arg, size_t len, int64_t timeout_ns, int *status);

/* The figures line: "FIGURES <name>: bystander p50 X us p99 Y us, brokerd RSS A -> B MiB, ...". */
void at_figures(const char *name, struct at_lat *l, long rss0_kib, long rss1_kib, const char *extra);

#endif /* ATTACK_UTIL_H */
