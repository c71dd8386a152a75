// SPDX-License-Identifier: MIT
/*
 * testmod.h - the state of the loader test modules (testmod.c), which the
 * tests reach through bkd_fn_ref.state to count fini calls.
 */
#ifndef BK_TESTMOD_H
#define BK_TESTMOD_H

#define TM_STATE_MAGIC 0x746d6f64u

struct tm_state {
	unsigned magic;
	int version;
	int calls;
	int *fini_counter; /* set by a test: fini increments it */
};

#endif /* BK_TESTMOD_H */
