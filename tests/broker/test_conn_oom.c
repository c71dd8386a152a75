// SPDX-License-Identifier: MIT
/*
 * test_conn_oom.c - brokerd's connection setup under fault injection
 * (tests/common/failalloc.h): for N = 0, 1, 2, ... the N-th allocation,
 * descriptor or mapping made while a HELLO is handled fails; every such
 * failure must end in a clean refusal (or no reply at all), and freeing the
 * connection afterwards must give back every byte, mapping and descriptor.
 * The sweep ends when setup succeeds with nothing failed.
 *
 * The code under test runs on this thread, called directly: bkd_conn_new,
 * bkd_request_handle (hello checks, bkd_conn_prepare: region, eventfd, ring
 * tables, task table; the reply with its descriptors; bkd_conn_start) and
 * bkd_conn_free.  The one worker is an inbox with no thread: the test takes
 * the connection back from it, as the control thread would get it back.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/sys.h"
#include "broker/wire.h"
#include "conn.h"
#include "failalloc.h"
#include "requests.h"
#include "worker.h"

#define MAX_STEPS 200

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own fd */
}

static void broker_init(struct bkd_broker *b, struct bkd_worker *w, bool futex)
{
	memset(b, 0, sizeof(*b));
	memset(w, 0, sizeof(*w));
	b->opt.max_large = 1ull << 20;
	b->epoch = 42;
	b->sq_futex = futex;
	b->workers = w;
	b->nworkers = 1;
	assert_int_equal(bkd_inbox_init(&w->inbox), 0);
}

/* What the client got: the reply's status, 1 when there was none (nothing queued, or the broker side of
 * the socket is already closed); received fds are closed. */
static int read_reply(int sock)
{
	struct bk_msg_hello_reply r;
	int fds[4], nfds = 0;
	ssize_t n = bk_recv_fds(sock, &r, sizeof(r), fds, 4, &nfds);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (n == -EAGAIN || n == 0)
		return 1;
	assert_int_equal(n, (ssize_t)sizeof(r));
	assert_int_equal(r.h.type, BK_MSG_HELLO_REPLY);
	if (r.status == 0)
		assert_int_equal(nfds, r.features & BK_FEAT_SQ_EVENTFD ? 2 : 1);
	else
		assert_int_equal(nfds, 0);
	return r.status;
}

/* One HELLO with allocations failing after `after` of them; true once setup succeeded untouched. */
static bool one_step(struct bkd_broker *b, struct bkd_worker *w, unsigned long after, bool with_efd, int base_fds)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	struct bk_msg_hello m = {
		.h = { .magic = BK_WIRE_MAGIC, .type = BK_MSG_HELLO, .len = sizeof(m), .seq = 7 },
		.abi_major = BK_ABI_MAJOR,
		.abi_minor = BK_ABI_MINOR,
		.flags = with_efd ? BK_HELLO_EVENTFD : 0,
		.layout_hash = BK_LAYOUT_HASH,
	};
	int fds[1] = { -1 };
	int nfds = 0;
	if (with_efd) {
		fds[0] = eventfd(0, EFD_CLOEXEC);
		assert_true(fds[0] >= 0);
		nfds = 1;
	}
	struct failalloc_stats st;
	failalloc_arm(FAILALLOC_EVERYTHING, after);
	struct bkd_conn *c = bkd_conn_new(b, sv[0]);
	int r = -ENOMEM;
	if (c)
		r = bkd_request_handle(b, c, &m, sizeof(m), fds, nfds);
	failalloc_disarm(&st);
	if (!c) {
		/* bkd_conn_new failed: the caller (the control loop) closes the socket and any descriptor. */
		close(sv[0]);
		if (nfds)
			close(fds[0]);
	}
	bool started = c && c->state == BKD_CONN_ACTIVE;
	if (started) {
		/* The connection went to the (thread-less) worker: take it back as the control thread would. */
		struct bkd_inbox_item *it = bkd_inbox_take(&w->inbox);
		assert_non_null(it);
		assert_ptr_equal(it->ptr, c);
		assert_null(it->next);
		atomic_store(&w->nconns, 0);
		assert_int_equal(r, 0);
	}
	int status = read_reply(sv[1]);
	if (started)
		assert_int_equal(status, 0);
	else if (c)
		assert_true(status < 0 || status == 1); /* a refusal, or none if the reply itself failed */
	bkd_conn_free(c);
	close(sv[1]);
	/* Everything the step took is back: memory, mappings, descriptors. */
	assert_int_equal(failalloc_live_allocs(), 0);
	assert_int_equal(failalloc_live_maps(), 0);
	assert_int_equal(count_fds(), base_fds);
	return started && st.failed == 0;
}

static void sweep(bool futex, bool with_efd)
{
	struct bkd_broker b;
	struct bkd_worker w;
	broker_init(&b, &w, futex);
	int base_fds = count_fds();
	unsigned long n = 0;
	bool done = false;
	for (; n < MAX_STEPS && !done; n++)
		done = one_step(&b, &w, n, with_efd, base_fds);
	assert_true(done);
	assert_true(n > 4); /* the sweep went through several failure points before succeeding */
	print_message("  setup succeeded after %lu failure points\n", n - 1);
	bkd_inbox_fini(&w.inbox);
}

static void test_futex_mode(void **state)
{
	(void)state;
	sweep(true, false);
}

static void test_eventfd_mode_with_client_efd(void **state)
{
	(void)state;
	sweep(false, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_futex_mode),
		cmocka_unit_test(test_eventfd_mode_with_client_efd),
	};
	return cmocka_run_group_tests_name("brokerd connection setup under fault injection", tests, NULL, NULL);
}
