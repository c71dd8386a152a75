// SPDX-License-Identifier: MIT
/*
 * upgrade.c - broker-stress's module upgrades under load: a fresh copy of
 * a module file (a new inode each time, so dlopen cannot hand back the
 * loaded one) is loaded with `brokerctl load`, which re-points the
 * module's function ids to the new version while calls in flight finish on
 * the old one (docs/ARCHITECTURE.md, "Modules").  The honest clients' echo
 * calls run across every upgrade and must all end right.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stress.h"
#include "util.h"

#define LOAD_TIMEOUT_NS (10 * 1000000000LL)

static int executable_at(char *out, size_t len, const char *dir, const char *rel)
{
	int n = snprintf(out, len, "%s/%s", dir, rel);
	return n > 0 && (size_t)n < len && access(out, X_OK) == 0 ? 0 : -ENOENT;
}

int bk_stress_upgrader_init(struct bk_stress_upgrader *u, const char *src, const char *dir, const char *brokerctl)
{
	memset(u, 0, sizeof(*u));
	snprintf(u->src, sizeof(u->src), "%s", src);
	snprintf(u->dir, sizeof(u->dir), "%s", dir);
	if (access(src, R_OK) != 0)
		return -ENOENT;
	if (brokerctl) {
		snprintf(u->brokerctl, sizeof(u->brokerctl), "%s", brokerctl);
		return access(brokerctl, X_OK) == 0 ? 0 : -ENOENT;
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -ENOENT;
	exe[n] = 0;
	char *slash = strrchr(exe, '/');
	if (!slash)
		return -ENOENT;
	*slash = 0;
	/* Installed: both in bindir.  Build tree: tools/stress and tools/brokerctl. */
	if (executable_at(u->brokerctl, sizeof(u->brokerctl), exe, "brokerctl") == 0 ||
	    executable_at(u->brokerctl, sizeof(u->brokerctl), exe, "../brokerctl/brokerctl") == 0)
		return 0;
	return -ENOENT;
}

static int copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	/* 0644 and ours: what brokerd's module checks want (docs/SECURITY.md, "Loading modules"). */
	int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0) {
		int e = -errno;
		close(in);
		return e;
	}
	char buf[65536];
	ssize_t n;
	int e = 0;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (bk_write_full(out, buf, (size_t)n) != 0) {
			e = -EIO;
			break;
		}
	if (n < 0)
		e = -errno;
	close(in);
	if (close(out) != 0 && e == 0)
		e = -errno;
	return e;
}

/* Run brokerctl --socket S load PATH; its exit status, or -ETIMEDOUT (then killed). */
static int run_load(const char *brokerctl, const char *socket, const char *path)
{
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (null >= 0)
			dup2(null, 1); /* its "ok"; errors stay on stderr */
		execl(brokerctl, brokerctl, "--socket", socket, "load", path, (char *)NULL);
		_exit(127);
	}
	int64_t deadline = bk_now_ns() + LOAD_TIMEOUT_NS;
	int st;
	pid_t w;
	while ((w = waitpid(pid, &st, WNOHANG)) == 0 && bk_now_ns() < deadline)
		poll(NULL, 0, 5); /* a bounded wait for one child: there is no fd to wait on */
	if (w == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		return -ETIMEDOUT;
	}
	return w == pid && WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

int bk_stress_upgrade(struct bk_stress_upgrader *u, const char *socket, char *why, size_t whylen)
{
	char path[8300];
	const char *base = strrchr(u->src, '/');
	int w = snprintf(path, sizeof(path), "%s/upgrade-%u-%s", u->dir, u->n++, base ? base + 1 : u->src);
	if (w < 0 || (size_t)w >= sizeof(path)) {
		snprintf(why, whylen, "module copy path too long");
		return -1;
	}
	int e = copy_file(u->src, path);
	if (e < 0) {
		snprintf(why, whylen, "copying %s to %s: %s", u->src, path, strerror(-e));
		return -1;
	}
	int st = run_load(u->brokerctl, socket, path);
	/* brokerd keeps the file open while the module is loaded: the name can go now. */
	unlink(path);
	if (st != 0) {
		snprintf(why, whylen, "%s load %s: %s", u->brokerctl, path,
			 st == -ETIMEDOUT ? "no answer within 10 s" : "failed (its message is above)");
		return -1;
	}
	return 0;
}
