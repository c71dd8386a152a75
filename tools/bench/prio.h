// SPDX-License-Identifier: MIT
/* prio.h - broker-bench --priority: interactive round trips beside a bulk flood (prio.c). */
#ifndef BK_BENCH_PRIO_H
#define BK_BENCH_PRIO_H

#include <stdint.h>

struct bk_prio_opts {
	const char *brokerd, *moddir;
	uint64_t samples; /* 0: the default (50000, --quick 2000) */
	int json, quick, quiet;
};

/* Run the three phases and print the table (or JSON); the exit status. */
int bk_prio_main(const struct bk_prio_opts *o);

#endif
