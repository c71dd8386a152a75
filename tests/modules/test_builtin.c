// SPDX-License-Identifier: MIT
/*
 * test_builtin.c - the built-in modules' handlers (echo, timer, file, hash)
 * run directly through the registry with the recording test host: results,
 * strict argument parsing, error and cancellation paths, and that file.read
 * closes its fd on every path.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "bk_config.h"
#include "broker/loader.h"
#include "test_host.h"

struct fixture {
	struct bkd_registry *r;
	char tmpfile[64];
};

static const char file_text[] = "0123456789abcdefghijklmnopqrstuvwxyz\n";

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int fd;

	assert_non_null(f);
	assert_int_equal(bkd_registry_create(&th_host, NULL, NULL, &f->r), 0);
	assert_int_equal(bkd_loader_load_dir(f->r, BK_BUILD_MODULE_DIR), 4);
	snprintf(f->tmpfile, sizeof(f->tmpfile), "/tmp/bk-test-file-XXXXXX");
	fd = mkstemp(f->tmpfile);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, file_text, sizeof(file_text) - 1), (ssize_t)sizeof(file_text) - 1);
	assert_int_equal(close(fd), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	unlink(f->tmpfile);
	bkd_registry_destroy(f->r);
	free(f);
	return 0;
}

static struct bkd_fn_ref get(struct fixture *f, const char *name)
{
	struct bkd_fn_ref ref;
	uint32_t fn;

	assert_int_equal(bkd_registry_lookup(f->r, name, &fn), 0);
	assert_int_equal(bkd_registry_acquire(f->r, fn, &ref), 0);
	return ref;
}

/* Start a task; returns the handler's return value. */
static int start(struct fixture *f, const char *fn, struct bk_task *t, const void *arg, size_t arglen, void *out,
		 size_t cap)
{
	struct bkd_fn_ref ref = get(f, fn);
	int rc;

	th_task_init(t, arg, arglen, out, cap);
	rc = ref.handler(t, &th_host, ref.state);
	bkd_registry_release(f->r, &ref, 0);
	return rc;
}

/* Run a task to its end; returns its status, *len the result length. */
static int run(struct fixture *f, const char *fn, const void *arg, size_t arglen, void *out, size_t cap, size_t *len)
{
	struct bk_task t;
	int rc = start(f, fn, &t, arg, arglen, out, cap);

	if (rc < 0) {
		assert_int_equal(t.completions, 0);
		return rc;
	}
	if (rc == BK_TASK_PENDING)
		th_run(&t, TH_MAX_OPS * 4);
	assert_int_equal(t.nops, 0);
	assert_int_equal(t.completions, 1);
	*len = t.len;
	return t.status;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void test_echo(void **state)
{
	struct fixture *f = *state;
	char out[64];
	size_t len = 99;
	static const char bin[] = "hel\0lo\xff";
	static const char mixed[] = "abc XYZ-\xc3\xa9 z";

	assert_int_equal(run(f, "echo.noop", "ignored", 7, out, sizeof(out), &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(run(f, "echo.echo", bin, sizeof(bin) - 1, out, sizeof(out), &len), 0);
	assert_int_equal(len, sizeof(bin) - 1);
	assert_memory_equal(out, bin, len);
	assert_int_equal(run(f, "echo.echo", "", 0, out, sizeof(out), &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(run(f, "echo.upper", mixed, sizeof(mixed) - 1, out, sizeof(out), &len), 0);
	assert_int_equal(len, sizeof(mixed) - 1);
	assert_memory_equal(out, "ABC XYZ-\xc3\xa9 Z", len);
	/* Too small a result buffer: -ENOBUFS, reporting the size needed, and nothing written past it. */
	memset(out, '#', sizeof(out));
	assert_int_equal(run(f, "echo.echo", "0123456789", 10, out, 4, &len), -ENOBUFS);
	assert_int_equal(len, 10);
	assert_int_equal(out[4], '#');
	assert_int_equal(run(f, "echo.upper", "abcdef", 6, out, 5, &len), -ENOBUFS);
	assert_int_equal(len, 6);
}

static void test_timer_sleep(void **state)
{
	struct fixture *f = *state;
	struct bk_task t;
	size_t len = 9;
	static const char *bad[] = { "",   "-1",  "+5",  " 5",	"5 ", "5\n", "1e3",
				     "0x10", "abc", "86400001", "99999999999999999999999" };

	assert_int_equal(start(f, "timer.sleep", &t, "100", 3, NULL, 0), BK_TASK_PENDING);
	assert_int_equal(t.counts[TH_TIMEOUT], 1);
	assert_int_equal(t.last_timeout_ns, 100000000ull);
	assert_int_equal(t.completions, 0);
	assert_int_equal(th_run(&t, 10), 1);
	assert_int_equal(t.completions, 1);
	assert_int_equal(t.status, 0);
	assert_int_equal(t.len, 0);

	assert_int_equal(run(f, "timer.sleep", "0", 1, NULL, 0, &len), 0);
	assert_int_equal(start(f, "timer.sleep", &t, "86400000", 8, NULL, 0), BK_TASK_PENDING);
	assert_int_equal(t.last_timeout_ns, 86400000ull * 1000000ull);
	assert_int_equal(start(f, "timer.sleep", &t, "007", 3, NULL, 0), BK_TASK_PENDING);
	assert_int_equal(t.last_timeout_ns, 7000000ull);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		th_task_init(&t, NULL, 0, NULL, 0);
		if (run(f, "timer.sleep", bad[i], strlen(bad[i]), NULL, 0, &len) != -EINVAL)
			fail_msg("timer.sleep \"%s\" was not refused with -EINVAL", bad[i]);
	}
	/* An embedded NUL is bad text too. */
	assert_int_equal(run(f, "timer.sleep", "1\0", 2, NULL, 0, &len), -EINVAL);

	/* Cancelled while pending: -ECANCELED. */
	assert_int_equal(start(f, "timer.sleep", &t, "100", 3, NULL, 0), BK_TASK_PENDING);
	th_cancel(&t);
	assert_int_equal(th_run(&t, 10), 1);
	assert_int_equal(t.completions, 1);
	assert_int_equal(t.status, -ECANCELED);
}

static int file_read(struct fixture *f, const char *spec, char *out, size_t cap, size_t *len, uint32_t max_io)
{
	char arg[256];
	struct bk_task t;
	int rc;

	snprintf(arg, sizeof(arg), "%s %s", spec, f->tmpfile);
	rc = start(f, "file.read", &t, arg, strlen(arg), out, cap);
	if (rc < 0)
		return rc;
	assert_int_equal(rc, BK_TASK_PENDING);
	t.max_io = max_io;
	th_run(&t, TH_MAX_OPS * 4);
	assert_int_equal(t.completions, 1);
	assert_int_equal(t.counts[TH_OPENAT], 1);
	*len = t.len;
	return t.status;
}

static void test_file_read(void **state)
{
	struct fixture *f = *state;
	char out[128];
	size_t len = 0;
	int fds = count_fds();
	const size_t flen = sizeof(file_text) - 1;

	assert_int_equal(file_read(f, "0 4096", out, sizeof(out), &len, 0), 0);
	assert_int_equal(len, flen);
	assert_memory_equal(out, file_text, flen);
	assert_int_equal(file_read(f, "10 5", out, sizeof(out), &len, 0), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(out, "abcde", 5);
	assert_int_equal(file_read(f, "1000 5", out, sizeof(out), &len, 0), 0);
	assert_int_equal(len, 0);
	assert_int_equal(file_read(f, "0 0", out, sizeof(out), &len, 0), 0);
	assert_int_equal(len, 0);
	/* LENGTH is capped at the result buffer. */
	assert_int_equal(file_read(f, "0 4096", out, 7, &len, 0), 0);
	assert_int_equal(len, 7);
	assert_memory_equal(out, "0123456", 7);
	/* Short reads are continued until LENGTH or end of file. */
	assert_int_equal(file_read(f, "2 30", out, sizeof(out), &len, 3), 0);
	assert_int_equal(len, 30);
	assert_memory_equal(out, file_text + 2, 30);
	assert_int_equal(file_read(f, "0 4096", out, sizeof(out), &len, 4), 0);
	assert_int_equal(len, flen);
	assert_int_equal(count_fds(), fds);
}

static void test_file_errors(void **state)
{
	struct fixture *f = *state;
	char out[64];
	size_t len = 0;
	struct bk_task t;
	int fds = count_fds();
	static const char *bad[] = { "",	 "0",	     "0 4096",	    "0 4096 ",	   "x 1 /etc/hostname",
				     "0 -1 /etc/hostname", "0 1 etc/hostname", "0  1 /etc/hostname",
				     " 0 1 /etc/hostname", "+0 1 /etc/hostname", "9223372036854775808 1 /etc/hostname",
				     "0 99999999999999999999999 /etc/hostname" };
	static const char nul[] = "0 1 /etc\0/hostname";
	const char *missing = "0 10 /nonexistent/bk-test/file";
	const char *dir = "0 10 /tmp";

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (run(f, "file.read", bad[i], strlen(bad[i]), out, sizeof(out), &len) != -EINVAL)
			fail_msg("file.read \"%s\" was not refused with -EINVAL", bad[i]);
	assert_int_equal(run(f, "file.read", nul, sizeof(nul) - 1, out, sizeof(out), &len), -EINVAL);
	assert_int_equal(run(f, "file.read", missing, strlen(missing), out, sizeof(out), &len), -ENOENT);
	/* A directory opens, then the read fails: the fd is still closed. */
	assert_int_equal(start(f, "file.read", &t, dir, strlen(dir), out, sizeof(out)), BK_TASK_PENDING);
	th_run(&t, 16);
	assert_int_equal(t.completions, 1);
	assert_int_equal(t.status, -EISDIR);
	assert_int_equal(t.counts[TH_CLOSE], 1);
	assert_int_equal(count_fds(), fds);
}

static void test_file_cancel(void **state)
{
	struct fixture *f = *state;
	char out[64], arg[128];
	struct bk_task t;
	int fds = count_fds();

	snprintf(arg, sizeof(arg), "0 30 %s", f->tmpfile);
	/* Cancelled before the open ran: no fd ever exists. */
	assert_int_equal(start(f, "file.read", &t, arg, strlen(arg), out, sizeof(out)), BK_TASK_PENDING);
	th_cancel(&t);
	th_run(&t, 16);
	assert_int_equal(t.completions, 1);
	assert_int_equal(t.status, -ECANCELED);
	assert_int_equal(count_fds(), fds);

	/* Cancelled after the open, with a read pending: the fd is closed. */
	assert_int_equal(start(f, "file.read", &t, arg, strlen(arg), out, sizeof(out)), BK_TASK_PENDING);
	t.max_io = 4;
	assert_int_equal(th_run(&t, 2), 2); /* openat, first read */
	assert_int_equal(count_fds(), fds + 1);
	assert_int_equal(t.completions, 0);
	th_cancel(&t);
	th_run(&t, 16);
	assert_int_equal(t.completions, 1);
	assert_int_equal(t.status, -ECANCELED);
	assert_int_equal(count_fds(), fds);
}

static void sha256(const void *data, size_t len, unsigned char *out)
{
	unsigned int n = 0;

	assert_int_equal(EVP_Digest(data, len, out, &n, EVP_sha256(), NULL), 1);
	assert_int_equal(n, 32);
}

static void test_hash(void **state)
{
	struct fixture *f = *state;
	unsigned char out[64], want[32];
	size_t len = 0;
	struct bk_task t;
	static const unsigned char abc[32] = { 0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
					       0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
					       0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad };
	static const unsigned char empty[32] = { 0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4,
						 0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
						 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55 };
	const size_t big = 16u << 20;
	unsigned char *data = malloc(big);

	assert_non_null(data);
	assert_int_equal(run(f, "hash.sha256", "abc", 3, out, sizeof(out), &len), 0);
	assert_int_equal(len, 32);
	assert_memory_equal(out, abc, 32);
	assert_int_equal(run(f, "hash.sha256", "", 0, out, sizeof(out), &len), 0);
	assert_memory_equal(out, empty, 32);
	assert_int_equal(run(f, "hash.sha256", "abc", 3, out, 31, &len), -ENOBUFS);
	assert_int_equal(len, 32);

	for (size_t i = 0; i < big; i++)
		data[i] = (unsigned char)(i * 2654435761u >> 13);
	/* 64 KiB is hashed on the worker ... */
	assert_int_equal(start(f, "hash.sha256", &t, data, 64u << 10, out, sizeof(out)), BK_TASK_DONE);
	assert_int_equal(t.counts[TH_OFFLOAD], 0);
	sha256(data, 64u << 10, want);
	assert_memory_equal(out, want, 32);
	/* ... 16 MiB goes to the offload pool. */
	assert_int_equal(start(f, "hash.sha256", &t, data, big, out, sizeof(out)), BK_TASK_PENDING);
	assert_int_equal(t.counts[TH_OFFLOAD], 1);
	assert_int_equal(t.completions, 0);
	assert_int_equal(th_run(&t, 4), 1);
	assert_int_equal(t.completions, 1);
	assert_int_equal(t.status, 0);
	assert_int_equal(t.len, 32);
	sha256(data, big, want);
	assert_memory_equal(out, want, 32);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_echo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_sleep, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hash, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
