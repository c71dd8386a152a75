// SPDX-License-Identifier: MIT
/*
 * test_admin.c - who may change what brokerd runs (docs/SECURITY.md):
 * load, unload and upgrade need root, brokerd's uid or --admin-gid (a
 * supplementary group counts) and brokerctl says so; a module file that is
 * group- or world-writable, in such a folder, owned by someone else, or a
 * link into such a folder is refused even for root, and its constructor
 * never runs (the cred module's constructor creates a marker file);
 * --module-access keeps a module from the callers its rule does not name,
 * at lookup and for a function id used without one.  The tests need root.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "mu_util.h"

#define ADMIN_GID 4242

static const struct mu_ids nobody = { .uid = MU_NOBODY, .gid = MU_NOBODY };
static const struct mu_ids grouped = { .uid = MU_OTHER, .gid = MU_OTHER, .ngroups = 1, .groups = { ADMIN_GID } };

struct ctx {
	const char *socket;
	const char *module; /* a module file to try to load */
	bk_fn guessed; /* a function id the caller never looked up */
};

static int nobody_not_admin(void *arg)
{
	const struct ctx *x = arg;
	char msg[256];
	const char *want = "permission denied: load needs root or group 4242";
	int r = mu_ctl(x->socket, BK_MSG_LOAD, x->module, msg, sizeof(msg));
	MU_CHECK(r == -EPERM && strcmp(msg, want) == 0, 1, "load gave %d '%s'", r, msg);
	r = mu_ctl(x->socket, BK_MSG_UNLOAD, "echo", msg, sizeof(msg));
	MU_CHECK(r == -EPERM && strstr(msg, "unload needs root or group 4242"), 2, "unload gave %d '%s'", r, msg);
	/* An upgrade is a load of a module that is loaded already. */
	char echo[512];
	snprintf(echo, sizeof(echo), "%s/echo.so", getenv("BK_MODULE_DIR"));
	r = mu_ctl(x->socket, BK_MSG_LOAD, echo, msg, sizeof(msg));
	MU_CHECK(r == -EPERM, 3, "upgrade of echo gave %d '%s'", r, msg);
	/* Nothing changed for anyone. */
	bk_client *c;
	char why[256], out[32];
	MU_CHECK(mu_connect(x->socket, &c, why, sizeof(why)) == 0, 4, "connect: %s", why);
	MU_CHECK(mu_call(c, "echo.upper", "still", out, sizeof(out)) == 0 && strcmp(out, "STILL") == 0, 5, "echo");
	MU_CHECK(mu_call(c, "cred.whoami", "", out, sizeof(out)) == -ENOENT, 6, "cred was loaded");
	bk_disconnect(c);
	return MU_OK;
}

static int group_member_is_admin(void *arg)
{
	const struct ctx *x = arg;
	char msg[256];
	int r = mu_ctl(x->socket, BK_MSG_UNLOAD, "hash", msg, sizeof(msg));
	MU_CHECK(r == 0, 1, "unload by a member of --admin-gid gave %d '%s'", r, msg);
	return MU_OK;
}

static void test_admin_operations(void **state)
{
	(void)state;
	struct bkt_brokerd b;
	const char *const extra[] = { "--allow-uid", "65534", "--allow-uid", "65533", "--admin-gid", "4242", NULL };
	/* The cred module is not loaded at start here: mu_start loads it, so start plainly with an open socket. */
	const char *const flags[] = { "--socket-mode", "0666", extra[0], extra[1], extra[2], extra[3], extra[4],
				      extra[5], NULL };
	bt_start(&b, flags);
	assert_int_equal(chmod(b.dir, 0711), 0);
	struct ctx x = { .socket = b.socket, .module = getenv("BK_CREDMOD") };
	assert_int_equal(mu_run_as(&nobody, nobody_not_admin, &x), MU_OK);
	assert_true(bt_log_count(&b, "uid 65534): load") > 0);
	/* brokerctl as nobody: exit 1 with the reason. */
	char out[1024];
	const char *const load[] = { "--socket", b.socket, "load", x.module, NULL };
	assert_int_equal(mu_brokerctl(&nobody, load, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "permission denied: load needs root or group 4242"));
	assert_int_equal(mu_run_as(&grouped, group_member_is_admin, &x), MU_OK);
	/* Root may load. */
	assert_int_equal(mu_brokerctl(NULL, load, out, sizeof(out)), 0);
	bk_client *c = bt_connect(b.socket);
	char res[64];
	assert_int_equal(mu_call(c, "cred.whoami", "", res, sizeof(res)), 0);
	assert_int_equal(mu_call(c, "hash.sha256", "x", res, sizeof(res)), -ENOENT);
	bk_disconnect(c);
	assert_int_equal(bk_test_broker_stop(&b), 0);
	bk_test_broker_cleanup(&b);
}

/* ---- module file checks ---------------------------------------------------------- */

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* Root loads path: it must be refused with a message containing want, and the constructor must not run. */
static void refused(const char *socket, const char *path, const char *want, const char *marker)
{
	char msg[256];
	int r = mu_ctl(socket, BK_MSG_LOAD, path, msg, sizeof(msg));
	if (r != -EPERM || !strstr(msg, want))
		fail_msg("load of %s gave %d '%s', want -EPERM and '%s'", path, r, msg, want);
	assert_false(exists(marker));
}

static void test_module_file_checks(void **state)
{
	(void)state;
	char dir[] = "/tmp/bk-modcheck-XXXXXX", open_dir[64], file[64], other[96], link[64], marker[64];
	assert_non_null(mkdtemp(dir));
	snprintf(open_dir, sizeof(open_dir), "%s/open", dir);
	snprintf(file, sizeof(file), "%s/cred.so", dir);
	snprintf(other, sizeof(other), "%s/cred.so", open_dir);
	snprintf(link, sizeof(link), "%s/link.so", dir);
	snprintf(marker, sizeof(marker), "%s/constructor-ran", dir);
	assert_int_equal(mkdir(open_dir, 0700), 0);
	assert_int_equal(setenv("BK_TEST_CTOR_MARKER", marker, 1), 0); /* brokerd inherits it */
	struct bkt_brokerd b;
	bt_start(&b, NULL);
	const char *mod = getenv("BK_CREDMOD");

	bt_copy_file(mod, file, 0664);
	refused(b.socket, file, "the file is writable by its group", marker);
	assert_int_equal(chmod(file, 0646), 0);
	refused(b.socket, file, "the file is writable by others", marker);
	assert_int_equal(chmod(file, 0644), 0);
	assert_int_equal(chown(file, MU_NOBODY, MU_NOBODY), 0);
	refused(b.socket, file, "the file is not owned by root or by brokerd's uid", marker);
	assert_int_equal(chown(file, 0, 0), 0);
	/* A safe file in a folder anyone may write to (and so swap the file in). */
	bt_copy_file(mod, other, 0644);
	assert_int_equal(chmod(open_dir, 0757), 0);
	refused(b.socket, other, "its folder", marker);
	/* A link from a safe folder to that file: the target's folder counts. */
	assert_int_equal(symlink(other, link), 0);
	refused(b.socket, link, "open is writable by others", marker);
	assert_int_equal(bt_log_count(&b, "load /tmp/bk-modcheck-"), 5); /* each refusal logged */

	/* The same file, safe: it loads and its constructor runs (so the marker does tell). */
	char msg[256];
	assert_int_equal(mu_ctl(b.socket, BK_MSG_LOAD, file, msg, sizeof(msg)), 0);
	assert_true(exists(marker));
	assert_int_equal(bk_test_broker_stop(&b), 0);
	bk_test_broker_cleanup(&b);
	unsetenv("BK_TEST_CTOR_MARKER");
	unlink(marker);
	unlink(link);
	unlink(other);
	unlink(file);
	rmdir(open_dir);
	rmdir(dir);
}

/* ---- --module-access --------------------------------------------------------------- */

static int lookups_of(void *arg)
{
	const struct ctx *x = arg;
	bk_client *c;
	char why[256];
	MU_CHECK(mu_connect(x->socket, &c, why, sizeof(why)) == 0, 1, "connect: %s", why);
	bk_fn fn;
	int r = bk_lookup(c, "hash.sha256", &fn);
	MU_CHECK(r == -EACCES, 2, "lookup of hash.sha256 gave %d, want -EACCES", r);
	/* The id root was given, used without a lookup: refused per task too. */
	bk_future *f = NULL;
	MU_CHECK(bk_submit(c, x->guessed, "abc", 3, &f) == 0, 3, "submit");
	MU_CHECK(bk_wait(f, 10 * BT_SEC) == 0, 4, "wait");
	r = bk_result(f, NULL, NULL);
	bk_release(f);
	MU_CHECK(r == -EACCES, 5, "a call of the guessed id completed with %d, want -EACCES", r);
	/* echo is limited to a group nobody is not in; cred is open to all. */
	char out[32];
	r = mu_call(c, "echo.upper", "a", out, sizeof(out));
	MU_CHECK(r == (getuid() == MU_OTHER ? 0 : -EACCES), 6, "echo.upper gave %d", r);
	MU_CHECK(mu_call(c, "cred.whoami", "", out, sizeof(out)) == 0, 7, "cred.whoami");
	/* Refused as fast as it asks: the log is not the client's to fill (checked by the parent). */
	for (int i = 0; i < 200; i++)
		MU_CHECK(bk_lookup(c, "hash.sha256", &fn) == -EACCES, 8, "lookup %d", i);
	bk_disconnect(c);
	return MU_OK;
}

static void test_module_access(void **state)
{
	(void)state;
	struct bkt_brokerd b;
	const char *const extra[] = { "--allow-uid", "65534", "--allow-uid", "65533", "--module-access", "hash=uid:0",
				      "--module-access", "echo=gid:4242,uid:0", NULL };
	mu_start(&b, extra);
	bk_client *c = bt_connect(b.socket);
	struct ctx x = { .socket = b.socket, .guessed = bt_lookup(c, "hash.sha256") };
	char out[64];
	assert_int_equal(mu_call(c, "hash.sha256", "abc", out, sizeof(out)), 0);
	assert_int_equal(mu_run_as(&nobody, lookups_of, &x), MU_OK);
	assert_int_equal(mu_run_as(&grouped, lookups_of, &x), MU_OK);
	/* 400 refused lookups and a few more: logged at 20 lines a second at most, the rest counted. */
	int logged = bt_log_count(&b, "refused by --module-access");
	assert_true(bt_log_count(&b, "uid 65534): lookup of hash.sha256 refused by --module-access") > 0);
	if (logged < 20 || logged > 20 * 5)
		fail_msg("%d refusals logged", logged);
	assert_int_equal(mu_call(c, "echo.upper", "a", out, sizeof(out)), 0);
	bk_disconnect(c);
	assert_int_equal(bk_test_broker_stop(&b), 0);
	bk_test_broker_cleanup(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_admin_operations, mu_need_root),
		cmocka_unit_test_setup(test_module_file_checks, mu_need_root),
		cmocka_unit_test_setup(test_module_access, mu_need_root),
	};
	return cmocka_run_group_tests_name("administration, module files and module access", tests, NULL, NULL);
}
