// SPDX-License-Identifier: MIT
/*
 * ring_fixture.h - one region with both sides attached in one process, for
 * the single-threaded ring tests: the client side through ring.h's producer
 * and consumer, the broker side through bkd_conn_rings.
 */
#ifndef BK_RING_FIXTURE_H
#define BK_RING_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "broker/ring.h"
#include "conn_rings.h"
#include "region.h"

struct fix {
	struct bkd_region r;
	struct bkd_conn_rings cr;
	struct bk_sq_producer sqp;
	struct bk_cq_consumer cqc;
};

static inline void fix_open(struct fix *f, uint32_t sq, uint32_t slots, uint32_t start)
{
	struct bk_geometry g = { .sq_entries = sq, .nslots = slots, .slot_inline = 64, .large_size = 4096 };
	struct bkd_region_params p = { .max_large = 1 << 20, .ring_start = start, .conn_id = 1, .epoch = 7 };
	char err[256];
	memset(f, 0, sizeof(*f));
	int r = bkd_region_create(&g, &p, &f->r, err, sizeof(err));
	if (r < 0)
		fail_msg("bkd_region_create: %d %s", r, err);
	assert_int_equal(bkd_conn_rings_init(&f->cr, &f->r.v, start), 0);
	bk_sq_producer_init(&f->sqp, f->r.v.sq_ctl, f->r.v.sq, f->r.v.geo.sq_entries);
	bk_cq_consumer_init(&f->cqc, f->r.v.cq_ctl, f->r.v.cq, f->r.v.geo.cq_entries);
}

static inline void fix_close(struct fix *f)
{
	bkd_conn_rings_fini(&f->cr);
	bkd_region_destroy(&f->r);
}

static inline struct bk_sqe fix_call(uint32_t slot, uint32_t gen)
{
	return (struct bk_sqe){ .op = BK_OP_CALL, .fn = 3, .slot = slot, .gen = gen, .arg_off = slot * 64,
				.arg_len = 16, .res_off = slot * 64 + 16, .res_cap = 48 };
}

static inline void fix_submit(struct fix *f, const struct bk_sqe *e, uint32_t n)
{
	assert_true(bk_sq_producer_space(&f->sqp) >= n);
	for (uint32_t i = 0; i < n; i++)
		bk_sq_producer_write(&f->sqp, i, &e[i]);
	bk_sq_producer_publish(&f->sqp, n);
}

#endif /* BK_RING_FIXTURE_H */
