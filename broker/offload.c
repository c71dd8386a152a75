// SPDX-License-Identifier: MIT
/*
 * offload.c - the blocking-work pool of offload.h: a bounded FIFO guarded
 * by one mutex, served by a fixed set of threads.
 */
#include "offload.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>


struct bkd_offload {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct bkd_work *head, *tail; /* guarded by lock */
	unsigned queued, capacity;
	bool stopping;
	unsigned nthreads;
	pthread_t threads[];
};

static void *pool_main(void *arg)
{
	struct bkd_offload *p = arg;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->head && !p->stopping)
			pthread_cond_wait(&p->cond, &p->lock);
		struct bkd_work *item = p->head;
		if (!item)
			break; /* stopping and drained */
		p->head = item->qnext;
		if (!p->head)
			p->tail = NULL;
		p->queued--;
		pthread_mutex_unlock(&p->lock);
		/* Everything the submitter wrote into the item happened before the queue lock hand-over. */
		item->work(item);
		item->done(item);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int bkd_offload_create(unsigned nthreads, unsigned capacity, struct bkd_offload **out)
{
	struct bkd_offload *p = calloc(1, sizeof(*p) + nthreads * sizeof(pthread_t));
	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->capacity = capacity;
	for (unsigned i = 0; i < nthreads; i++) {
		int r = pthread_create(&p->threads[i], NULL, pool_main, p);
		if (r) {
			p->nthreads = i;
			bkd_offload_destroy(p);
			return -r;
		}
		p->nthreads = i + 1;
	}
	*out = p;
	return 0;
}

int bkd_offload_submit(struct bkd_offload *p, struct bkd_work *item)
{
	int r = 0;
	pthread_mutex_lock(&p->lock);
	if (p->stopping) {
		r = -ESHUTDOWN;
	} else if (p->queued >= p->capacity) {
		r = -EAGAIN;
	} else {
		item->qnext = NULL;
		if (p->tail)
			p->tail->qnext = item;
		else
			p->head = item;
		p->tail = item;
		p->queued++;
		pthread_cond_signal(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
	return r;
}

void bkd_offload_destroy(struct bkd_offload *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
