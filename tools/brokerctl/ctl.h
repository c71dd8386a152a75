// SPDX-License-Identifier: MIT
/*
 * ctl.h - what brokerctl's subcommand files share with brokerctl.c: the
 * context of one run, paged listings, and the table of subcommands that
 * live in files of their own (stats, top, metrics, trace), each of which
 * parses the arguments after its name itself.
 */
#ifndef BROKERCTL_CTL_H
#define BROKERCTL_CTL_H

#include <stddef.h>
#include <stdint.h>

#include "client_internal.h"
#include "control.h"

struct ctx {
	struct bkc_ctl k;
	const char *sock;
	int json;
	uint16_t reply_flags; /* bk_msg_hdr.flags of the last listing page (BK_STATS_OFF) */
	char err[512];
};

/* Fetch every page of a paged listing (MODULES, CLIENTS, FN_STATS, ...) into *out (malloc'd), *count records. */
int fetch_list(struct ctx *x, uint16_t type, uint16_t reply, size_t recsz, void **out, uint32_t *count);
/* Connect to x->sock (brokerctl.c), with the message brokerctl prints when no brokerd answers. */
int ctl_connect(struct ctx *x);
/* "1h02m03s"-style age. */
void fmt_dur(char *buf, size_t n, uint64_t ns);

struct ctl_cmd {
	const char *name;
	const char *usage; /* full `COMMAND --help` text */
	const char *summary; /* one line (after two spaces and the name) for brokerctl --help */
	/* argv[0] is the command; parses the rest, then ctl_connect(); returns 0, a negative code (x->err
	 * says why; brokerctl exits 1) or 2 (bad usage, already reported) */
	int (*run)(struct ctx *x, int argc, char **argv);
};

extern const struct ctl_cmd ctl_cmd_stats, ctl_cmd_top, ctl_cmd_metrics, ctl_cmd_trace;

#endif /* BROKERCTL_CTL_H */
