// SPDX-License-Identifier: MIT
/*
 * access.h - which callers may use a module (--module-access
 * MODULE=RULE; docs/SECURITY.md, "Per-module access").  RULE is a
 * comma-separated list of "all", "uid:N" and "gid:N" (primary or
 * supplementary group); several flags for one module add up.  A module
 * without a rule is open to every admitted client.  The check runs at
 * lookup (-EACCES) and again for every task, since function ids are small
 * numbers a client can guess without a lookup.
 */
#ifndef BROKER_ACCESS_H
#define BROKER_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "creds.h"

#define BKD_ACCESS_MAX_IDS 64u /* uids, and gids, per module */

struct bkd_access_rule {
	char module[32];
	bool all;
	unsigned nuids, ngids;
	uid_t uids[BKD_ACCESS_MAX_IDS];
	gid_t gids[BKD_ACCESS_MAX_IDS];
};

struct bkd_access {
	unsigned n;
	struct bkd_access_rule rules[];
};

/* Check one MODULE=RULE flag value: 0, or -EINVAL with the reason in err. */
int bkd_access_check_arg(const char *arg, char *err, size_t errlen);

/* The table of n flag values (already checked).  0 or -errno; *out is NULL when n is 0. */
int bkd_access_create(const char *const *args, unsigned n, struct bkd_access **out);
void bkd_access_destroy(struct bkd_access *a);

/* The rule of the module named by the first len bytes of name, or NULL (open to all).  a may be NULL. */
const struct bkd_access_rule *bkd_access_find(const struct bkd_access *a, const char *name, size_t len);

/* c may use a module with rule r (NULL: yes). */
static inline bool bkd_access_allows(const struct bkd_access_rule *r, const struct bkd_caller *c)
{
	if (!r || r->all)
		return true;
	for (unsigned i = 0; i < r->nuids; i++)
		if (r->uids[i] == c->uid)
			return true;
	for (unsigned i = 0; i < r->ngids; i++)
		if (bkd_caller_in_group(c, r->gids[i]))
			return true;
	return false;
}

#endif /* BROKER_ACCESS_H */
