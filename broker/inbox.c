// SPDX-License-Identifier: MIT
/*
 * inbox.c - the inter-thread message queue of inbox.h.  A mutex-guarded
 * list is enough: items are hand-overs of whole connections, offload
 * results and shutdown steps, never per-task traffic on the hot path.
 */
#include "inbox.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"

int bkd_inbox_init(struct bkd_inbox *in)
{
	memset(in, 0, sizeof(*in));
	in->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (in->efd < 0)
		return -errno;
	int r = pthread_mutex_init(&in->lock, NULL);
	if (r) {
		close(in->efd);
		in->efd = -1;
		return -r;
	}
	in->live = true;
	return 0;
}

void bkd_inbox_fini(struct bkd_inbox *in)
{
	if (!in->live)
		return; /* never initialised (zeroed), failed, or already finalised */
	in->live = false;
	close(in->efd);
	in->efd = -1;
	pthread_mutex_destroy(&in->lock);
	in->head = in->tail = NULL;
}

void bkd_inbox_kick(struct bkd_inbox *in)
{
	uint64_t one = 1;
	/* EAGAIN means the counter is saturated: the owner is woken anyway. */
	if (write(in->efd, &one, sizeof(one)) != sizeof(one) && errno != EAGAIN)
		bkd_err("inbox eventfd write failed: %s", strerror(errno));
}

void bkd_inbox_post(struct bkd_inbox *in, struct bkd_inbox_item *it, enum bkd_inbox_type type, void *ptr)
{
	it->next = NULL;
	it->type = type;
	it->ptr = ptr;
	pthread_mutex_lock(&in->lock);
	if (in->tail)
		in->tail->next = it;
	else
		in->head = it;
	in->tail = it;
	pthread_mutex_unlock(&in->lock);
	/* Release, after the unlock: an owner that sees the flag finds the item under the lock anyway; one
	 * that took the list before this store sees the flag on its next turn and finds an empty or newer list. */
	atomic_store_explicit(&in->pending, true, memory_order_release);
	bkd_inbox_kick(in);
}

struct bkd_inbox_item *bkd_inbox_take(struct bkd_inbox *in)
{
	/* Acquire pairs with the release in post; the lock orders the list itself. */
	if (!atomic_exchange_explicit(&in->pending, false, memory_order_acquire))
		return NULL;
	pthread_mutex_lock(&in->lock);
	struct bkd_inbox_item *it = in->head;
	in->head = in->tail = NULL;
	pthread_mutex_unlock(&in->lock);
	return it;
}

void bkd_inbox_ack(struct bkd_inbox *in)
{
	uint64_t v;
	if (read(in->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		bkd_err("inbox eventfd read: %s", strerror(errno));
}
