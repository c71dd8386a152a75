// SPDX-License-Identifier: MIT
/*
 * fleet_private.c - the fleet app's own small runtime (broker-fleet-private):
 * one worker thread per online CPU, each with its own io_uring, doing the
 * kernel work brokerd does for the same tasks: an IORING_OP_TIMEOUT per
 * sleep, openat -> read -> close through the ring per file read, an EVP
 * digest on the worker per SHA-256.  Nothing spins: an idle worker blocks in
 * io_uring_submit_and_wait (its ring keeps a read of its eventfd armed, which
 * a submitter writes when the worker is parked), and the app thread waits
 * for each task on a condition variable, as the shared app bk_waits on each.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>
#include <openssl/evp.h>

#include "fleet_app.h"

#define RING_ENTRIES 64 /* a worker has at most one SQE per task of a tick in flight, plus its wake-up read */
#define MAX_WORKERS 256
#define TAG_WAKE 1 /* user_data of the eventfd read; tasks are pointers, never 1 */

enum { K_SLEEP, K_HASH, K_READ };
enum { S_OPEN, S_READ, S_CLOSE };

struct worker;

struct ptask {
	struct ptask *next; /* in the worker's queue */
	int kind, step, fd, res;
	int done, status; /* written under b->mu */
	struct __kernel_timespec ts;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned char buf[BK_FLEET_BLOCK];
};

struct worker {
	struct bk_fleet_backend *b;
	pthread_t th;
	int running;
	struct io_uring ring;
	int ring_ok;
	int init; /* under b->mu: 0 starting, 1 running, <0 its ring could not be set up */
	int efd;
	uint64_t efd_val;
	pthread_mutex_t mu; /* guards head, tailp, parked, stop */
	struct ptask *head, **tailp;
	int parked, stop;
};

struct bk_fleet_backend {
	const char *file;
	const unsigned char *block;
	unsigned char want_digest[EVP_MAX_MD_SIZE];
	EVP_MD *md; /* fetched once; EVP_MD objects may be shared between threads */
	unsigned nw, rr;
	struct worker *w;
	pthread_mutex_t mu; /* guards the tasks' done/status, waiting, fatal */
	pthread_cond_t cv;
	struct ptask *waiting;
	int fatal;
	struct ptask t[BK_FLEET_TASKS];
};

static int sha256(const EVP_MD *md, const unsigned char *p, unsigned char *out)
{
	unsigned n = 0;
	return EVP_Digest(p, BK_FLEET_BLOCK, out, &n, md, NULL) == 1 && n == 32 ? 0 : -EIO;
}

static void finish(struct bk_fleet_backend *b, struct ptask *t, int status)
{
	pthread_mutex_lock(&b->mu);
	t->status = status;
	t->done = 1;
	if (b->waiting == t)
		pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

static struct io_uring_sqe *sqe_get(struct io_uring *r)
{
	struct io_uring_sqe *s = io_uring_get_sqe(r);
	if (!s && io_uring_submit(r) >= 0)
		s = io_uring_get_sqe(r);
	return s;
}

static int arm_wake(struct worker *w)
{
	struct io_uring_sqe *s = sqe_get(&w->ring);
	if (!s)
		return -EBUSY;
	io_uring_prep_read(s, w->efd, &w->efd_val, sizeof(w->efd_val), 0);
	io_uring_sqe_set_data64(s, TAG_WAKE);
	return 0;
}

static void task_start(struct worker *w, struct ptask *t)
{
	if (t->kind == K_HASH) {
		finish(w->b, t, sha256(w->b->md, w->b->block, t->digest));
		return;
	}
	struct io_uring_sqe *s = sqe_get(&w->ring);
	if (!s) {
		finish(w->b, t, -EBUSY);
		return;
	}
	if (t->kind == K_SLEEP) {
		t->ts = (struct __kernel_timespec){ .tv_sec = 0, .tv_nsec = BK_FLEET_SLEEP_MS * 1000000LL };
		io_uring_prep_timeout(s, &t->ts, 0, 0);
	} else {
		t->step = S_OPEN;
		io_uring_prep_openat(s, AT_FDCWD, w->b->file, O_RDONLY | O_CLOEXEC | O_NOCTTY, 0);
	}
	io_uring_sqe_set_data(s, t);
}

/* The next step of a file read, or its end. */
static void read_step(struct worker *w, struct ptask *t, int res)
{
	struct io_uring_sqe *s;
	if (t->step == S_CLOSE) {
		finish(w->b, t, t->res < 0 ? t->res : res < 0 ? res : 0);
		return;
	}
	if (t->step == S_OPEN && res < 0) {
		finish(w->b, t, res);
		return;
	}
	if (!(s = sqe_get(&w->ring))) {
		if (t->step == S_READ)
			close(t->fd); /* no SQE for the close: close it here rather than leak it */
		finish(w->b, t, -EBUSY);
		return;
	}
	if (t->step == S_OPEN) {
		t->fd = res;
		t->step = S_READ;
		io_uring_prep_read(s, t->fd, t->buf, BK_FLEET_BLOCK, 0);
	} else {
		t->res = res < 0 ? res : res != BK_FLEET_BLOCK ? -EIO : 0;
		t->step = S_CLOSE;
		io_uring_prep_close(s, t->fd);
	}
	io_uring_sqe_set_data(s, t);
}

/* Handle every completion waiting on the ring; <0 if the wake-up read broke. */
static int reap(struct worker *w)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	int r = 0;
	io_uring_for_each_cqe(&w->ring, head, cqe)
	{
		n++;
		if (cqe->user_data == TAG_WAKE) {
			if (cqe->res < 0 || (r = arm_wake(w)) < 0)
				r = cqe->res < 0 ? cqe->res : r;
			continue;
		}
		struct ptask *t = io_uring_cqe_get_data(cqe);
		if (t->kind == K_SLEEP)
			finish(w->b, t, cqe->res == -ETIME ? 0 : cqe->res < 0 ? cqe->res : 0);
		else
			read_step(w, t, cqe->res);
	}
	io_uring_cq_advance(&w->ring, n);
	return r;
}

static int ring_init(struct io_uring *r)
{
	/* Only the worker uses its ring: let the kernel run completions in its context. */
	int e = io_uring_queue_init(RING_ENTRIES, r, IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
	if (e == -EINVAL)
		e = io_uring_queue_init(RING_ENTRIES, r, 0);
	return e;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	/* A single-issuer ring belongs to the thread that creates it: this one. */
	int e = ring_init(&w->ring);
	w->ring_ok = e == 0;
	if (e == 0)
		e = arm_wake(w);
	pthread_mutex_lock(&w->b->mu);
	w->init = e < 0 ? e : 1;
	pthread_cond_broadcast(&w->b->cv);
	pthread_mutex_unlock(&w->b->mu);
	if (e < 0)
		return NULL;
	while (e >= 0) {
		pthread_mutex_lock(&w->mu);
		struct ptask *list = w->head;
		w->head = NULL;
		w->tailp = &w->head;
		int stop = w->stop && !list;
		w->parked = !list && !stop; /* from here on, a submitter must write our eventfd */
		pthread_mutex_unlock(&w->mu);
		if (stop)
			break;
		for (struct ptask *t = list, *next; t; t = next) {
			next = t->next; /* the task may be finished (and reused by the app) inside task_start */
			task_start(w, t);
		}
		e = io_uring_submit_and_wait(&w->ring, list ? 0 : 1);
		if (e == -EINTR || e == -ETIME)
			e = 0;
		if (e >= 0)
			e = reap(w);
	}
	if (e < 0) {
		pthread_mutex_lock(&w->b->mu);
		w->b->fatal = e;
		pthread_cond_broadcast(&w->b->cv);
		pthread_mutex_unlock(&w->b->mu);
	}
	return NULL;
}

static int worker_init(struct bk_fleet_backend *b, struct worker *w, unsigned i)
{
	w->b = b;
	w->tailp = &w->head;
	w->efd = -1;
	int e = pthread_mutex_init(&w->mu, NULL);
	if (e)
		return -e;
	if ((w->efd = eventfd(0, EFD_CLOEXEC)) < 0)
		return -errno;
	if ((e = pthread_create(&w->th, NULL, worker_main, w)))
		return -e;
	pthread_mutex_lock(&b->mu);
	while (!w->init)
		pthread_cond_wait(&b->cv, &b->mu); /* the worker always reports (it does nothing that blocks first) */
	e = w->init;
	pthread_mutex_unlock(&b->mu);
	if (e < 0) {
		pthread_join(w->th, NULL);
		return e;
	}
	w->running = 1;
	char name[16];
	snprintf(name, sizeof(name), "fleet-w%u", i % 1000u); /* a thread name has 15 bytes */
	pthread_setname_np(w->th, name);
	return 0;
}

static int wake(struct worker *w)
{
	uint64_t one = 1;
	return write(w->efd, &one, sizeof(one)) == (ssize_t)sizeof(one) ? 0 : -errno;
}

void bk_fleet_backend_close(struct bk_fleet_backend *b)
{
	if (!b)
		return;
	for (unsigned i = 0; i < b->nw; i++) {
		struct worker *w = &b->w[i];
		if (w->running) {
			pthread_mutex_lock(&w->mu);
			w->stop = 1;
			pthread_mutex_unlock(&w->mu);
			if (wake(w) == 0) /* an unwoken worker would keep the join waiting forever */
				pthread_join(w->th, NULL);
		}
		if (w->ring_ok)
			io_uring_queue_exit(&w->ring);
		if (w->efd >= 0)
			close(w->efd);
	}
	EVP_MD_free(b->md);
	free(b->w);
	free(b);
}

int bk_fleet_backend_open(const char *file, const unsigned char *block, const char *socket,
			  struct bk_fleet_backend **out, char *err, size_t errlen)
{
	(void)socket;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct bk_fleet_backend *b = calloc(1, sizeof(*b));
	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	b->file = file;
	b->block = block;
	b->nw = cpus < 1 ? 1 : cpus > MAX_WORKERS ? MAX_WORKERS : (unsigned)cpus;
	pthread_condattr_t ca;
	int e = pthread_condattr_init(&ca);
	if (!e)
		e = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (!e)
		e = pthread_cond_init(&b->cv, &ca);
	if (!e)
		e = pthread_mutex_init(&b->mu, NULL);
	pthread_condattr_destroy(&ca);
	e = -e;
	b->md = e ? NULL : EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!e && (!b->md || sha256(b->md, block, b->want_digest) < 0)) {
		snprintf(err, errlen, "OpenSSL has no working SHA-256");
		free(b);
		return -ENOSYS;
	}
	unsigned made = 0;
	if (!e && !(b->w = calloc(b->nw, sizeof(*b->w))))
		e = -ENOMEM;
	for (; !e && made < b->nw; made++)
		e = worker_init(b, &b->w[made], made);
	if (e < 0) {
		snprintf(err, errlen, "starting worker %u of %u: %s", made, b->nw, strerror(-e));
		b->nw = made;
		bk_fleet_backend_close(b);
		return e;
	}
	*out = b;
	return 0;
}

/* Hand the tick's tasks to the workers, round robin, one queue append and at most one wake-up per worker. */
static int post(struct bk_fleet_backend *b)
{
	for (unsigned k = 0; k < b->nw && k < BK_FLEET_TASKS; k++) {
		struct worker *w = &b->w[(b->rr + k) % b->nw];
		struct ptask *head = NULL, **tail = &head;
		for (unsigned i = k; i < BK_FLEET_TASKS; i += b->nw) {
			*tail = &b->t[i];
			tail = &b->t[i].next;
		}
		*tail = NULL;
		pthread_mutex_lock(&w->mu);
		*w->tailp = head;
		w->tailp = tail;
		int parked = w->parked;
		w->parked = 0;
		pthread_mutex_unlock(&w->mu);
		int e = parked ? wake(w) : 0;
		if (e < 0)
			return e;
	}
	b->rr += BK_FLEET_TASKS;
	return 0;
}

static int check(const struct bk_fleet_backend *b, const struct ptask *t, char *err, size_t errlen)
{
	static const char *const names[] = { "timer sleep", "sha256", "file read" };
	if (t->status < 0) {
		snprintf(err, errlen, "%s failed: %s", names[t->kind], strerror(-t->status));
		return t->status;
	}
	if ((t->kind == K_HASH && memcmp(t->digest, b->want_digest, 32)) ||
	    (t->kind == K_READ && memcmp(t->buf, b->block, BK_FLEET_BLOCK))) {
		snprintf(err, errlen, "%s returned wrong bytes", names[t->kind]);
		return -EIO;
	}
	return 0;
}

int bk_fleet_backend_tick(struct bk_fleet_backend *b, char *err, size_t errlen)
{
	for (unsigned i = 0; i < BK_FLEET_TASKS; i++) {
		struct ptask *t = &b->t[i];
		t->kind = i < BK_FLEET_SLEEPS ? K_SLEEP : i < BK_FLEET_SLEEPS + BK_FLEET_HASHES ? K_HASH : K_READ;
		t->done = 0;
		t->status = 0;
		t->res = 0;
	}
	int e = post(b);
	if (e < 0) {
		snprintf(err, errlen, "waking a worker: %s", strerror(-e));
		return e; /* tasks already queued are still owned by the workers: the app exits */
	}
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += BK_FLEET_TASK_TIMEOUT_NS / 1000000000LL;
	pthread_mutex_lock(&b->mu);
	for (unsigned i = 0; i < BK_FLEET_TASKS && !e; i++) {
		while (!b->t[i].done && !b->fatal && !e) {
			b->waiting = &b->t[i];
			e = -pthread_cond_timedwait(&b->cv, &b->mu, &dl);
			if (e == -ETIMEDOUT && b->t[i].done)
				e = 0; /* it completed just as the time ran out */
		}
		if (b->fatal)
			e = b->fatal;
	}
	b->waiting = NULL;
	pthread_mutex_unlock(&b->mu);
	if (e < 0) {
		snprintf(err, errlen, "%s", e == -ETIMEDOUT ? "a task did not complete within 5 s" : strerror(-e));
		return e;
	}
	for (unsigned i = 0; i < BK_FLEET_TASKS; i++)
		if ((e = check(b, &b->t[i], err, errlen)) < 0)
			return e;
	return 0;
}
