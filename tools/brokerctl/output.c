// SPDX-License-Identifier: MIT
/*
 * output.c - aligned tables and JSON string escaping for brokerctl.
 */
#include "output.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void table_init(struct table *t, int ncols, const char *const *head, const int *right)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	for (int i = 0; i < ncols; i++) {
		t->head[i] = head[i];
		t->right[i] = right ? right[i] : 0;
	}
}

int table_add(struct table *t, const char *const *vals)
{
	if (t->rows == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 16;
		char **n = realloc(t->cells, nc * (size_t)t->ncols * sizeof(char *));
		if (!n)
			return -1;
		t->cells = n;
		t->cap = nc;
	}
	for (int i = 0; i < t->ncols; i++) {
		char *s = strdup(vals[i] ? vals[i] : "");
		if (!s)
			return -1;
		t->cells[t->rows * (size_t)t->ncols + (size_t)i] = s;
	}
	t->rows++;
	return 0;
}

void table_print(const struct table *t)
{
	size_t w[TABLE_MAX_COLS];
	for (int i = 0; i < t->ncols; i++) {
		w[i] = strlen(t->head[i]);
		for (size_t r = 0; r < t->rows; r++) {
			size_t l = strlen(t->cells[r * (size_t)t->ncols + (size_t)i]);
			if (l > w[i])
				w[i] = l;
		}
	}
	for (size_t r = 0; r <= t->rows; r++) {
		for (int i = 0; i < t->ncols; i++) {
			const char *s = r == 0 ? t->head[i] : t->cells[(r - 1) * (size_t)t->ncols + (size_t)i];
			int last = i == t->ncols - 1;
			if (t->right[i])
				printf("%*s%s", (int)w[i], s, last ? "" : "  ");
			else if (last)
				printf("%s", s);
			else
				printf("%-*s  ", (int)w[i], s);
		}
		printf("\n");
	}
}

void table_free(struct table *t)
{
	for (size_t i = 0; i < t->rows * (size_t)t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->rows = t->cap = 0;
}

void json_str(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p == '\n')
			printf("\\n");
		else if (*p == '\t')
			printf("\\t");
		else if (*p < 0x20 || *p >= 0x7f) /* keeps the output valid JSON whatever the broker sent */
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}
