// SPDX-License-Identifier: MIT
/*
 * harness.h - start and stop a real brokerd for integration tests, on a
 * socket in a fresh temporary folder.  Every wait is bounded and fails the
 * caller instead of hanging.  brokerd's path comes from $BK_BROKERD and the
 * module folder from $BK_MODULE_DIR (set by meson for each test).
 *
 * The process handling is tools/common/brokerd_proc.h (struct bkt_brokerd,
 * shared with broker-bench and broker-stress); this layer adds what a test
 * wants: the paths from the environment, brokerd dying with the test, and a
 * failure explained on stderr with brokerd's whole log.
 */
#ifndef BK_TEST_HARNESS_H
#define BK_TEST_HARNESS_H

#include <stdint.h>
#include <sys/types.h>

#include "broker/sys.h" /* bk_now_ns, for the deadlines of the tests that use the harness */
#include "brokerd_proc.h"

/*
 * Create a temporary folder and start brokerd --foreground --socket
 * <dir>/broker.sock --module-dir $BK_MODULE_DIR, plus extra (a NULL-ended
 * argv tail, may be NULL).  Returns 0 once the socket accepts connections
 * (within 10 s), or -errno (-ETIMEDOUT, -ECHILD when brokerd exited).
 */
int bk_test_broker_start(struct bkt_brokerd *b, const char *const *extra);

/* Start brokerd again on the same folder and socket (after stop or kill). */
int bk_test_broker_restart(struct bkt_brokerd *b, const char *const *extra);

/*
 * SIGTERM and wait up to 15 s.  Returns brokerd's exit status (0-255), 128+sig
 * when a signal ended it, or -ETIMEDOUT (it is then SIGKILLed).
 */
int bk_test_broker_stop(struct bkt_brokerd *b);

/* SIGKILL and reap. */
void bk_test_broker_kill(struct bkt_brokerd *b);

/* Number of open fds of the running brokerd (from /proc), or -errno. */
int bk_test_broker_fd_count(const struct bkt_brokerd *b);

/* Resident set size of the running brokerd in KiB (from /proc), or -errno. */
long bk_test_broker_rss_kib(const struct bkt_brokerd *b);

/* Kill brokerd if still running and remove the temporary folder. */
void bk_test_broker_cleanup(struct bkt_brokerd *b);

/* Print brokerd's log to stderr (for a failing test). */
void bk_test_broker_dump_log(const struct bkt_brokerd *b);

#endif /* BK_TEST_HARNESS_H */
