// SPDX-License-Identifier: MIT
/*
 * worker_ring.c - what tasks and the worker's own parts ask of the worker
 * they run on: a free SQE on its io_uring, a mark that a connection has
 * completions to publish, its place on the ready list, and whether the caller is on that worker's
 * thread.  The lowest layer of the worker, so that task.c and
 * worker_conns.c call down into it and not back into the loop (worker.c).
 */
#include "worker.h"

#include <string.h>

#include "log.h"

static _Thread_local struct bkd_worker *tls_worker;

void bkd_worker_set_current(struct bkd_worker *w)
{
	tls_worker = w;
}

bool bkd_worker_is_current(const struct bkd_worker *w)
{
	return tls_worker == w;
}

struct io_uring_sqe *bkd_worker_sqe(struct bkd_worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
	if (!sqe) {
		int r = io_uring_submit(&w->ring);
		if (r < 0)
			bkd_err("worker %u: io_uring_submit: %s", w->idx, strerror(-r));
		sqe = io_uring_get_sqe(&w->ring);
	}
	if (sqe)
		w->sqes_queued++;
	return sqe;
}

void bkd_worker_mark_dirty(struct bkd_worker *w, struct bkd_conn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	c->dirty_next = w->dirty;
	w->dirty = c;
}

/*
 * The ready list (docs/ARCHITECTURE.md, "Only connections with work"): new
 * members go to the tail, so a round that moves each visited connection to
 * the tail serves them in turn.
 */
void bkd_worker_ready(struct bkd_worker *w, struct bkd_conn *c)
{
	if (c->on_ready || c->torn)
		return;
	c->on_ready = true;
	c->rnext = NULL;
	c->rprev = w->ready_tail;
	if (w->ready_tail)
		w->ready_tail->rnext = c;
	else
		w->ready_head = c;
	w->ready_tail = c;
	w->nready++;
}

void bkd_worker_unready(struct bkd_worker *w, struct bkd_conn *c)
{
	if (!c->on_ready)
		return;
	if (c->rprev)
		c->rprev->rnext = c->rnext;
	else
		w->ready_head = c->rnext;
	if (c->rnext)
		c->rnext->rprev = c->rprev;
	else
		w->ready_tail = c->rprev;
	c->rnext = c->rprev = NULL;
	c->on_ready = false;
	w->nready--;
}

/*
 * A wake-up or notify request whose success needs no handling: with
 * CQE_SKIP_SUCCESS only a failure posts a CQE, so a worker that queues a
 * client wake-up and then sleeps is not woken again by that wake-up's own
 * completion (one io_uring_enter per sleeping round trip instead of two).
 */
void bkd_worker_fire_and_forget(struct bkd_worker *w, struct io_uring_sqe *sqe)
{
	if (w->cqe_skip)
		sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}
