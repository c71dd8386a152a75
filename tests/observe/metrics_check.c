// SPDX-License-Identifier: MIT
/*
 * metrics_check.c - the Prometheus text format checker (metrics_check.h).
 */
#include "metrics_check.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FAMILIES 256

struct family {
	char name[128];
	char type[16];
};

struct state {
	struct family fam[MAX_FAMILIES];
	int nfam;
	/* the histogram series being read: its labels without le, last bucket */
	char series[512];
	double last_le, last_bucket;
	bool in_hist, saw_inf;
	double inf_count;
	int lineno;
	char *why;
	size_t whylen;
	struct metrics_found *found;
};

__attribute__((format(printf, 2, 3))) static int bad(struct state *s, const char *fmt, ...)
{
	int n = snprintf(s->why, s->whylen, "line %d: ", s->lineno);
	va_list ap;
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < s->whylen)
		vsnprintf(s->why + n, s->whylen - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool name_char(char c, bool first, bool label)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!label && c == ':'))
		return true;
	return !first && c >= '0' && c <= '9';
}

/* Length of the name at p, 0 if none. */
static size_t name_len(const char *p, bool label)
{
	size_t n = 0;
	while (name_char(p[n], n == 0, label))
		n++;
	return n;
}

static struct family *family_of(struct state *s, const char *name, size_t len)
{
	for (int i = 0; i < s->nfam; i++) {
		size_t fl = strlen(s->fam[i].name);
		if (len < fl || strncmp(name, s->fam[i].name, fl))
			continue;
		const char *rest = name + fl;
		size_t rl = len - fl;
		if (rl == 0)
			return &s->fam[i];
		bool hist = !strcmp(s->fam[i].type, "histogram"), summ = !strcmp(s->fam[i].type, "summary");
		if ((hist && rl == 7 && !strncmp(rest, "_bucket", 7)) || ((hist || summ) && rl == 4 && !strncmp(rest, "_sum", 4)) ||
		    ((hist || summ) && rl == 6 && !strncmp(rest, "_count", 6)))
			return &s->fam[i];
	}
	return NULL;
}

static int comment(struct state *s, const char *l)
{
	if (strncmp(l, "# HELP ", 7) && strncmp(l, "# TYPE ", 7))
		return 0; /* any other comment is allowed */
	const char *n = l + 7;
	size_t len = name_len(n, false);
	if (!len || n[len] != ' ')
		return bad(s, "bad metric name in '%s'", l);
	if (l[2] == 'H')
		return 0;
	static const char *const types[] = {"counter", "gauge", "histogram", "summary", "untyped"};
	const char *t = n + len + 1;
	bool ok = false;
	for (size_t i = 0; i < 5; i++)
		ok |= !strcmp(t, types[i]);
	if (!ok)
		return bad(s, "unknown type '%s'", t);
	if (family_of(s, n, len) || s->nfam == MAX_FAMILIES || len >= sizeof(s->fam[0].name))
		return bad(s, "TYPE repeated or too many families");
	memcpy(s->fam[s->nfam].name, n, len);
	s->fam[s->nfam].name[len] = 0;
	snprintf(s->fam[s->nfam].type, sizeof(s->fam[0].type), "%s", t);
	s->nfam++;
	s->found->families++;
	return 0;
}

/* Labels {a="x",b="y"} at p: the end after '}', le's value into le (NaN if none), the rest into series. */
static const char *labels(const char *p, double *le, char *series, size_t cap)
{
	size_t o = 0;
	*le = NAN;
	p++;
	while (*p != '}') {
		size_t len = name_len(p, true);
		if (!len || p[len] != '=' || p[len + 1] != '"')
			return NULL;
		bool is_le = len == 2 && !strncmp(p, "le", 2);
		const char *v = p + len + 2, *q = v;
		while (*q && *q != '"') {
			if (*q == '\\' && !strchr("\\\"n", q[1]))
				return NULL;
			q += *q == '\\' ? 2 : 1;
		}
		if (*q != '"')
			return NULL;
		if (is_le) {
			char *end;
			*le = !strncmp(v, "+Inf\"", 5) ? INFINITY : strtod(v, &end);
			if (!isinf(*le) && end != q)
				return NULL;
		} else if (o + (size_t)(q - p) + 2 < cap) {
			memcpy(series + o, p, (size_t)(q - p + 1));
			o += (size_t)(q - p + 1);
		}
		p = q + 1;
		if (*p == ',')
			p++;
		else if (*p != '}')
			return NULL;
	}
	series[o] = 0;
	return p + 1;
}

static int bucket(struct state *s, const char *series, double le, double v)
{
	if (isnan(le))
		return bad(s, "bucket without le");
	if (!s->in_hist || strcmp(series, s->series)) {
		s->in_hist = true;
		s->saw_inf = false;
		snprintf(s->series, sizeof(s->series), "%s", series);
		s->last_le = -INFINITY;
		s->last_bucket = 0;
	}
	if (le <= s->last_le || v < s->last_bucket)
		return bad(s, "buckets not increasing (le %g after %g, %g after %g)", le, s->last_le, v, s->last_bucket);
	s->last_le = le;
	s->last_bucket = v;
	if (isinf(le)) {
		s->saw_inf = true;
		s->inf_count = v;
	}
	return 0;
}

static int sample(struct state *s, const char *l)
{
	size_t len = name_len(l, false);
	if (!len)
		return bad(s, "not a sample: '%s'", l);
	struct family *f = family_of(s, l, len);
	if (!f)
		return bad(s, "sample before its TYPE: '%.*s'", (int)len, l);
	const char *p = l + len;
	double le = NAN;
	char series[512] = "";
	if (*p == '{' && !(p = labels(p, &le, series, sizeof(series))))
		return bad(s, "bad labels in '%s'", l);
	if (*p++ != ' ')
		return bad(s, "no value in '%s'", l);
	char *end;
	double v = strtod(p, &end);
	if (end == p || (*end && *end != ' '))
		return bad(s, "bad value in '%s'", l);
	s->found->samples++;
	bool hist = !strcmp(f->type, "histogram");
	if (hist && !strncmp(l + len - 7, "_bucket", 7))
		return bucket(s, series, le, v);
	if (hist && !strncmp(l + len - 6, "_count", 6)) {
		if (!s->in_hist || !s->saw_inf || strcmp(series, s->series) || v != s->inf_count)
			return bad(s, "_count %g does not match the +Inf bucket", v);
		s->in_hist = false;
		s->found->histograms++;
	}
	if (!strcmp(f->type, "counter") && v < 0)
		return bad(s, "negative counter");
	return 0;
}

int metrics_check(const char *text, struct metrics_found *found, char *why, size_t whylen)
{
	struct state *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	memset(found, 0, sizeof(*found));
	s->why = why;
	s->whylen = whylen;
	s->found = found;
	int r = 0;
	for (const char *l = text; *l && r == 0;) {
		const char *nl = strchr(l, '\n');
		s->lineno++;
		if (!nl) {
			r = bad(s, "last line without a newline");
			break;
		}
		char line[1024];
		size_t n = (size_t)(nl - l);
		if (n >= sizeof(line)) {
			r = bad(s, "line too long");
			break;
		}
		memcpy(line, l, n);
		line[n] = 0;
		r = line[0] == '#' ? comment(s, line) : n == 0 ? 0 : sample(s, line);
		l = nl + 1;
	}
	free(s);
	return r;
}
