// SPDX-License-Identifier: MIT
/*
 * test_region_layout.c - the client refuses regions it cannot trust:
 * another build's layout hash (BK_ELAYOUT) or ABI major (BK_EVERSION), with a
 * message naming both versions; bad magic, an unsealed memfd, and wrong
 * sizes, geometry or offsets (BK_EBADREGION).  A good region maps and its
 * view matches what the broker created.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/mman.h>

#include "broker/client.h"
#include "ring_fixture.h"
#include "region_map.h"

static void make(struct bkd_region *r)
{
	struct bk_geometry g = { .sq_entries = 64, .nslots = 32, .slot_inline = 128, .large_size = 8192 };
	struct bkd_region_params p = { .max_large = 1 << 20, .ring_start = 0, .conn_id = 9, .epoch = 42 };
	char err[256];
	if (bkd_region_create(&g, &p, r, err, sizeof(err)) < 0)
		fail_msg("bkd_region_create: %s", err);
}

static int map_err(int fd, char *err, size_t len)
{
	struct bk_region_view v;
	int r = bkc_region_map(fd, &v, err, len);
	if (r == 0)
		bkc_region_unmap(&v);
	return r;
}

static void test_good_region_maps(void **state)
{
	(void)state;
	struct bkd_region r;
	make(&r);
	struct bk_region_view v;
	char err[256] = "";
	int rc = bkc_region_map(r.fd, &v, err, sizeof(err));
	if (rc != 0)
		fail_msg("map: %d %s", rc, err);
	assert_int_equal(v.size, r.v.size);
	assert_memory_equal(&v.geo, &r.v.geo, sizeof(v.geo));
	assert_memory_equal(&v.layout, &r.v.layout, sizeof(v.layout));
	assert_int_equal(v.hdr->conn_id, 9);
	assert_int_equal(v.hdr->broker_epoch, 42);
	/* A second view of the same memory: what one side writes, the other reads. */
	atomic_store(&r.v.sq_ctl->tail, 5);
	assert_int_equal(atomic_load(&v.sq_ctl->tail), 5);
	bkc_region_unmap(&v);
	bkd_region_destroy(&r);
}

static void test_other_layout_hash(void **state)
{
	(void)state;
	struct bkd_region r;
	make(&r);
	r.v.hdr->layout_hash ^= 0x10;
	char err[256] = "", mine[32], theirs[32];
	assert_int_equal(map_err(r.fd, err, sizeof(err)), BK_ELAYOUT);
	snprintf(mine, sizeof(mine), "%016" PRIx64, (uint64_t)BK_LAYOUT_HASH);
	snprintf(theirs, sizeof(theirs), "%016" PRIx64, (uint64_t)BK_LAYOUT_HASH ^ 0x10);
	print_message("  %s\n", err);
	assert_non_null(strstr(err, mine));
	assert_non_null(strstr(err, theirs));
	bkd_region_destroy(&r);
}

static void test_other_abi_major(void **state)
{
	(void)state;
	struct bkd_region r;
	make(&r);
	r.v.hdr->abi_major = BK_ABI_MAJOR + 1;
	r.v.hdr->abi_minor = 7;
	char err[256] = "", mine[16], theirs[16];
	assert_int_equal(map_err(r.fd, err, sizeof(err)), BK_EVERSION);
	snprintf(mine, sizeof(mine), "%u.%u", BK_ABI_MAJOR, BK_ABI_MINOR);
	snprintf(theirs, sizeof(theirs), "%u.7", BK_ABI_MAJOR + 1);
	print_message("  %s\n", err);
	assert_non_null(strstr(err, mine));
	assert_non_null(strstr(err, theirs));
	/* A different minor alone is compatible. */
	r.v.hdr->abi_major = BK_ABI_MAJOR;
	assert_int_equal(map_err(r.fd, err, sizeof(err)), 0);
	bkd_region_destroy(&r);
}

static void test_bad_magic(void **state)
{
	(void)state;
	struct bkd_region r;
	make(&r);
	atomic_store(&r.v.hdr->magic, 0x12345678);
	char err[256] = "";
	assert_int_equal(map_err(r.fd, err, sizeof(err)), BK_EBADREGION);
	assert_non_null(strstr(err, "magic"));
	/* An unpublished region (magic still 0) is refused the same way. */
	atomic_store(&r.v.hdr->magic, 0);
	assert_int_equal(map_err(r.fd, err, sizeof(err)), BK_EBADREGION);
	bkd_region_destroy(&r);
}

static void test_unsealed(void **state)
{
	(void)state;
	struct bkd_region r;
	make(&r);
	/* The same bytes in a memfd nobody sealed: the broker could shrink it under us. */
	int fd = memfd_create("unsealed", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)r.v.size), 0);
	assert_int_equal(pwrite(fd, r.v.base, r.v.size, 0), (ssize_t)r.v.size);
	char err[256] = "";
	assert_int_equal(map_err(fd, err, sizeof(err)), BK_EBADREGION);
	assert_non_null(strstr(err, "sealed"));
	close(fd);
	/* Sealed after all: accepted (shows the refusal was about the seal alone). */
	fd = memfd_create("sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)r.v.size), 0);
	assert_int_equal(pwrite(fd, r.v.base, r.v.size, 0), (ssize_t)r.v.size);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), 0);
	assert_int_equal(map_err(fd, err, sizeof(err)), 0);
	close(fd);
	bkd_region_destroy(&r);
}

/* Each header field the client cross-checks, changed alone, is refused as BK_EBADREGION. */
static void test_wrong_sizes_and_offsets(void **state)
{
	(void)state;
	struct {
		const char *what;
		size_t off;
		int width;
		uint64_t delta;
	} cases[] = {
		{ "region_size", offsetof(struct bk_region_hdr, region_size), 8, 4096 },
		{ "sq_entries not a power of two", offsetof(struct bk_region_hdr, sq_entries), 4, 1 },
		{ "sq_entries over the limit", offsetof(struct bk_region_hdr, sq_entries), 4, 1u << 20 },
		{ "cq_entries below nslots", offsetof(struct bk_region_hdr, cq_entries), 4, (uint64_t)-32 },
		{ "nslots", offsetof(struct bk_region_hdr, nslots), 4, 1 },
		{ "slot_inline", offsetof(struct bk_region_hdr, slot_inline), 4, 8 },
		{ "sq_ctl_off", offsetof(struct bk_region_hdr, sq_ctl_off), 8, 64 },
		{ "sq_ring_off", offsetof(struct bk_region_hdr, sq_ring_off), 8, 64 },
		{ "cq_ctl_off", offsetof(struct bk_region_hdr, cq_ctl_off), 8, (uint64_t)-64 },
		{ "cq_ring_off", offsetof(struct bk_region_hdr, cq_ring_off), 8, 32 },
		{ "slots_off", offsetof(struct bk_region_hdr, slots_off), 8, 4096 },
		{ "arena_off", offsetof(struct bk_region_hdr, arena_off), 8, 4096 },
		{ "arena_size", offsetof(struct bk_region_hdr, arena_size), 8, 4096 },
		{ "large_off", offsetof(struct bk_region_hdr, large_off), 8, 4096 },
		{ "large_size", offsetof(struct bk_region_hdr, large_size), 8, 4096 },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bkd_region r;
		make(&r);
		uint8_t *f = (uint8_t *)r.v.hdr + cases[i].off;
		if (cases[i].width == 4) {
			uint32_t x;
			memcpy(&x, f, 4);
			x += (uint32_t)cases[i].delta;
			memcpy(f, &x, 4);
		} else {
			uint64_t x;
			memcpy(&x, f, 8);
			x += cases[i].delta;
			memcpy(f, &x, 8);
		}
		char err[256] = "";
		int rc = map_err(r.fd, err, sizeof(err));
		print_message("  %-32s -> %d %s\n", cases[i].what, rc, err);
		if (rc != BK_EBADREGION)
			fail_msg("%s: got %d (%s), want BK_EBADREGION", cases[i].what, rc, err);
		bkd_region_destroy(&r);
	}
}

/* A mapping smaller than the header, and validate() on memory too short for what the header claims. */
static void test_short(void **state)
{
	(void)state;
	struct bkd_region r;
	make(&r);
	struct bk_region_view v;
	char err[256] = "";
	assert_int_equal(bkc_region_validate(r.v.base, 100, &v, err, sizeof(err)), BK_EBADREGION);
	assert_int_equal(bkc_region_validate(r.v.base, (size_t)r.v.size - 4096, &v, err, sizeof(err)), BK_EBADREGION);
	int fd = memfd_create("tiny", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 64), 0);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), 0);
	assert_int_equal(map_err(fd, err, sizeof(err)), BK_EBADREGION);
	close(fd);
	bkd_region_destroy(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_region_maps),
		cmocka_unit_test(test_other_layout_hash),
		cmocka_unit_test(test_other_abi_major),
		cmocka_unit_test(test_bad_magic),
		cmocka_unit_test(test_unsealed),
		cmocka_unit_test(test_wrong_sizes_and_offsets),
		cmocka_unit_test(test_short),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
