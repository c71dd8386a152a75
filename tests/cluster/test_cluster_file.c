// SPDX-License-Identifier: MIT
/*
 * test_cluster_file.c - brokerd-cluster.so is checked as a module file is
 * before dlopen runs its constructors (docs/SECURITY.md, "Loading
 * modules"): a copy writable by its group or by others, or in a folder
 * others may write to, stops brokerd --cluster with the reason; the same
 * copy made safe is loaded.  No NATS server is needed: the URL names a
 * port nothing listens on, and a node keeps running while NATS is down;
 * such a node also stops promptly on SIGTERM.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../broker/bt_util.h"

static const char *const cluster_args[] = {"--cluster", "nats://127.0.0.1:9", "--node", "filecheck", "--grace-ms", "500",
					   NULL};

/* brokerd --cluster with $BROKER_CLUSTER_SO = path must exit at start-up, logging want. */
static void refused(const char *path, const char *want)
{
	assert_int_equal(setenv("BROKER_CLUSTER_SO", path, 1), 0); /* brokerd inherits it */
	struct bkt_brokerd b;
	memset(&b, 0, sizeof(b));
	assert_int_equal(bkt_brokerd_init(&b, getenv("BK_BROKERD"), getenv("BK_MODULE_DIR"), BKT_BROKERD_DIE_WITH_PARENT),
			 0);
	char err[2048];
	int r = bkt_brokerd_start(&b, cluster_args, err, sizeof(err));
	if (r == 0) {
		/* Its socket listens before the cluster starts: the readiness probe may be answered first. */
		if (bt_log_wait(&b, want, 10 * BT_SEC) < 0) {
			bk_test_broker_dump_log(&b);
			fail_msg("brokerd with %s did not log '%s'", path, want);
		}
		r = bkt_brokerd_stop(&b, 10000);
		if (r != 1)
			fail_msg("brokerd with %s ended with %d, want exit status 1", path, r);
	} else if (r != -ECHILD || !strstr(err, want)) {
		fail_msg("brokerd with %s gave %d, want -ECHILD and '%s' in its log: %s", path, r, want, err);
	}
	bkt_brokerd_cleanup(&b, 0);
}

static void test_cluster_object_checked(void **state)
{
	(void)state;
	const char *so = getenv("BK_CLUSTER_SO");
	assert_non_null(so);
	char dir[] = "/tmp/bk-clusterso-XXXXXX", open_dir[64], file[64], other[96];
	assert_non_null(mkdtemp(dir));
	snprintf(open_dir, sizeof(open_dir), "%s/open", dir);
	snprintf(file, sizeof(file), "%s/brokerd-cluster.so", dir);
	snprintf(other, sizeof(other), "%s/brokerd-cluster.so", open_dir);
	assert_int_equal(mkdir(open_dir, 0700), 0);

	bt_copy_file(so, file, 0664);
	refused(file, "the file is writable by its group");
	assert_int_equal(chmod(file, 0646), 0);
	refused(file, "the file is writable by others");
	bt_copy_file(so, other, 0644);
	assert_int_equal(chmod(open_dir, 0757), 0);
	refused(other, "its folder");

	/* The first copy, safe now: loaded, so the node runs (and says so) while NATS is down. */
	assert_int_equal(chmod(file, 0644), 0);
	assert_int_equal(setenv("BROKER_CLUSTER_SO", file, 1), 0);
	struct bkt_brokerd b;
	bt_start(&b, cluster_args); /* its socket accepts before the cluster starts: the log line is awaited */
	if (bt_log_wait(&b, "cluster node filecheck on nats://127.0.0.1:9", 10 * BT_SEC) < 0) {
		bk_test_broker_dump_log(&b);
		fail_msg("brokerd did not log that it loaded %s and started the cluster node", file);
	}
	/* SIGTERM while NATS is down: over within the grace period and a margin (a flush waited 10 s). */
	assert_int_equal(bkt_brokerd_stop(&b, 5000), 0);
	bk_test_broker_cleanup(&b);
	unsetenv("BROKER_CLUSTER_SO");
	unlink(other);
	unlink(file);
	rmdir(open_dir);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cluster_object_checked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
