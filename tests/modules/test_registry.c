// SPDX-License-Identifier: MIT
/*
 * test_registry.c - unit tests of the module registry (broker/loader.c)
 * with the test modules of testmod.c and the recording host of test_host.c:
 * loading, every refusal and its message, id lookup, acquire/release
 * counting, unload while a task is in flight, and upgrade with drain.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "bk_config.h"
#include "broker/loader.h"
#include "test_host.h"
#include "testmod.h"

static int notified;

static void on_notify(void *arg)
{
	int *n = arg;

	(*n)++;
}

static const char *mod_path(const char *file)
{
	static char buf[4][512];
	static int next;
	char *p = buf[next++ % 4];

	snprintf(p, sizeof(buf[0]), "%s/%s", BK_TEST_MODULE_DIR, file);
	return p;
}

static int setup(void **state)
{
	struct bkd_registry *r = NULL;

	notified = 0;
	assert_int_equal(bkd_registry_create(&th_host, on_notify, &notified, &r), 0);
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	bkd_registry_destroy(*state);
	return 0;
}

static void load_ok(struct bkd_registry *r, const char *file)
{
	char err[512] = "";
	int rc = bkd_loader_load(r, mod_path(file), err, sizeof(err));

	if (rc != 0)
		fail_msg("load %s: %d %s", file, rc, err);
}

/* Run one task of ref with arg; the handler must complete synchronously. Returns the status. */
static int call(const struct bkd_fn_ref *ref, const char *arg, char *out, size_t cap, size_t *len)
{
	struct bk_task t;
	int rc;

	th_task_init(&t, arg, strlen(arg), out, cap);
	rc = ref->handler(&t, &th_host, ref->state);
	if (rc < 0) {
		assert_int_equal(t.completions, 0);
		return rc;
	}
	assert_int_equal(rc, BK_TASK_DONE);
	assert_int_equal(t.completions, 1);
	*len = t.len;
	return t.status;
}

static uint32_t lookup(struct bkd_registry *r, const char *name)
{
	uint32_t fn = UINT32_MAX;

	assert_int_equal(bkd_registry_lookup(r, name, &fn), 0);
	return fn;
}

/* The listing record of module name in the given state, or NULL. */
static const struct bk_wire_module *find_listed(struct bkd_registry *r, const char *name, uint32_t st,
						struct bk_wire_module *buf, uint32_t max)
{
	uint32_t total = 0, n = bkd_registry_list(r, buf, 0, max, &total);

	assert_int_equal(n, total < max ? total : max);
	for (uint32_t i = 0; i < n; i++)
		if (strcmp(buf[i].name, name) == 0 && buf[i].state == st)
			return &buf[i];
	return NULL;
}

static void test_good_loads_and_resolves(void **state)
{
	struct bkd_registry *r = *state;
	struct bkd_fn_ref ref;
	struct bk_wire_module w[8];
	const struct bk_wire_module *g;
	char out[16];
	size_t len = 0;
	uint32_t ping, fail, ver;

	load_ok(r, "good.so");
	ping = lookup(r, "good.ping");
	fail = lookup(r, "good.fail");
	ver = lookup(r, "good.version");
	assert_int_not_equal(ping, fail);
	assert_int_not_equal(ping, ver);
	assert_int_not_equal(fail, ver);

	assert_int_equal(bkd_registry_acquire(r, ping, &ref), 0);
	assert_int_equal(ref.fn, ping);
	assert_string_equal(bkd_registry_module_name(&ref), "good");
	assert_non_null(ref.state);
	assert_int_equal(((struct tm_state *)ref.state)->magic, TM_STATE_MAGIC);
	assert_int_equal(call(&ref, "", out, sizeof(out), &len), 0);
	assert_int_equal(len, 4);
	assert_memory_equal(out, "pong", 4);
	bkd_registry_release(r, &ref, 0);

	g = find_listed(r, "good", BK_MODSTATE_ACTIVE, w, 8);
	assert_non_null(g);
	assert_string_equal(g->version, "1.0.0");
	assert_string_equal(g->functions, "ping,fail,version");
	assert_int_equal(g->nfunctions, 3);
	assert_int_equal(g->tasks_done, 1);
	assert_int_equal(g->inflight, 0);
	assert_non_null(strstr(g->path, "good.so"));
	assert_string_equal(bkd_registry_module_name(NULL), "?");
}

struct refusal {
	const char *file;
	int code;
	const char *text;
};

static void test_bad_modules_refused(void **state)
{
	struct bkd_registry *r = *state;
	static const struct refusal cases[] = {
		{ "badabi.so", -EPROTO, "built for module ABI 99, brokerd speaks 1" },
		{ "noentry.so", -ENOEXEC, "no bk_module_entry_v1 symbol" },
		{ "initfail.so", -EPERM, "init of module initfail failed" },
		{ "badname.so", -EINVAL, "bad function name \"Bad-Name\"" },
		{ "dupname.so", -EINVAL, "function dupname.ping is declared twice" },
		{ "smalldesc.so", -EPROTO, "descriptor is 8 bytes" },
		{ "missing.so", -ENOENT, "No such file or directory" },
	};
	static const char *names[] = { "badabi.ping", "noentry.ping", "initfail.ping", "dupname.ping",
				       "dupname.version", "smalldesc.ping" };
	uint32_t fn, total = 99;
	struct bk_wire_module w[2];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[512] = "";
		const char *path = mod_path(cases[i].file);
		int rc = bkd_loader_load(r, path, err, sizeof(err));

		if (rc != cases[i].code || !strstr(err, path) || !strstr(err, cases[i].text) ||
		    strncmp(err, "refusing module ", 16) != 0)
			fail_msg("%s: got %d \"%s\", want %d with \"%s\"", cases[i].file, rc, err, cases[i].code,
				 cases[i].text);
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_int_equal(bkd_registry_lookup(r, names[i], &fn), -ENOENT);
	assert_int_equal(bkd_registry_list(r, w, 0, 2, &total), 0);
	assert_int_equal(total, 0);
	/* A refusal leaves nothing behind: the good module still gets the first ids. */
	load_ok(r, "good.so");
	assert_int_equal(lookup(r, "good.ping"), 0);
	assert_int_equal(notified, 0);
}

static void test_unknown_names(void **state)
{
	struct bkd_registry *r = *state;
	struct bkd_fn_ref ref;
	uint32_t fn = 7;

	assert_int_equal(bkd_registry_lookup(r, "good.ping", &fn), -ENOENT);
	load_ok(r, "good.so");
	assert_int_equal(bkd_registry_lookup(r, "good.nope", &fn), -ENOENT);
	assert_int_equal(bkd_registry_lookup(r, "nope.ping", &fn), -ENOENT);
	assert_int_equal(bkd_registry_lookup(r, "good", &fn), -ENOENT);
	assert_int_equal(bkd_registry_lookup(r, "", &fn), -ENOENT);
	assert_int_equal(bkd_registry_acquire(r, 3, &ref), -ENOENT); /* a free id */
	assert_int_equal(bkd_registry_acquire(r, 4095, &ref), -ENOENT);
	assert_int_equal(bkd_registry_acquire(r, 4096, &ref), -ENOENT);
	assert_int_equal(bkd_registry_acquire(r, UINT32_MAX, &ref), -ENOENT);
	assert_int_equal(bkd_registry_unload(r, "nope", NULL, 0), -ENOENT);
}

static void test_acquire_release_counting(void **state)
{
	struct bkd_registry *r = *state;
	struct bkd_fn_ref refs[3];
	struct bk_wire_module w[4];
	const struct bk_wire_module *g;
	uint32_t ping, fail;

	load_ok(r, "good.so");
	ping = lookup(r, "good.ping");
	fail = lookup(r, "good.fail");
	assert_int_equal(bkd_registry_acquire(r, ping, &refs[0]), 0);
	assert_int_equal(bkd_registry_acquire(r, fail, &refs[1]), 0);
	assert_int_equal(bkd_registry_acquire(r, ping, &refs[2]), 0);
	g = find_listed(r, "good", BK_MODSTATE_ACTIVE, w, 4);
	assert_non_null(g);
	assert_int_equal(g->inflight, 3);
	assert_int_equal(g->tasks_done, 0);

	bkd_registry_release(r, &refs[0], 0);
	bkd_registry_release(r, &refs[1], -EIO);
	g = find_listed(r, "good", BK_MODSTATE_ACTIVE, w, 4);
	assert_int_equal(g->inflight, 1);
	assert_int_equal(g->tasks_done, 2);
	bkd_registry_release(r, &refs[2], 0);
	g = find_listed(r, "good", BK_MODSTATE_ACTIVE, w, 4);
	assert_int_equal(g->inflight, 0);
	assert_int_equal(g->tasks_done, 3);
	/* An active module never drains, so nobody was told to collect. */
	assert_int_equal(notified, 0);
	assert_int_equal(bkd_registry_collect(r), 0);
}

static void test_unload_waits_for_inflight(void **state)
{
	struct bkd_registry *r = *state;
	struct bkd_fn_ref ref, other;
	struct bk_wire_module w[4];
	const struct bk_wire_module *g;
	uint32_t ping, fn;
	int fini = 0;
	char err[256];

	load_ok(r, "good.so");
	ping = lookup(r, "good.ping");
	assert_int_equal(bkd_registry_acquire(r, ping, &ref), 0);
	((struct tm_state *)ref.state)->fini_counter = &fini;

	assert_int_equal(bkd_registry_unload(r, "good", err, sizeof(err)), 0);
	assert_int_equal(bkd_registry_acquire(r, ping, &other), -ENOENT);
	assert_int_equal(bkd_registry_lookup(r, "good.ping", &fn), -ENOENT);
	assert_int_equal(bkd_registry_unload(r, "good", err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "good"));
	g = find_listed(r, "good", BK_MODSTATE_DRAINING, w, 4);
	assert_non_null(g);
	assert_int_equal(g->inflight, 1);
	assert_int_equal(notified, 0);
	assert_int_equal(bkd_registry_collect(r), 0);
	assert_int_equal(fini, 0);

	/* The in-flight task still runs the module's code. */
	{
		char out[8];
		size_t len = 0;

		assert_int_equal(call(&ref, "", out, sizeof(out), &len), 0);
		assert_memory_equal(out, "pong", 4);
	}
	bkd_registry_release(r, &ref, 0);
	assert_int_equal(notified, 1);
	assert_int_equal(bkd_registry_collect(r), 1);
	assert_int_equal(fini, 1);
	assert_int_equal(bkd_registry_collect(r), 0);
	assert_int_equal(fini, 1);
	assert_null(find_listed(r, "good", BK_MODSTATE_DRAINING, w, 4));

	/* Loading it again gives the name its old id back. */
	load_ok(r, "good.so");
	assert_int_equal(lookup(r, "good.ping"), ping);
}

static void test_unload_idle_notifies(void **state)
{
	struct bkd_registry *r = *state;
	struct bkd_fn_ref ref;
	int fini = 0;

	load_ok(r, "good.so");
	assert_int_equal(bkd_registry_acquire(r, lookup(r, "good.ping"), &ref), 0);
	((struct tm_state *)ref.state)->fini_counter = &fini;
	bkd_registry_release(r, &ref, 0);
	assert_int_equal(bkd_registry_unload(r, "good", NULL, 0), 0);
	assert_int_equal(notified, 1);
	assert_int_equal(bkd_registry_collect(r), 1);
	assert_int_equal(fini, 1);
}

static void test_upgrade_drains_old(void **state)
{
	struct bkd_registry *r = *state;
	struct bkd_fn_ref v1ref, ref;
	struct bk_wire_module w[4];
	const struct bk_wire_module *m;
	uint32_t ver, old_only, new_only, fn;
	int fini1 = 0, fini2 = 0;
	char out[8];
	size_t len = 0;

	load_ok(r, "upgrade_v1.so");
	ver = lookup(r, "upgrade.version");
	old_only = lookup(r, "upgrade.old_only");
	assert_int_equal(bkd_registry_acquire(r, ver, &v1ref), 0);
	((struct tm_state *)v1ref.state)->fini_counter = &fini1;
	assert_int_equal(call(&v1ref, "", out, sizeof(out), &len), 0);
	assert_int_equal(len, 1);
	assert_int_equal(out[0], '1');

	load_ok(r, "upgrade_v2.so");
	assert_int_equal(lookup(r, "upgrade.version"), ver);
	new_only = lookup(r, "upgrade.new_only");
	assert_int_not_equal(new_only, old_only);
	assert_int_equal(bkd_registry_lookup(r, "upgrade.old_only", &fn), -ENOENT);
	assert_int_equal(bkd_registry_acquire(r, old_only, &ref), -ENOENT);

	/* New tasks on the same id go to v2. */
	assert_int_equal(bkd_registry_acquire(r, ver, &ref), 0);
	((struct tm_state *)ref.state)->fini_counter = &fini2;
	assert_int_equal(call(&ref, "", out, sizeof(out), &len), 0);
	assert_int_equal(out[0], '2');
	bkd_registry_release(r, &ref, 0);

	m = find_listed(r, "upgrade", BK_MODSTATE_DRAINING, w, 4);
	assert_non_null(m);
	assert_string_equal(m->version, "1.0.0");
	assert_int_equal(m->inflight, 1);
	m = find_listed(r, "upgrade", BK_MODSTATE_ACTIVE, w, 4);
	assert_non_null(m);
	assert_string_equal(m->version, "2.0.0");
	assert_string_equal(m->functions, "version,hold,new_only");

	assert_int_equal(bkd_registry_collect(r), 0);
	assert_int_equal(notified, 0);
	bkd_registry_release(r, &v1ref, 0);
	assert_int_equal(notified, 1);
	assert_int_equal(bkd_registry_collect(r), 1);
	assert_int_equal(fini1, 1);
	assert_int_equal(fini2, 0);
	assert_null(find_listed(r, "upgrade", BK_MODSTATE_DRAINING, w, 4));

	/* Back to v1: the dropped name resolves to its old id again. */
	load_ok(r, "upgrade_v1.so");
	assert_int_equal(lookup(r, "upgrade.old_only"), old_only);
	assert_int_equal(bkd_registry_collect(r), 1);
	assert_int_equal(fini2, 1);
}

static void test_load_dir_builtins(void **state)
{
	struct bkd_registry *r = *state;
	struct bk_wire_module w[8];
	uint32_t total = 0, n;
	static const char *want[] = { "echo", "file", "hash", "timer" };

	assert_int_equal(bkd_loader_load_dir(r, BK_BUILD_MODULE_DIR), 4);
	n = bkd_registry_list(r, w, 0, 8, &total);
	assert_int_equal(n, 4);
	assert_int_equal(total, 4);
	for (uint32_t i = 0; i < 4; i++) {
		assert_string_equal(w[i].name, want[i]);
		assert_int_equal(w[i].state, BK_MODSTATE_ACTIVE);
	}
	assert_string_equal(w[0].functions, "noop,echo,upper");
	/* Paging. */
	n = bkd_registry_list(r, w, 3, 8, &total);
	assert_int_equal(n, 1);
	assert_string_equal(w[0].name, "timer");
	assert_int_equal(bkd_registry_list(r, w, 4, 8, &total), 0);
	assert_int_equal(bkd_registry_list(r, w, 1, 2, &total), 2);
	assert_string_equal(w[1].name, "hash");
	assert_int_equal(bkd_loader_load_dir(r, BK_TEST_MODULE_DIR "/no-such-dir"), -ENOENT);
}

static void test_list_truncates_functions(void **state)
{
	struct bkd_registry *r = *state;
	struct bk_wire_module w[2];
	uint32_t total = 0;
	size_t len;

	load_ok(r, "many.so");
	assert_int_equal(lookup(r, "many.function_with_a_long_name_19"), 19);
	assert_int_equal(bkd_registry_list(r, w, 0, 2, &total), 1);
	assert_int_equal(w[0].nfunctions, 20);
	len = strnlen(w[0].functions, sizeof(w[0].functions));
	assert_true(len < sizeof(w[0].functions));
	assert_true(len > 200);
	assert_memory_equal(w[0].functions, "function_with_a_long_name_00,function_with_a_long_name_01,", 58);
	assert_string_equal(w[0].functions + len - 4, ",...");
	/* Only whole names before the marker. */
	assert_memory_equal(w[0].functions + len - 4 - 28, "function_with_a_long_name_", 26);
	assert_int_equal(w[0].functions[len - 4 - 29], ',');
}

/* A folder with a good module, a bad one and a non-module file, under a long path. */
static void test_load_dir_mixed(void **state)
{
	struct bkd_registry *r = *state;
	char dir[256], sub[512], link[600];
	struct bk_wire_module w[4];
	uint32_t total = 0;
	size_t plen;
	FILE *f;

	snprintf(dir, sizeof(dir), "/tmp/bk-test-modules-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/a-folder-name-long-enough-that-the-listing-must-cut-the-path-"
		 "to-fit-its-record-of-one-hundred-and-twenty-eight-bytes", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(link, sizeof(link), "%s/10-good.so", sub);
	assert_int_equal(symlink(mod_path("good.so"), link), 0);
	snprintf(link, sizeof(link), "%s/20-badabi.so", sub);
	assert_int_equal(symlink(mod_path("badabi.so"), link), 0);
	snprintf(link, sizeof(link), "%s/README.txt", sub);
	f = fopen(link, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(link, sizeof(link), "%s/30-text.so", sub);
	f = fopen(link, "w");
	assert_non_null(f);
	fputs("not an ELF file\n", f);
	fclose(f);
	{
		char err[512];

		assert_int_equal(bkd_loader_load(r, link, err, sizeof(err)), -ELIBBAD);
		assert_non_null(strstr(err, link));
		assert_non_null(strstr(err, "dlopen failed"));
	}

	assert_int_equal(bkd_loader_load_dir(r, sub), 1);
	assert_int_equal(bkd_registry_list(r, w, 0, 4, &total), 1);
	assert_string_equal(w[0].name, "good");
	plen = strlen(w[0].path);
	assert_int_equal(plen, sizeof(w[0].path) - 1);
	assert_memory_equal(w[0].path, "...", 3);
	assert_string_equal(w[0].path + plen - 10, "10-good.so");

	snprintf(link, sizeof(link), "%s/10-good.so", sub);
	unlink(link);
	snprintf(link, sizeof(link), "%s/20-badabi.so", sub);
	unlink(link);
	snprintf(link, sizeof(link), "%s/README.txt", sub);
	unlink(link);
	snprintf(link, sizeof(link), "%s/30-text.so", sub);
	unlink(link);
	rmdir(sub);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good_loads_and_resolves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_modules_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_acquire_release_counting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unload_waits_for_inflight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unload_idle_notifies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upgrade_drains_old, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_dir_builtins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_truncates_functions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_dir_mixed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
