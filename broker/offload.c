// SPDX-License-Identifier: MIT
/*
 * offload.c - the blocking-work pool of offload.h: one FIFO per key (the
 * submitting connection), the keys with queued items on a ring served round
 * robin, all guarded by one mutex, served by a fixed set of threads.
 * docs/ARCHITECTURE.md, "Offload: one queue per connection".
 */
#include "offload.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#define NBUCKETS 256u

/* One key's items.  Exists while it has items queued or running. */
struct queue {
	const void *key;
	struct bkd_work *head, *tail;
	unsigned queued, running;
	struct queue *hnext; /* hash chain */
	struct queue *rnext, *rprev; /* the ring of queues with items queued */
	bool in_ring;
};

struct bkd_offload {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* guarded by lock */
	struct queue *buckets[NBUCKETS];
	struct queue *ring; /* next queue to serve; NULL when nothing is queued */
	unsigned queued, capacity;
	unsigned max_running; /* per key: every thread but one, so another key always finds a thread */
	bool stopping;
	unsigned nthreads;
	pthread_t threads[];
};

static unsigned bucket_of(const void *key)
{
	uintptr_t k = (uintptr_t)key;
	return (unsigned)((k >> 4) ^ (k >> 12) ^ (k >> 20)) % NBUCKETS;
}

static struct queue *queue_find(struct bkd_offload *p, const void *key)
{
	for (struct queue *q = p->buckets[bucket_of(key)]; q; q = q->hnext)
		if (q->key == key)
			return q;
	return NULL;
}

static void ring_add(struct bkd_offload *p, struct queue *q)
{
	if (q->in_ring)
		return;
	q->in_ring = true;
	if (!p->ring) {
		q->rnext = q->rprev = q;
		p->ring = q;
		return;
	}
	/* Before the current head: last in the round. */
	q->rnext = p->ring;
	q->rprev = p->ring->rprev;
	q->rprev->rnext = q;
	p->ring->rprev = q;
}

static void ring_del(struct bkd_offload *p, struct queue *q)
{
	if (!q->in_ring)
		return;
	q->in_ring = false;
	if (q->rnext == q) {
		p->ring = NULL;
	} else {
		q->rprev->rnext = q->rnext;
		q->rnext->rprev = q->rprev;
		if (p->ring == q)
			p->ring = q->rnext;
	}
}

/* Free q once it holds nothing. */
static void queue_put(struct bkd_offload *p, struct queue *q)
{
	if (q->queued || q->running)
		return;
	ring_del(p, q);
	struct queue **pp = &p->buckets[bucket_of(q->key)];
	while (*pp != q)
		pp = &(*pp)->hnext;
	*pp = q->hnext;
	free(q);
}

static struct bkd_work *queue_pop(struct bkd_offload *p, struct queue *q)
{
	struct bkd_work *item = q->head;
	q->head = item->qnext;
	if (!q->head) {
		q->tail = NULL;
		ring_del(p, q);
	}
	q->queued--;
	p->queued--;
	return item;
}

static bool item_cancelled(const struct bkd_work *item)
{
	/* A hint only: nothing else is read on its strength, so relaxed is enough. */
	return item->cancelled && atomic_load_explicit(item->cancelled, memory_order_relaxed);
}

/*
 * The next item for a pool thread, NULL if none may run now.  A cancelled
 * item (or any, when stopping) at a queue's head comes back at once with
 * dropped set, whatever that key's running count: dropping costs nothing.
 */
static struct bkd_work *take(struct bkd_offload *p)
{
	struct queue *q = p->ring;
	for (struct queue *first = q; q;) {
		struct queue *next = q->rnext;
		if (p->stopping || item_cancelled(q->head)) {
			struct bkd_work *item = queue_pop(p, q);
			item->dropped = true;
			q->running++; /* released like any item, after done() */
			return item;
		}
		if (q->running < p->max_running) {
			struct bkd_work *item = queue_pop(p, q);
			q->running++;
			if (q->in_ring)
				p->ring = q->rnext; /* round robin: this key goes last */
			return item;
		}
		q = next == first ? NULL : next;
	}
	return NULL;
}

static void *pool_main(void *arg)
{
	struct bkd_offload *p = arg;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct bkd_work *item = take(p);
		if (!item) {
			if (p->stopping && !p->queued)
				break;
			pthread_cond_wait(&p->cond, &p->lock);
			continue;
		}
		struct queue *q = queue_find(p, item->key);
		pthread_mutex_unlock(&p->lock);
		/* Everything the submitter wrote into the item happened before the queue lock hand-over. */
		if (!item->dropped)
			item->work(item);
		pthread_mutex_lock(&p->lock);
		/* Released before done(): after it, the item belongs to its submitter again. */
		q->running--;
		queue_put(p, q);
		/* A key below its running cap again may have items another thread skipped. */
		if (p->queued)
			pthread_cond_signal(&p->cond);
		pthread_mutex_unlock(&p->lock);
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
	p->max_running = nthreads > 1 ? nthreads - 1 : 1;
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

static int enqueue(struct bkd_offload *p, struct bkd_work *item)
{
	if (p->stopping)
		return -ESHUTDOWN;
	if (p->queued >= p->capacity)
		return -EAGAIN;
	struct queue *q = queue_find(p, item->key);
	if (q && q->queued + q->running >= BKD_OFFLOAD_PER_KEY)
		return -EAGAIN; /* the connection's quota: retry when some of its work is done */
	if (!q) {
		q = calloc(1, sizeof(*q));
		if (!q)
			return -ENOMEM;
		q->key = item->key;
		unsigned bkt = bucket_of(item->key);
		q->hnext = p->buckets[bkt];
		p->buckets[bkt] = q;
	}
	item->qnext = NULL;
	item->dropped = false;
	if (q->tail)
		q->tail->qnext = item;
	else
		q->head = item;
	q->tail = item;
	q->queued++;
	p->queued++;
	ring_add(p, q);
	return 0;
}

int bkd_offload_submit(struct bkd_offload *p, struct bkd_work *item)
{
	pthread_mutex_lock(&p->lock);
	int r = enqueue(p, item);
	if (r == 0)
		pthread_cond_signal(&p->cond);
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
