// SPDX-License-Identifier: MIT
/*
 * worker_conns.h - a worker's connections (worker_conns.c), for the
 * worker's loop in worker.c.  Worker thread only.
 */
#ifndef BROKER_WORKER_CONNS_H
#define BROKER_WORKER_CONNS_H

#include <stdbool.h>

#include "worker.h"

/* Start serving c (BKD_IN_ADD_CONN). */
void bkd_wconn_link(struct bkd_worker *w, struct bkd_conn *c);
/* Cancel every task of c (in flight or waiting for operations). */
void bkd_wconn_cancel_tasks(struct bkd_conn *c);
/* Stop serving c: cancel its tasks and its wake request.  Idempotent. */
void bkd_wconn_tear(struct bkd_worker *w, struct bkd_conn *c);
/* Hand torn connections with nothing left back to the control thread, which frees them. */
void bkd_wconn_finish_torn(struct bkd_worker *w);
/* One fair round over every connection's SQ; true if any entry was taken. */
bool bkd_wconn_run_round(struct bkd_worker *w);
/* c's wake request completed (it is no longer armed): finish a move to another worker begun by the round. */
void bkd_wconn_wait_done(struct bkd_worker *w, struct bkd_conn *c);
/* Publish the completions of every dirty connection and queue their wake-ups. */
void bkd_wconn_flush_dirty(struct bkd_worker *w);

#endif /* BROKER_WORKER_CONNS_H */
