// SPDX-License-Identifier: MIT
/*
 * harness.c - the tests' face of tools/common/brokerd_proc.c: paths from the
 * environment, brokerd tied to the test process, failures explained.
 */
#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "proc_info.h"

#define STOP_TIMEOUT_MS 15000

static int start(struct bkt_brokerd *b, const char *const *extra)
{
	char err[1024];
	int r = bkt_brokerd_start(b, extra, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "harness: %s\n", err);
		bk_test_broker_dump_log(b);
	}
	return r;
}

int bk_test_broker_start(struct bkt_brokerd *b, const char *const *extra)
{
	const char *bin = getenv("BK_BROKERD");
	const char *mods = getenv("BK_MODULE_DIR");
	if (!bin || !mods) {
		fprintf(stderr, "harness: BK_BROKERD and BK_MODULE_DIR must be set\n");
		return -EINVAL;
	}
	/* A test that dies (crash, failed assertion without teardown) must not leave brokerd behind. */
	int r = bkt_brokerd_init(b, bin, mods, BKT_BROKERD_DIE_WITH_PARENT);
	if (r < 0)
		return r;
	return start(b, extra);
}

int bk_test_broker_restart(struct bkt_brokerd *b, const char *const *extra)
{
	if (b->pid > 0)
		return -EBUSY;
	return start(b, extra);
}

int bk_test_broker_stop(struct bkt_brokerd *b)
{
	int r = bkt_brokerd_stop(b, STOP_TIMEOUT_MS);
	if (r == -ETIMEDOUT) {
		fprintf(stderr, "harness: brokerd ignored SIGTERM for %d s\n", STOP_TIMEOUT_MS / 1000);
		bk_test_broker_dump_log(b);
	}
	return r;
}

void bk_test_broker_kill(struct bkt_brokerd *b)
{
	bkt_brokerd_kill(b);
}

int bk_test_broker_fd_count(const struct bkt_brokerd *b)
{
	return bkt_proc_fd_count(b->pid);
}

long bk_test_broker_rss_kib(const struct bkt_brokerd *b)
{
	return bkt_proc_rss_kib(b->pid);
}

void bk_test_broker_dump_log(const struct bkt_brokerd *b)
{
	FILE *f = fopen(b->log, "re");
	if (!f)
		return;
	char line[512];
	fprintf(stderr, "---- brokerd log (%s) ----\n", b->log);
	while (fgets(line, sizeof(line), f))
		fputs(line, stderr);
	fprintf(stderr, "---- end of brokerd log ----\n");
	fclose(f);
}

void bk_test_broker_cleanup(struct bkt_brokerd *b)
{
	bkt_brokerd_cleanup(b, 0);
}
