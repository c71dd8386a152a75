// SPDX-License-Identifier: MIT
/*
 * test_attack_handshake.c - hostile handshakes: a descriptor passed as the
 * client's eventfd that is not one (a socket that never drains, a pipe, a
 * memfd) is refused with -EINVAL and a reason, and brokerd keeps no
 * descriptor of it; a geometry whose sizes would wrap when rounded
 * (large_size = UINT64_MAX and its neighbours) is refused, never turned
 * into a small region.  docs/ARCHITECTURE.md, "Wake-ups" and "Small by
 * default".
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "attack_util.h"

static void still_serves(const char *socket)
{
	bk_client *c = bt_connect(socket);
	char out[8];
	size_t n = 0;
	assert_int_equal(bt_call(c, bt_lookup(c, "echo.upper"), "ok", 2, out, sizeof(out), &n), 0);
	assert_memory_equal(out, "OK", 2);
	bk_disconnect(c);
}

static void refused_fd(const struct bkt_brokerd *b, int fd, const char *what)
{
	char why[256] = "";
	int st = at_raw_hello(b->socket, NULL, fd, why, sizeof(why), NULL);
	printf("%s as the eventfd: status %d, \"%s\"\n", what, st, why);
	assert_int_equal(st, -EINVAL);
	assert_non_null(strstr(why, "not an eventfd"));
}

static void test_fake_eventfd(void **state)
{
	(void)state;
	struct bkt_brokerd b;
	bt_start(&b, NULL);
	still_serves(b.socket);
	uint32_t fds0 = at_settled_fds(b.socket);

	/* A socket the broker's writes would fill, then block on (the attack's choice). */
	int sp[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	for (int i = 0; i < AT_SCALE(200, 10); i++)
		refused_fd(&b, sp[0], "a socket");
	int pp[2];
	assert_int_equal(pipe2(pp, O_CLOEXEC), 0);
	refused_fd(&b, pp[1], "a pipe");
	int mfd = memfd_create("fake", MFD_CLOEXEC);
	assert_true(mfd >= 0);
	refused_fd(&b, mfd, "a memfd");

	/* A real one is taken. */
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(efd >= 0);
	int sock = -1;
	assert_int_equal(at_raw_hello(b.socket, NULL, efd, NULL, 0, &sock), 0);
	close(sock);

	assert_int_equal(at_settled_fds(b.socket), fds0);
	still_serves(b.socket);
	assert_int_equal(bt_log_count(&b, "not an eventfd") <= 20, 1); /* refusals are rate-limited */
	close(sp[0]);
	close(sp[1]);
	close(pp[0]);
	close(pp[1]);
	close(mfd);
	close(efd);
	assert_int_equal(bk_test_broker_stop(&b), 0);
	bk_test_broker_cleanup(&b);
}

/* The shared clamp, on both sides of every limit. */
static void test_geometry_edges(void **state)
{
	(void)state;
	struct bk_geometry out;
	const uint64_t wrap[] = { UINT64_MAX, UINT64_MAX - 1, UINT64_MAX - BK_PAGE + 1, UINT64_MAX - BK_PAGE,
				  (uint64_t)BK_ARENA_MAX + 1, (uint64_t)1 << 63, (uint64_t)UINT32_MAX + 1 };
	for (size_t i = 0; i < sizeof(wrap) / sizeof(wrap[0]); i++) {
		struct bk_geometry g = { .large_size = wrap[i] };
		assert_int_equal(bk_geometry_clamp(&g, UINT64_MAX, &out), -22);
		assert_int_equal(bk_geometry_clamp(&g, BK_ARENA_MAX, &out), -22);
	}
	/* Entries, slots and inline sizes beyond their limits, UINT32_MAX included. */
	const struct bk_geometry bad[] = {
		{ .sq_entries = UINT32_MAX }, { .cq_entries = UINT32_MAX }, { .nslots = UINT32_MAX },
		{ .slot_inline = UINT32_MAX }, { .sq_entries = BK_RING_MAX + 1 }, { .nslots = BK_SLOTS_MAX + 1 },
		/* Inline area plus large area over the arena: refused, not shrunk. */
		{ .nslots = BK_SLOTS_MAX, .slot_inline = BK_INLINE_MAX, .large_size = BK_PAGE },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(bk_geometry_clamp(&bad[i], BK_ARENA_MAX, &out), -22);
	/* The largest large area that fits is granted whole, and the layout does not wrap. */
	struct bk_geometry g = { .nslots = 1, .slot_inline = 64, .large_size = BK_ARENA_MAX - BK_PAGE };
	assert_int_equal(bk_geometry_clamp(&g, BK_ARENA_MAX, &out), 0);
	assert_int_equal(out.large_size, BK_ARENA_MAX - BK_PAGE);
	struct bk_layout l;
	bk_layout_compute(&out, &l);
	assert_true(l.arena_size <= BK_ARENA_MAX && l.region_size > l.arena_size);
	/* A size one short of a page is rounded up, within the cap. */
	g.large_size = BK_PAGE - 1;
	assert_int_equal(bk_geometry_clamp(&g, BK_ARENA_MAX, &out), 0);
	assert_int_equal(out.large_size, BK_PAGE);
}

/* The same over the wire: brokerd refuses, keeps nothing, and serves on. */
static void test_geometry_hello(void **state)
{
	(void)state;
	struct bkt_brokerd b;
	bt_start(&b, NULL);
	still_serves(b.socket);
	uint32_t fds0 = at_settled_fds(b.socket);
	const uint64_t sizes[] = { UINT64_MAX, UINT64_MAX - BK_PAGE + 1, (uint64_t)BK_ARENA_MAX + 1 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct bk_geometry g = { .large_size = sizes[i] };
		char why[256] = "";
		int st = at_raw_hello(b.socket, &g, -1, why, sizeof(why), NULL);
		printf("large_size %#llx: status %d, \"%s\"\n", (unsigned long long)sizes[i], st, why);
		assert_true(st < 0);
	}
	assert_int_equal(at_settled_fds(b.socket), fds0);
	still_serves(b.socket);
	assert_int_equal(bk_test_broker_stop(&b), 0);
	bk_test_broker_cleanup(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fake_eventfd),
		cmocka_unit_test(test_geometry_edges),
		cmocka_unit_test(test_geometry_hello),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
