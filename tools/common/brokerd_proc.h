// SPDX-License-Identifier: MIT
/*
 * brokerd_proc.h - start and stop a private brokerd on a socket in a fresh
 * temporary folder.  The one implementation behind the test harness
 * (tests/common/harness.h), broker-bench and broker-stress.  Every wait is
 * bounded: start gives up after 10 s, stop after the caller's timeout.
 */
#ifndef BKT_BROKERD_PROC_H
#define BKT_BROKERD_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* bkt_brokerd_init() flags. */
#define BKT_BROKERD_DIE_WITH_PARENT 0x1u /* PR_SET_PDEATHSIG SIGKILL: brokerd dies with the starting thread */
#define BKT_BROKERD_OWN_PGRP 0x2u        /* its own process group: a ^C on the terminal reaches only the caller */

#define BKT_BROKERD_MAX_ARGS 8  /* persistent extra flags (bkt_brokerd_arg) */
#define BKT_BROKERD_MAX_ARGV 64 /* the whole command line, NULL included */
#define BKT_BROKERD_START_TIMEOUT_MS 10000

struct bkt_brokerd {
	pid_t pid; /* 0 when not running */
	unsigned flags;
	/* Sized so that <dir>/broker.sock always fits sockaddr_un.sun_path (108 bytes on Linux). */
	char dir[96];     /* temporary folder (0700), removed by bkt_brokerd_cleanup */
	char socket[108]; /* <dir>/broker.sock */
	char log[112];    /* <dir>/brokerd.log: brokerd's stdout and stderr, appended over restarts */
	char bin[512];
	char moddir[512]; /* empty: no --module-dir */
	char args[BKT_BROKERD_MAX_ARGS][64];
	int nargs;
};

/*
 * Create the temporary folder ($TMPDIR or /tmp) and fill b without starting
 * anything.  bin: brokerd's path (a name without '/' is looked up on PATH);
 * moddir may be NULL.  A zeroed b that was never initialised is safe to
 * clean up.  0 or -errno.
 */
int bkt_brokerd_init(struct bkt_brokerd *b, const char *bin, const char *moddir, unsigned flags);

/* Add one flag given to every start (e.g. "--workers" "1"). 0, or -E2BIG. */
int bkt_brokerd_arg(struct bkt_brokerd *b, const char *arg);

/*
 * Start brokerd --foreground --socket <socket> [--module-dir D] [args]
 * [extra] (extra: a NULL-ended tail for this start only, may be NULL) and
 * wait until its socket accepts a connection.  Starting again after stop or
 * kill reuses the folder, socket path and log.  0, or -errno with the reason
 * (and the tail of brokerd's log) in err: -ECHILD when brokerd exited,
 * -ETIMEDOUT when it did not serve within BKT_BROKERD_START_TIMEOUT_MS (it
 * is then killed), -EBUSY when it is already running.
 */
int bkt_brokerd_start(struct bkt_brokerd *b, const char *const *extra, char *err, size_t errlen);

/*
 * SIGTERM and wait up to timeout_ms.  Returns brokerd's exit status (0-255),
 * 128+signal when a signal ended it, -ESRCH when it was not running, or
 * -ETIMEDOUT when it ignored SIGTERM (it has then been SIGKILLed and reaped).
 */
int bkt_brokerd_stop(struct bkt_brokerd *b, int timeout_ms);

/* SIGKILL and reap (no-op when not running). */
void bkt_brokerd_kill(struct bkt_brokerd *b);

/*
 * Stop brokerd if running (SIGTERM with stop_ms to go, then SIGKILL; 0 means
 * SIGKILL at once) and remove the socket, the log and the folder.
 */
void bkt_brokerd_cleanup(struct bkt_brokerd *b, int stop_ms);

/* Copy the last bytes of brokerd's log into buf (NUL-terminated; empty if there is none). */
void bkt_brokerd_log_tail(const struct bkt_brokerd *b, char *buf, size_t len);

/* Does a SOCK_SEQPACKET connect() to path succeed?  (The readiness check.) */
int bkt_socket_accepts(const char *path);

/* The pid of the process serving the Unix socket at path (SO_PEERCRED), or -errno. */
pid_t bkt_socket_peer_pid(const char *path);

#endif /* BKT_BROKERD_PROC_H */
