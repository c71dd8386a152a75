// SPDX-License-Identifier: MIT
/*
 * nats_proc.h - a private nats-server (Debian's, with JetStream) on a free
 * loopback port in a temporary folder, for the cluster tests and the NATS
 * figures of broker-bench.  Every wait is bounded.
 */
#ifndef BKT_NATS_PROC_H
#define BKT_NATS_PROC_H

#include <stddef.h>
#include <sys/types.h>

struct bkt_nats {
	pid_t pid; /* 0 when not running */
	int port;
	char dir[96]; /* temporary folder: JetStream store and the server's log */
	char url[64]; /* nats://127.0.0.1:PORT */
	char bin[256];
};

/* The nats-server program ($BK_NATS_SERVER, else on PATH or /usr/sbin): 0, or -ENOENT. */
int bkt_nats_find(char *out, size_t len);
/* Pick a free port, make the folder and start it; 0 once it accepts TCP connections (10 s), or -errno. */
int bkt_nats_start(struct bkt_nats *n);
/* Start again on the same port and folder (after stop). */
int bkt_nats_restart(struct bkt_nats *n);
/* SIGTERM, wait up to 10 s (then SIGKILL); 0 or -ETIMEDOUT. */
int bkt_nats_stop(struct bkt_nats *n);
/* Stop if running and remove the folder. */
void bkt_nats_cleanup(struct bkt_nats *n);

#endif /* BKT_NATS_PROC_H */
