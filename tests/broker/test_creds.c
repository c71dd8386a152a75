// SPDX-License-Identifier: MIT
/*
 * test_creds.c - the per-thread credential switch (broker/creds.c) and the
 * procfs guard (broker/fsguard.c) as units.  A thread that takes nobody's
 * credentials has them while the other threads keep root's; leaving gives
 * back exactly what there was (ids, groups, capabilities); a switch that
 * fails half way undoes itself; a switch-back that cannot succeed aborts
 * the process rather than run on with mixed rights.  The guard refuses
 * descriptors of procfs files, also of a procfs mounted after it started,
 * and a verdict it keeps for a mount is not given to a procfs mounted in
 * its place.  Needs root (skipped otherwise).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/sys.h"
#include "child_wait.h"
#include "creds.h"
#include "fsguard.h"

#define NOBODY 65534
#define CHILD_TIMEOUT_NS (30LL * 1000000000LL)

struct ids {
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	int ngroups;
	gid_t groups[64];
	uint32_t eff[2], perm[2];
};

/* The calling thread's own credentials, through raw syscalls (per thread). */
static void thread_ids(struct ids *x)
{
	memset(x, 0, sizeof(*x));
	assert_int_equal(syscall(SYS_getresuid, &x->ru, &x->eu, &x->su), 0);
	assert_int_equal(syscall(SYS_getresgid, &x->rg, &x->eg, &x->sg), 0);
	x->ngroups = (int)syscall(SYS_getgroups, 64, x->groups);
	assert_true(x->ngroups >= 0);
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];
	assert_int_equal(syscall(SYS_capget, &h, d), 0);
	for (int i = 0; i < 2; i++) {
		x->eff[i] = d[i].effective;
		x->perm[i] = d[i].permitted;
	}
}

static void assert_same_ids(const struct ids *a, const struct ids *b)
{
	assert_int_equal(a->ru, b->ru);
	assert_int_equal(a->eu, b->eu);
	assert_int_equal(a->su, b->su);
	assert_int_equal(a->rg, b->rg);
	assert_int_equal(a->eg, b->eg);
	assert_int_equal(a->sg, b->sg);
	assert_int_equal(a->ngroups, b->ngroups);
	assert_memory_equal(a->groups, b->groups, (size_t)a->ngroups * sizeof(gid_t));
	assert_memory_equal(a->eff, b->eff, sizeof(a->eff));
	assert_memory_equal(a->perm, b->perm, sizeof(a->perm));
}

static int setup(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	assert_int_equal(bkd_creds_init(), 0);
	assert_true(bkd_creds_privileged());
	return 0;
}

static struct bkd_caller *nobody_caller(void)
{
	static const gid_t groups[] = { 4242, 4243 };
	struct bkd_caller *c;
	assert_int_equal(bkd_caller_new(NOBODY, NOBODY, 1, groups, 2, &c), 0);
	assert_true(c->switch_needed);
	return c;
}

struct sw {
	struct bkd_caller *c;
	pthread_barrier_t in, out;
	struct ids during, before, after;
	int rc;
};

static void *switched_thread(void *arg)
{
	struct sw *s = arg;
	struct bkd_creds_saved saved;
	s->rc = bkd_creds_enter(s->c, &saved);
	thread_ids(&s->during);
	pthread_barrier_wait(&s->in); /* the main thread looks at its own ids while we are nobody */
	pthread_barrier_wait(&s->out);
	if (s->rc == 0)
		bkd_creds_leave(&saved);
	thread_ids(&s->after);
	return NULL;
}

static void test_switch_is_per_thread(void **state)
{
	(void)state;
	struct ids before, main_during, after;
	thread_ids(&before);
	struct sw s = { .c = nobody_caller() };
	pthread_barrier_init(&s.in, NULL, 2);
	pthread_barrier_init(&s.out, NULL, 2);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, switched_thread, &s), 0);
	pthread_barrier_wait(&s.in);
	thread_ids(&main_during);
	pthread_barrier_wait(&s.out);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(s.rc, 0);
	/* The switched thread was nobody with nobody's groups and no effective capability... */
	assert_int_equal(s.during.eu, NOBODY);
	assert_int_equal(s.during.eg, NOBODY);
	assert_int_equal(s.during.ngroups, 2);
	assert_int_equal(s.during.groups[0], 4242);
	assert_int_equal(s.during.eff[0] | s.during.eff[1], 0);
	/* ...and was root again after leaving, while this thread stayed root all along. */
	assert_same_ids(&before, &s.after);
	assert_same_ids(&before, &main_during);
	thread_ids(&after);
	assert_same_ids(&before, &after);
	pthread_barrier_destroy(&s.in);
	pthread_barrier_destroy(&s.out);
	bkd_caller_free(s.c);
}

/* A thread without CAP_SETUID: groups and gid change, then the uid cannot; all must be undone. */
static void *failing_thread(void *arg)
{
	struct sw *s = arg;
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) < 0) {
		s->rc = 1000;
		return NULL;
	}
	d[CAP_SETUID / 32].effective &= ~(1u << (CAP_SETUID % 32));
	if (syscall(SYS_capset, &h, d) < 0) {
		s->rc = 1001;
		return NULL;
	}
	thread_ids(&s->before);
	struct bkd_creds_saved saved;
	s->rc = bkd_creds_enter(s->c, &saved);
	thread_ids(&s->after);
	return NULL;
}

static void test_failed_switch_undoes_itself(void **state)
{
	(void)state;
	struct sw s = { .c = nobody_caller() };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, failing_thread, &s), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(s.rc, -EPERM);
	assert_same_ids(&s.before, &s.after);
	bkd_caller_free(s.c);
}

/* In a child: switch, take CAP_SETGID out of the permitted set, then leave: that cannot work. */
static void test_failed_switch_back_aborts(void **state)
{
	(void)state;
	struct bkd_caller *c = nobody_caller();
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct bkd_creds_saved saved;
		if (bkd_creds_enter(c, &saved) < 0)
			_exit(10);
		struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
		struct __user_cap_data_struct d[2];
		if (syscall(SYS_capget, &h, d) < 0)
			_exit(11);
		d[CAP_SETGID / 32].permitted &= ~(1u << (CAP_SETGID % 32));
		if (syscall(SYS_capset, &h, d) < 0)
			_exit(12);
		bkd_creds_leave(&saved); /* must abort: it cannot give the thread its capabilities back */
		_exit(13);
	}
	int st = 0;
	assert_int_equal(bkt_child_wait(pid, bk_now_ns() + CHILD_TIMEOUT_NS, &st, true), 0); /* killed when late */
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
	bkd_caller_free(c);
}

static void test_own_credentials_not_switched(void **state)
{
	(void)state;
	gid_t groups[64];
	int n = getgroups(64, groups);
	assert_true(n >= 0);
	struct bkd_caller *c;
	assert_int_equal(bkd_caller_new(geteuid(), getegid(), 1, groups, (uint32_t)n, &c), 0);
	assert_false(c->switch_needed);
	struct bkd_creds_saved saved;
	assert_int_equal(bkd_creds_enter(c, &saved), 0);
	assert_false(saved.switched);
	bkd_creds_leave(&saved);
	bkd_caller_free(c);
	/* Too many groups to keep is refused, not cut. */
	static gid_t many[BKD_CALLER_MAX_GROUPS + 1];
	assert_int_equal(bkd_caller_new(NOBODY, NOBODY, 1, many, BKD_CALLER_MAX_GROUPS + 1, &c), -EMSGSIZE);
}

static int check_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	int r = bkd_fsguard_check_fd(fd);
	close(fd);
	return r;
}

static void test_fsguard(void **state)
{
	(void)state;
	/* Before init: the fstatfs fallback. */
	assert_int_equal(check_path("/proc/self/maps"), -EACCES);
	assert_int_equal(check_path("/etc/hostname"), 0);
	assert_int_equal(bkd_fsguard_init(), 0);
	assert_int_equal(check_path("/proc/self/maps"), -EACCES);
	assert_int_equal(check_path("/proc/self/status"), -EACCES);
	assert_int_equal(check_path("/etc/hostname"), 0);
	assert_int_equal(check_path("/dev/null"), 0);
	/* Again: the verdicts this thread keeps say the same. */
	assert_int_equal(check_path("/proc/self/maps"), -EACCES);
	assert_int_equal(check_path("/etc/hostname"), 0);
	assert_int_equal(check_path("/dev/null"), 0);
	bkd_fsguard_fini();
}

/*
 * Run body(dir) in a child with its own mount namespace and the guard started there, dir a fresh
 * folder to mount on; the test fails unless body returns 0 (each failure point returns its own code).
 */
static void in_own_mount_ns(int (*body)(const char *dir))
{
	char dir[] = "/tmp/bk-fsguard-XXXXXX";
	assert_non_null(mkdtemp(dir));
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			_exit(10);
		if (bkd_fsguard_init() < 0)
			_exit(11);
		_exit(body(dir));
	}
	int st = 0;
	assert_int_equal(bkt_child_wait(pid, bk_now_ns() + CHILD_TIMEOUT_NS, &st, true), 0); /* killed when late */
	rmdir(dir);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* A procfs mounted after init is refused as well. */
static int proc_after_init(const char *dir)
{
	if (mount("proc", dir, "proc", 0, NULL) < 0)
		return 12;
	char path[64];
	snprintf(path, sizeof(path), "%s/self/maps", dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 13;
	int r = bkd_fsguard_check_fd(fd);
	close(fd);
	return r == -EACCES ? 0 : 14;
}

static void test_fsguard_new_mount(void **state)
{
	(void)state;
	in_own_mount_ns(proc_after_init);
}

/*
 * A tmpfs file is allowed (and its verdict kept), the tmpfs is unmounted and a procfs mounted on the
 * same folder, which usually gets the device number the tmpfs freed; its files are refused all the
 * same, before and after a file of the old device was checked.
 */
static int tmpfs_then_proc(const char *dir)
{
	char path[64];
	if (mount("tmpfs", dir, "tmpfs", 0, "size=64k") < 0)
		return 12;
	snprintf(path, sizeof(path), "%s/f", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return 13;
	struct stat before;
	if (fstat(fd, &before) < 0 || bkd_fsguard_check_fd(fd) != 0 || bkd_fsguard_check_fd(fd) != 0)
		return 14;
	struct statx sx;
	bool unique = statx(fd, "", AT_EMPTY_PATH, 0x4000U /* STATX_MNT_ID_UNIQUE */, &sx) == 0 && (sx.stx_mask & 0x4000U);
	fprintf(stderr, "# kernel %s unique mount ids: the verdicts %s kept\n", unique ? "reports" : "does not report",
		unique ? "are" : "are not");
	close(fd);
	if (umount(dir) < 0 || mount("proc", dir, "proc", 0, NULL) < 0)
		return 15;
	snprintf(path, sizeof(path), "%s/self/maps", dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 16;
	struct stat after;
	if (fstat(fd, &after) < 0)
		return 17;
	fprintf(stderr, "# procfs %s the tmpfs's device number\n", after.st_dev == before.st_dev ? "reuses" : "does not reuse");
	if (bkd_fsguard_check_fd(fd) != -EACCES || bkd_fsguard_check_fd(fd) != -EACCES)
		return 18;
	close(fd);
	return 0;
}

static void test_fsguard_verdict_not_reused(void **state)
{
	(void)state;
	in_own_mount_ns(tmpfs_then_proc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_switch_is_per_thread),
		cmocka_unit_test(test_failed_switch_undoes_itself),
		cmocka_unit_test(test_failed_switch_back_aborts),
		cmocka_unit_test(test_own_credentials_not_switched),
		cmocka_unit_test(test_fsguard),
		cmocka_unit_test(test_fsguard_new_mount),
		cmocka_unit_test(test_fsguard_verdict_not_reused),
	};
	return cmocka_run_group_tests_name("credential switch and procfs guard", tests, setup, NULL);
}
