// SPDX-License-Identifier: MIT
/*
 * top_frame.h - one frame of `brokerctl top` as lines of text that fit a
 * given terminal size (top_frame.c); cmd_top.c draws or prints them.
 */
#ifndef BROKERCTL_TOP_FRAME_H
#define BROKERCTL_TOP_FRAME_H

#include <stddef.h>

#include "snapshot.h"

enum top_sort { SORT_COMPLETED, SORT_SUBMITTED, SORT_INFLIGHT, SORT_P99, SORT_PID, SORT_N };

/* The key that selects each sort, and its name. */
extern const char top_sort_key[SORT_N];
extern const char *const top_sort_name[SORT_N];

struct top_frame {
	char (*line)[256];
	int nlines;
	int cap;
};

/* Lay out now (rates against prev, which may be NULL) in rows x cols; 0 or -ENOMEM. */
int top_frame_build(struct top_frame *f, const struct snapshot *now, const struct snapshot *prev,
		    enum top_sort sort, double interval, int rows, int cols);
void top_frame_free(struct top_frame *f);

#endif /* BROKERCTL_TOP_FRAME_H */
