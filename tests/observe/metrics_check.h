// SPDX-License-Identifier: MIT
/*
 * metrics_check.h - a small checker of the Prometheus text exposition
 * format (0.0.4), since promtool is not in Debian: comment lines, metric and
 * label names, escaped label values, numeric values, a TYPE before a
 * family's samples, and histograms whose buckets are cumulative, end with
 * le="+Inf" and agree with their _count.
 */
#ifndef BK_METRICS_CHECK_H
#define BK_METRICS_CHECK_H

#include <stddef.h>

struct metrics_found {
	int samples;
	int families;
	int histograms; /* histogram series checked */
};

/* 0 when text is well formed, else -EINVAL with the line and the reason in why. */
int metrics_check(const char *text, struct metrics_found *found, char *why, size_t whylen);

#endif /* BK_METRICS_CHECK_H */
