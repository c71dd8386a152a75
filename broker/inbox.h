// SPDX-License-Identifier: MIT
/*
 * inbox.h - the one message queue between brokerd's threads: any thread
 * posts, one owner (a worker or the control thread) takes everything at
 * once.  Items are embedded in their owner objects, so posting never
 * allocates and cannot fail.  The eventfd wakes the owner: a worker has a
 * read of it armed on its io_uring, the control thread polls it with epoll.
 */
#ifndef BROKER_INBOX_H
#define BROKER_INBOX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

enum bkd_inbox_type {
	BKD_IN_ADD_CONN = 1, /* worker: start serving conn */
	BKD_IN_TEARDOWN, /* worker: conn hung up; cancel, drain, hand back */
	BKD_IN_OFFLOAD_DONE, /* worker: an offloaded work item finished */
	BKD_IN_DRAIN, /* worker: shutdown began, refuse new calls */
	BKD_IN_CANCEL_ALL, /* worker: grace period over, cancel everything */
	BKD_IN_STOP, /* worker: exit the loop */
	BKD_IN_CONN_DROP, /* control: worker found a protocol violation, please tear down */
	BKD_IN_CONN_DONE, /* control: worker drained conn, free it */
};

struct bkd_inbox_item {
	struct bkd_inbox_item *next;
	enum bkd_inbox_type type;
	void *ptr;
};

struct bkd_inbox {
	pthread_mutex_t lock;
	struct bkd_inbox_item *head, *tail; /* guarded by lock */
	_Atomic bool pending; /* lets the owner skip the lock on turns with nothing posted */
	int efd; /* nonblocking eventfd */
	bool live; /* between a successful init and fini */
};

/* 0 or -errno (eventfd). */
int bkd_inbox_init(struct bkd_inbox *in);
/* Safe on a zeroed inbox and after a failed init. */
void bkd_inbox_fini(struct bkd_inbox *in);
/* Queue it (any thread) and wake the owner. */
void bkd_inbox_post(struct bkd_inbox *in, struct bkd_inbox_item *it, enum bkd_inbox_type type, void *ptr);
/* Wake the owner without an item (it then checks its own flags). */
void bkd_inbox_kick(struct bkd_inbox *in);
/* Owner: everything posted so far, oldest first, or NULL. */
struct bkd_inbox_item *bkd_inbox_take(struct bkd_inbox *in);
/* Owner: empty the eventfd after it signalled (epoll users; the io_uring read does it itself). */
void bkd_inbox_ack(struct bkd_inbox *in);
/* Any thread: something was posted and not taken yet (a hint). */
static inline bool bkd_inbox_pending(struct bkd_inbox *in)
{
	return atomic_load_explicit(&in->pending, memory_order_acquire);
}

#endif /* BROKER_INBOX_H */
