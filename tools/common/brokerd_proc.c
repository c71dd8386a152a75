// SPDX-License-Identifier: MIT
/*
 * brokerd_proc.c - a private brokerd for tests and tools (see brokerd_proc.h).
 * Readiness is a successful connect() on the socket, polled against a
 * deadline while waitpid(WNOHANG) watches for an early exit; stopping is
 * SIGTERM and waitpid polled against a deadline, then SIGKILL.
 */
#include "brokerd_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker/sys.h"
#include "child_wait.h"

#define POLL_STEP_NS 2000000L /* between two checks of a deadline-bounded condition */

static void pause_step(void)
{
	struct timespec ts = { 0, POLL_STEP_NS };
	nanosleep(&ts, NULL); /* an early wake-up (EINTR) only re-checks sooner */
}

int bkt_brokerd_init(struct bkt_brokerd *b, const char *bin, const char *moddir, unsigned flags)
{
	memset(b, 0, sizeof(*b));
	b->flags = flags;
	const char *tmp = getenv("TMPDIR");
	if (!tmp || !*tmp)
		tmp = "/tmp";
	_Static_assert(sizeof(b->socket) == sizeof(((struct sockaddr_un *)0)->sun_path), "socket sized as sun_path");
	/* The socket path must fit sockaddr_un.sun_path. */
	if (strlen(tmp) + sizeof("/bk-brokerd.XXXXXX/broker.sock") > sizeof(b->socket))
		return -ENAMETOOLONG;
	if (strlen(bin) >= sizeof(b->bin) || (moddir && strlen(moddir) >= sizeof(b->moddir)))
		return -ENAMETOOLONG;
	snprintf(b->dir, sizeof(b->dir), "%s/bk-brokerd.XXXXXX", tmp);
	if (!mkdtemp(b->dir)) {
		int e = errno;
		b->dir[0] = 0;
		return -e;
	}
	snprintf(b->socket, sizeof(b->socket), "%s/broker.sock", b->dir);
	snprintf(b->log, sizeof(b->log), "%s/brokerd.log", b->dir);
	snprintf(b->bin, sizeof(b->bin), "%s", bin);
	if (moddir)
		snprintf(b->moddir, sizeof(b->moddir), "%s", moddir);
	return 0;
}

int bkt_brokerd_arg(struct bkt_brokerd *b, const char *arg)
{
	if (b->nargs >= BKT_BROKERD_MAX_ARGS || strlen(arg) >= sizeof(b->args[0]))
		return -E2BIG;
	snprintf(b->args[b->nargs++], sizeof(b->args[0]), "%s", arg);
	return 0;
}

static int sock_connect(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		close(fd);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

int bkt_socket_accepts(const char *path)
{
	int fd = sock_connect(path);
	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

pid_t bkt_socket_peer_pid(const char *path)
{
	int fd = sock_connect(path);
	if (fd < 0)
		return fd;
	struct ucred cr;
	socklen_t len = sizeof(cr);
	pid_t r = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 ? cr.pid : -errno;
	close(fd);
	return r;
}

void bkt_brokerd_log_tail(const struct bkt_brokerd *b, char *buf, size_t len)
{
	if (!len)
		return;
	buf[0] = 0;
	int fd = open(b->log, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	off_t end = lseek(fd, 0, SEEK_END);
	off_t from = end > (off_t)len - 1 ? end - (off_t)len + 1 : 0;
	ssize_t n = end < 0 ? -1 : pread(fd, buf, len - 1, from);
	buf[n > 0 ? n : 0] = 0;
	close(fd);
}

/* Exit status (0-255) or 128+signal, as a shell reports it. */
static int status_code(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The command line; -E2BIG when the extra flags do not fit. */
static int build_argv(const struct bkt_brokerd *b, const char *const *extra, const char **argv)
{
	int n = 0;
	argv[n++] = b->bin;
	argv[n++] = "--foreground";
	argv[n++] = "--socket";
	argv[n++] = b->socket;
	if (b->moddir[0]) {
		argv[n++] = "--module-dir";
		argv[n++] = b->moddir;
	}
	for (int i = 0; i < b->nargs; i++)
		argv[n++] = b->args[i];
	for (int i = 0; extra && extra[i]; i++) {
		if (n >= BKT_BROKERD_MAX_ARGV - 1)
			return -E2BIG;
		argv[n++] = extra[i];
	}
	argv[n] = NULL;
	return 0;
}

static void put_str(const char *s)
{
	/* After fork only async-signal-safe calls: plain write() to the log. */
	if (write(STDERR_FILENO, s, strlen(s)) < 0) {
		/* the log is gone: nothing left to tell */
	}
}

__attribute__((noreturn)) static void child_exec(const struct bkt_brokerd *b, const char **argv, int logfd,
						 pid_t parent)
{
	if (b->flags & BKT_BROKERD_DIE_WITH_PARENT) {
		/* A caller that dies (a crash, a failed assertion) must not leave brokerd behind. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
			_exit(126);
		if (getppid() != parent)
			_exit(127); /* the parent died before prctl: nobody would stop us */
	}
	/* Its own process group: a ^C on the caller's terminal must not reach
	 * brokerd before the caller has stopped it in order. */
	if ((b->flags & BKT_BROKERD_OWN_PGRP) && setpgid(0, 0) != 0)
		_exit(126);
	if (dup2(logfd, STDOUT_FILENO) < 0 || dup2(logfd, STDERR_FILENO) < 0)
		_exit(126);
	int devnull = open("/dev/null", O_RDONLY);
	if (devnull > 0) {
		if (dup2(devnull, STDIN_FILENO) < 0)
			_exit(126);
		close(devnull);
	}
	if (strchr(b->bin, '/'))
		execv(b->bin, (char *const *)argv);
	else
		execvp(b->bin, (char *const *)argv);
	int e = errno;
	put_str("exec ");
	put_str(b->bin);
	const char *why = strerrordesc_np(e); /* unlike strerror, safe after fork */
	put_str(": ");
	put_str(why ? why : "exec failed");
	put_str("\n");
	_exit(127);
}

/* Poll until the socket accepts, brokerd exits, or the start deadline passes. */
static int wait_serving(struct bkt_brokerd *b, char *err, size_t errlen)
{
	char tail[512];
	int64_t deadline = bk_now_ns() + BKT_BROKERD_START_TIMEOUT_MS * 1000000LL;
	for (;;) {
		int st;
		pid_t r = waitpid(b->pid, &st, WNOHANG);
		if (r == b->pid) {
			b->pid = 0;
			bkt_brokerd_log_tail(b, tail, sizeof(tail));
			snprintf(err, errlen,
				 "%s exited (status %d) before accepting connections on %s; its log ends:\n%s", b->bin,
				 status_code(st), b->socket, tail);
			return -ECHILD;
		}
		if (r < 0 && errno != EINTR) {
			int e = errno;
			snprintf(err, errlen, "waitpid(%d): %s", (int)b->pid, strerror(e));
			bkt_brokerd_kill(b);
			return -e;
		}
		if (bkt_socket_accepts(b->socket))
			return 0;
		if (bk_now_ns() >= deadline)
			break;
		pause_step();
	}
	bkt_brokerd_kill(b);
	bkt_brokerd_log_tail(b, tail, sizeof(tail));
	snprintf(err, errlen, "%s did not accept connections on %s within %d ms; its log ends:\n%s", b->bin, b->socket,
		 BKT_BROKERD_START_TIMEOUT_MS, tail);
	return -ETIMEDOUT;
}

int bkt_brokerd_start(struct bkt_brokerd *b, const char *const *extra, char *err, size_t errlen)
{
	const char *argv[BKT_BROKERD_MAX_ARGV];
	if (b->pid > 0) {
		snprintf(err, errlen, "brokerd (pid %d) is already running", (int)b->pid);
		return -EBUSY;
	}
	if (build_argv(b, extra, argv) < 0) {
		snprintf(err, errlen, "more than %d arguments for brokerd", BKT_BROKERD_MAX_ARGV - 1);
		return -E2BIG;
	}
	int logfd = open(b->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (logfd < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot create %s: %s", b->log, strerror(e));
		return -e;
	}
	fflush(NULL); /* nothing buffered twice */
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(logfd);
		snprintf(err, errlen, "fork: %s", strerror(e));
		return -e;
	}
	if (pid == 0)
		child_exec(b, argv, logfd, parent);
	close(logfd);
	b->pid = pid;
	return wait_serving(b, err, errlen);
}

/* Reap b->pid before deadline: its status code, -ETIMEDOUT, or -errno. */
static int reap_until(struct bkt_brokerd *b, int64_t deadline)
{
	int st;
	int r = bkt_child_wait(b->pid, deadline, &st, false);
	if (r == 0 || r == -ECHILD)
		b->pid = 0; /* -ECHILD: reaped elsewhere (a waitpid(-1) of the caller) */
	return r == 0 ? status_code(st) : r;
}

int bkt_brokerd_stop(struct bkt_brokerd *b, int timeout_ms)
{
	if (b->pid <= 0)
		return -ESRCH;
	if (kill(b->pid, SIGTERM) != 0) {
		int e = errno;
		if (e == ESRCH)
			b->pid = 0;
		return -e;
	}
	int r = reap_until(b, bk_now_ns() + (int64_t)timeout_ms * 1000000LL);
	if (r == -ETIMEDOUT)
		bkt_brokerd_kill(b);
	return r;
}

void bkt_brokerd_kill(struct bkt_brokerd *b)
{
	if (b->pid <= 0)
		return;
	if (kill(b->pid, SIGKILL) != 0 && errno == ESRCH) {
		b->pid = 0;
		return;
	}
	/* SIGKILL cannot be ignored: this wait ends. */
	while (waitpid(b->pid, NULL, 0) < 0 && errno == EINTR)
		;
	b->pid = 0;
}

static void remove_file(const char *path)
{
	if (unlink(path) != 0 && errno != ENOENT)
		fprintf(stderr, "bkt_brokerd: cannot remove %s: %s\n", path, strerror(errno));
}

void bkt_brokerd_cleanup(struct bkt_brokerd *b, int stop_ms)
{
	if (b->pid > 0 && stop_ms > 0)
		bkt_brokerd_stop(b, stop_ms); /* kills it when it ignores SIGTERM */
	bkt_brokerd_kill(b);
	if (!b->dir[0])
		return;
	remove_file(b->socket);
	remove_file(b->log);
	if (rmdir(b->dir) != 0 && errno != ENOENT)
		fprintf(stderr, "bkt_brokerd: cannot remove %s: %s\n", b->dir, strerror(errno));
	b->dir[0] = 0;
}
