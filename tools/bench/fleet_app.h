// SPDX-License-Identifier: MIT
/*
 * fleet_app.h - the app of `broker-bench --fleet`: one process that ticks
 * every period and runs the tick's tasks (4 x 1 ms sleep, 2 x SHA-256 of
 * 4 KiB, 2 x 4 KiB file reads), either on a small runtime of its own
 * (broker-fleet-private, fleet_private.c) or through brokerd
 * (broker-fleet-shared, fleet_shared.c).  Two executables, so that each kind
 * of app maps only the libraries it needs: linking libcrypto and liburing
 * alone adds ~0.4 MiB of relocated pages to every process, which would hide
 * the memory brokerd saves.  fleet_app.c holds their common main and tick
 * loop; this header also defines the messages exchanged with the
 * orchestrator (fleet_run.c) over BK_FLEET_CTL_FD.
 *
 * App command line: APP FILE TICKS PERIOD_NS [SOCKET]
 *   FILE: a file of at least BK_FLEET_BLOCK bytes (read and hashed);
 *   SOCKET: brokerd's socket (the shared app only).
 */
#ifndef BK_BENCH_FLEET_APP_H
#define BK_BENCH_FLEET_APP_H

#include <stddef.h>
#include <stdint.h>

#include "hist.h"

#define BK_FLEET_SLEEPS 4
#define BK_FLEET_HASHES 2
#define BK_FLEET_READS 2
#define BK_FLEET_TASKS (BK_FLEET_SLEEPS + BK_FLEET_HASHES + BK_FLEET_READS)
#define BK_FLEET_BLOCK 4096 /* bytes hashed and read per task */
#define BK_FLEET_SLEEP_MS 1
#define BK_FLEET_TASK_TIMEOUT_NS (5 * 1000000000LL) /* no task of a tick may take longer */

#define BK_FLEET_CTL_FD 3 /* the app's end of its socket pair with the orchestrator */
#define BK_FLEET_MAGIC 0x464c5431u /* "FLT1" */

/* app -> orchestrator, once set up (and after its warm-up ticks). */
struct bk_fleet_ready {
	uint32_t magic;
	int32_t status; /* 0, or -errno: then err says why and the app exits */
	char err[240];
};

/* orchestrator -> app: when its first tick is due (CLOCK_MONOTONIC, absolute). */
struct bk_fleet_start {
	uint32_t magic;
	uint32_t rsvd;
	int64_t start_ns;
};

/* app -> orchestrator after its last tick; then the app waits for EOF and exits. */
struct bk_fleet_done {
	uint32_t magic;
	int32_t status;
	uint64_t ticks; /* ticks run */
	uint64_t late; /* ticks that started more than one period after their scheduled start */
	char err[240];
	struct bk_hist hist; /* tick latency: scheduled start -> all tasks done (ns) */
};

/* A runtime the ticks run on: each app executable links exactly one. */
struct bk_fleet_backend;
/* Set up; block: BK_FLEET_BLOCK bytes of FILE, which the tasks hash and must read back. */
int bk_fleet_backend_open(const char *file, const unsigned char *block, const char *socket,
			  struct bk_fleet_backend **out, char *err, size_t errlen);
/* Run one tick's BK_FLEET_TASKS tasks and return once all are done and checked.  0 or -errno with err. */
int bk_fleet_backend_tick(struct bk_fleet_backend *b, char *err, size_t errlen);
void bk_fleet_backend_close(struct bk_fleet_backend *b);

#endif
