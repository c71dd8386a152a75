// SPDX-License-Identifier: MIT
/*
 * baselines.h - the same request/response work as the broker, done over the
 * alternatives and the physical limits, each against a small server process
 * of the bench's own (forked): shared-memory cache-line ping-pong
 * (spinning), futex ping-pong (sleeping, also with an io_uring server, the
 * floor of a worker's sleep and wake-up), Unix SOCK_SEQPACKET, a pair of
 * pipes, and ZeroMQ REQ/REP over ipc:// when built with libzmq; and the
 * price of a context switch between two processes on one CPU.
 * Every function returns 0 or a negative errno-style code.
 */
#ifndef BK_BENCH_BASELINES_H
#define BK_BENCH_BASELINES_H

#include "hist.h"
#include "measure.h"

#include <sys/types.h>

/*
 * A baseline whose server keeps running between calls, so that its round
 * trips can be interleaved with the broker's (bk_measure_rtt_interleaved).
 * rt(ctx, seq) does one round trip; close(run, r) stops the server and
 * returns r, or -ECHILD when r was 0 but the server did not exit cleanly.
 */
struct bk_base_run {
	bk_roundtrip_fn rt;
	void *ctx;
	int (*close)(struct bk_base_run *run, int r);
	/* the implementation's */
	pid_t pid;
	int rfd, wfd, flag;
	void *mem;
};

/* sleeping 0: cache-line ping-pong (spinning); 1: futex ping-pong; BK_SHM_URING: the futex ping-pong with a
 * server that sleeps in io_uring as a brokerd worker does (-ENOTSUP: this kernel has no io_uring futex requests). */
#define BK_SHM_URING 2
int bk_base_shm_open(int sleeping, struct bk_base_run *run);
/* seqpacket 1: a Unix SOCK_SEQPACKET socket pair; 0: a pair of pipes. */
int bk_base_uds_open(int seqpacket, struct bk_base_run *run);

int bk_base_shm_spin(const struct bk_rtt_cfg *cfg, struct bk_hist *h);
int bk_base_futex(const struct bk_rtt_cfg *cfg, struct bk_hist *h);
int bk_base_uds_rtt(const struct bk_rtt_cfg *cfg, struct bk_hist *h);
/* Pipelined: keep `window` requests in flight for `seconds`; *tps = replies per second. */
int bk_base_uds_tps(unsigned window, double seconds, double *tps);
int bk_base_pipe_rtt(const struct bk_rtt_cfg *cfg, struct bk_hist *h);
/* Two processes yielding to each other on one CPU for `seconds`: *ns = the CPU's time per context switch. */
int bk_base_switch_ns(double seconds, double *ns);
/* -ENOTSUP when the bench was built without libzmq. */
int bk_base_zmq_rtt(const struct bk_rtt_cfg *cfg, struct bk_hist *h);

#endif
