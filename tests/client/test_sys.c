// SPDX-License-Identifier: MIT
/*
 * test_sys.c - the shared low-level helpers of include/broker/sys.h: fds
 * over SOCK_SEQPACKET (round trip, surplus fds closed, truncated data or
 * control closing everything, hang-up, empty queue, no SIGPIPE), the default
 * socket path and the clock.
 *
 * Whether a descriptor was closed is observed without races: the same pipe
 * write end is sent several times, and the pipe's read end sees EOF only
 * once every copy of the write end in this process is closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/sys.h"

struct fixture {
	int sp[2]; /* SOCK_SEQPACKET pair: [0] sends, [1] receives */
	int pipe_r, pipe_w; /* pipe_w is what travels; pipe_r is non-blocking */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, f->sp), 0);
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	f->pipe_r = p[0];
	f->pipe_w = p[1];
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	close(f->sp[0]);
	close(f->sp[1]);
	close(f->pipe_r);
	if (f->pipe_w >= 0)
		close(f->pipe_w);
	free(f);
	return 0;
}

/* Close our own write end; afterwards EOF on the read end means no copy is left open. */
static void drop_own_write_end(struct fixture *f)
{
	assert_int_equal(close(f->pipe_w), 0);
	f->pipe_w = -1;
}

static void assert_all_write_ends_closed(const struct fixture *f)
{
	char c;
	/* -1/EAGAIN here would mean a received copy of the write end is still open. */
	assert_int_equal(read(f->pipe_r, &c, 1), 0);
}

static void send_write_end(struct fixture *f, int copies, const char *msg, size_t len)
{
	int fds[BK_SYS_MAX_FDS];
	for (int i = 0; i < copies; i++)
		fds[i] = f->pipe_w;
	assert_int_equal(bk_send_fds(f->sp[0], msg, len, fds, copies), (ssize_t)len);
}

static void test_roundtrip(void **state)
{
	struct fixture *f = *state;
	send_write_end(f, 2, "hello", 5);
	char buf[16];
	int fds[2] = {-1, -1}, nfds = -1;
	assert_int_equal(bk_recv_fds(f->sp[1], buf, sizeof(buf), fds, 2, &nfds), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(nfds, 2);
	for (int i = 0; i < 2; i++) {
		assert_true(fds[i] >= 0 && fds[i] != f->pipe_w);
		assert_true(fcntl(fds[i], F_GETFD) & FD_CLOEXEC); /* MSG_CMSG_CLOEXEC */
	}
	/* They are the pipe's write end: a byte written through one arrives. */
	assert_int_equal(write(fds[1], "x", 1), 1);
	char c = 0;
	assert_int_equal(read(f->pipe_r, &c, 1), 1);
	assert_int_equal(c, 'x');
	close(fds[0]);
	close(fds[1]);
	drop_own_write_end(f);
	assert_all_write_ends_closed(f);
}

static void test_surplus_fds_closed(void **state)
{
	struct fixture *f = *state;
	send_write_end(f, 5, "five", 4);
	char buf[16];
	int fds[2] = {-1, -1}, nfds = -1;
	assert_int_equal(bk_recv_fds(f->sp[1], buf, sizeof(buf), fds, 2, &nfds), 4);
	assert_int_equal(nfds, 2);
	close(fds[0]);
	close(fds[1]);
	drop_own_write_end(f);
	assert_all_write_ends_closed(f); /* the three beyond maxfds were closed by bk_recv_fds */
}

static void test_no_room_for_fds(void **state)
{
	struct fixture *f = *state;
	send_write_end(f, 3, "none", 4);
	char buf[16];
	/* A receiver that takes no descriptors (fds NULL, nfds NULL) gets the data; every fd is closed. */
	assert_int_equal(bk_recv_fds(f->sp[1], buf, sizeof(buf), NULL, 0, NULL), 4);
	drop_own_write_end(f);
	assert_all_write_ends_closed(f);
}

static void test_truncated_data(void **state)
{
	struct fixture *f = *state;
	char big[200];
	memset(big, 'b', sizeof(big));
	send_write_end(f, 2, big, sizeof(big));
	char small[16];
	int fds[2] = {-1, -1}, nfds = -1;
	assert_int_equal(bk_recv_fds(f->sp[1], small, sizeof(small), fds, 2, &nfds), -EMSGSIZE);
	assert_int_equal(nfds, 0);
	assert_int_equal(fds[0], -1); /* nothing handed out on failure */
	drop_own_write_end(f);
	assert_all_write_ends_closed(f);
	/* The datagram was consumed whole: the queue is empty now. */
	assert_int_equal(bk_recv_fds(f->sp[1], small, sizeof(small), NULL, 0, NULL), -EAGAIN);
}

static void test_truncated_control(void **state)
{
	struct fixture *f = *state;
	/* More fds than BK_SYS_MAX_FDS can only be sent raw: bk_send_fds refuses them. */
	enum { N = BK_SYS_MAX_FDS + 4 };
	int many[N];
	for (int i = 0; i < N; i++)
		many[i] = f->pipe_w;
	assert_int_equal(bk_send_fds(f->sp[0], "x", 1, many, N), -EINVAL);
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(sizeof(int) * N)];
	} u;
	memset(&u, 0, sizeof(u));
	struct iovec iov = {.iov_base = "x", .iov_len = 1};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof(u.b)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * N);
	memcpy(CMSG_DATA(cm), many, sizeof(many));
	assert_int_equal(sendmsg(f->sp[0], &m, MSG_NOSIGNAL), 1);

	char buf[16];
	int fds[BK_SYS_MAX_FDS], nfds = -1;
	assert_int_equal(bk_recv_fds(f->sp[1], buf, sizeof(buf), fds, BK_SYS_MAX_FDS, &nfds), -EMSGSIZE);
	assert_int_equal(nfds, 0);
	drop_own_write_end(f);
	assert_all_write_ends_closed(f); /* those that fit were closed, the kernel dropped the rest */
}

static void test_empty_hangup_and_bad_args(void **state)
{
	struct fixture *f = *state;
	char buf[16];
	int fd = -1, nfds = -1;
	assert_int_equal(bk_recv_fds(f->sp[1], buf, sizeof(buf), &fd, 1, &nfds), -EAGAIN);
	assert_int_equal(nfds, 0);
	assert_int_equal(bk_recv_fds(f->sp[1], buf, sizeof(buf), NULL, 1, NULL), -EINVAL);
	assert_int_equal(bk_send_fds(f->sp[0], "x", 1, NULL, 1), -EINVAL);
	assert_int_equal(bk_send_fds(f->sp[0], "x", 1, &fd, -1), -EINVAL);
	/* A datagram without fds arrives with its length and none counted. */
	assert_int_equal(bk_send_fds(f->sp[0], "abc", 3, NULL, 0), 3);
	assert_int_equal(bk_recv_fds(f->sp[1], buf, sizeof(buf), &fd, 1, &nfds), 3);
	assert_int_equal(nfds, 0);
	/* Peer gone: receive says 0, send says -EPIPE (and SIGPIPE, which would kill us, is not raised). */
	close(f->sp[0]);
	f->sp[0] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0); /* keeps teardown's close valid */
	assert_true(f->sp[0] >= 0);
	assert_int_equal(bk_recv_fds(f->sp[1], buf, sizeof(buf), NULL, 0, NULL), 0);
	assert_int_equal(bk_send_fds(f->sp[1], "x", 1, NULL, 0), -EPIPE);
}

static void test_default_socket_path(void **state)
{
	(void)state;
	char buf[64];
	setenv("BROKER_SOCKET", "/tmp/given.sock", 1);
	setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
	assert_int_equal(bk_default_socket_path(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/tmp/given.sock");
	setenv("BROKER_SOCKET", "", 1); /* empty counts as unset */
	assert_int_equal(bk_default_socket_path(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/run/user/1000/broker.sock");
	unsetenv("BROKER_SOCKET");
	unsetenv("XDG_RUNTIME_DIR");
	assert_int_equal(bk_default_socket_path(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/run/broker/broker.sock");
	/* Exactly fitting (23 chars + NUL in 24) works; one byte less does not. */
	assert_int_equal(bk_default_socket_path(buf, 24), 0);
	assert_int_equal(bk_default_socket_path(buf, 23), -ENAMETOOLONG);
}

static void test_clock(void **state)
{
	(void)state;
	int64_t t0 = bk_now_ns();
	assert_true(t0 > 0);
	struct timespec ts = {0, 2000000};
	while (nanosleep(&ts, &ts) != 0)
		assert_int_equal(errno, EINTR);
	/* CLOCK_MONOTONIC: a sleep of 2 ms advances it by at least that. */
	assert_true(bk_now_ns() - t0 >= 2000000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_surplus_fds_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_room_for_fds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_control, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_hangup_and_bad_args, setup, teardown),
		cmocka_unit_test(test_default_socket_path),
		cmocka_unit_test(test_clock),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
