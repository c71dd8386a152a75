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
/* Cancel every task of c in flight, a budget of slots per turn (bkd_wconn_step_torn does the work). */
void bkd_wconn_cancel_tasks(struct bkd_worker *w, struct bkd_conn *c);
/* Stop serving c: cancel its tasks and its wake request.  Idempotent. */
void bkd_wconn_tear(struct bkd_worker *w, struct bkd_conn *c);
/* Advance incremental cancels; hand torn connections with nothing left back to the control thread, which
 * frees them.  True while cancelling work remains (the loop must not sleep). */
bool bkd_wconn_step_torn(struct bkd_worker *w);
/* One fair round over the ready list's SQs; true if any entry was taken. */
bool bkd_wconn_run_round(struct bkd_worker *w);
/* c's wake request completed (it is no longer armed): finish a move to another worker begun by the round. */
void bkd_wconn_wait_done(struct bkd_worker *w, struct bkd_conn *c);
/* Park c: raise need_wakeup, re-check its SQ, arm its wake request, take it off the ready list.  False
 * (c stays ready, need_wakeup lowered) when entries arrived meanwhile or no request could be armed. */
bool bkd_wconn_park(struct bkd_worker *w, struct bkd_conn *c);
/* For one sleep of the worker: raise c's need_wakeup and arm its wake request; c stays on the ready list
 * (it has completions the client did not make room for) and the caller lowers the flag after the sleep. */
void bkd_wconn_sleep_prepare(struct bkd_worker *w, struct bkd_conn *c);
/* c's eventfd notify write completed with res. */
void bkd_wconn_notify_done(struct bkd_worker *w, struct bkd_conn *c, int res);
/* Publish the completions of every dirty connection and queue their wake-ups. */
void bkd_wconn_flush_dirty(struct bkd_worker *w);

#endif /* BROKER_WORKER_CONNS_H */
