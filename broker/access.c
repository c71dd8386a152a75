// SPDX-License-Identifier: MIT
/*
 * access.c - parse --module-access flags into per-module rules (access.h).
 */
#include "access.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool valid_module(const char *s, size_t n)
{
	if (n == 0 || n >= sizeof(((struct bkd_access_rule *)0)->module))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

static int parse_id(const char *s, size_t n, unsigned long *out)
{
	if (n == 0 || n > 10)
		return -EINVAL;
	unsigned long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v >= UINT32_MAX)
		return -EINVAL; /* (uid_t)-1 means "no id" to the kernel */
	*out = v;
	return 0;
}

/* One item of a rule ("all", "uid:N", "gid:N") added to r. */
static int add_item(struct bkd_access_rule *r, const char *s, size_t n, char *err, size_t errlen)
{
	unsigned long v;
	if (n == 3 && memcmp(s, "all", 3) == 0) {
		r->all = true;
		return 0;
	}
	bool uid = n > 4 && memcmp(s, "uid:", 4) == 0;
	bool gid = n > 4 && memcmp(s, "gid:", 4) == 0;
	if ((!uid && !gid) || parse_id(s + 4, n - 4, &v) < 0) {
		snprintf(err, errlen, "'%.*s' is not all, uid:N or gid:N", (int)n, s);
		return -EINVAL;
	}
	unsigned *cnt = uid ? &r->nuids : &r->ngids;
	if (*cnt >= BKD_ACCESS_MAX_IDS) {
		snprintf(err, errlen, "at most %u %s entries per module", BKD_ACCESS_MAX_IDS, uid ? "uid" : "gid");
		return -EINVAL;
	}
	if (uid)
		r->uids[(*cnt)++] = (uid_t)v;
	else
		r->gids[(*cnt)++] = (gid_t)v;
	return 0;
}

/* MODULE=RULE into r (whose module name must be empty or the same). */
static int parse_into(const char *arg, struct bkd_access_rule *r, char *err, size_t errlen)
{
	const char *eq = strchr(arg, '=');
	if (!eq || !valid_module(arg, (size_t)(eq - arg))) {
		snprintf(err, errlen, "'%s' is not MODULE=RULE with a module name of [a-z0-9_]", arg);
		return -EINVAL;
	}
	size_t mlen = (size_t)(eq - arg);
	if (r->module[0] && (strlen(r->module) != mlen || memcmp(r->module, arg, mlen) != 0))
		return -EINVAL;
	memcpy(r->module, arg, mlen);
	r->module[mlen] = 0;
	const char *p = eq + 1;
	if (!*p) {
		snprintf(err, errlen, "'%s' has an empty RULE (all, uid:N, gid:N, comma-separated)", arg);
		return -EINVAL;
	}
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		int rc = add_item(r, p, n, err, errlen);
		if (rc < 0)
			return rc;
		p += n;
		if (*p == ',' && !*++p) {
			snprintf(err, errlen, "'%s' ends with a comma", arg);
			return -EINVAL;
		}
	}
	return 0;
}

int bkd_access_check_arg(const char *arg, char *err, size_t errlen)
{
	struct bkd_access_rule r;
	memset(&r, 0, sizeof(r));
	return parse_into(arg, &r, err, errlen);
}

int bkd_access_create(const char *const *args, unsigned n, struct bkd_access **out)
{
	*out = NULL;
	if (n == 0)
		return 0;
	struct bkd_access *a = calloc(1, sizeof(*a) + n * sizeof(struct bkd_access_rule));
	if (!a)
		return -ENOMEM;
	char err[128];
	for (unsigned i = 0; i < n; i++) {
		const char *eq = strchr(args[i], '=');
		const struct bkd_access_rule *have = eq ? bkd_access_find(a, args[i], (size_t)(eq - args[i])) : NULL;
		struct bkd_access_rule *r = have ? (struct bkd_access_rule *)have : &a->rules[a->n++];
		if (parse_into(args[i], r, err, sizeof(err)) < 0) {
			free(a);
			return -EINVAL;
		}
	}
	*out = a;
	return 0;
}

void bkd_access_destroy(struct bkd_access *a)
{
	free(a);
}

const struct bkd_access_rule *bkd_access_find(const struct bkd_access *a, const char *name, size_t len)
{
	if (!a)
		return NULL;
	for (unsigned i = 0; i < a->n; i++)
		if (strlen(a->rules[i].module) == len && memcmp(a->rules[i].module, name, len) == 0)
			return &a->rules[i];
	return NULL;
}
