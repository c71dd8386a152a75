// SPDX-License-Identifier: MIT
/*
 * output.h - brokerctl's two output forms: aligned text tables and JSON
 * (with proper string escaping), written to stdout.
 */
#ifndef BROKERCTL_OUTPUT_H
#define BROKERCTL_OUTPUT_H

#include <stddef.h>

#define TABLE_MAX_COLS 16

struct table {
	int ncols;
	const char *head[TABLE_MAX_COLS];
	int right[TABLE_MAX_COLS]; /* numbers align right */
	char **cells; /* rows * ncols strings */
	size_t rows, cap;
};

void table_init(struct table *t, int ncols, const char *const *head, const int *right);
/* Append one row; printf-style formats are applied by the caller (use table_add). */
int table_add(struct table *t, const char *const *vals);
void table_print(const struct table *t);
void table_free(struct table *t);

/* JSON string literal (quoted, escaped) to stdout. */
void json_str(const char *s);

#endif
