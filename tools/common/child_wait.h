// SPDX-License-Identifier: MIT
/*
 * child_wait.h - waiting for a child process against a deadline, so that
 * no tool or test waits unbounded on a child that hangs.
 */
#ifndef BKT_CHILD_WAIT_H
#define BKT_CHILD_WAIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Reap pid before deadline (CLOCK_MONOTONIC ns, bk_now_ns): 0 with its wait
 * status in *status, -ETIMEDOUT when it is late, or -errno from waitpid
 * (-ECHILD: not ours, or already reaped).  A late child is left running,
 * or with kill_late SIGKILLed and reaped.
 */
int bkt_child_wait(pid_t pid, int64_t deadline, int *status, bool kill_late);

#endif /* BKT_CHILD_WAIT_H */
