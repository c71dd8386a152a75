// SPDX-License-Identifier: MIT
/*
 * cluster_opts.c - brokerd's --cluster and --node flags (docs/CLUSTER.md),
 * checked here so that a bad value is refused before anything starts.  A
 * node name becomes one token of NATS subjects: letters, digits, '_' and '-'.
 */
#include <stdio.h>
#include <string.h>

#include "cluster_iface.h"
#include "options.h"

static bool node_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > BKD_CLUSTER_NODE_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
		      ch == '-'))
			return false;
	}
	return true;
}

int bkd_options_cluster(struct bkd_options *o, bool node, const char *arg)
{
	if (node) {
		if (!node_name_ok(arg)) {
			fprintf(stderr, "brokerd: --node needs 1 to %u letters, digits, '_' or '-', got '%s'\n",
				BKD_CLUSTER_NODE_MAX, arg);
			return 2;
		}
		o->node = arg;
		return 0;
	}
	if (strncmp(arg, "nats://", 7) != 0 || !arg[7] || strlen(arg) > 255) {
		fprintf(stderr, "brokerd: --cluster needs a URL nats://HOST:PORT, got '%s'\n", arg);
		return 2;
	}
	o->cluster_url = arg;
	return 0;
}
