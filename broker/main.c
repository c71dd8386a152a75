// SPDX-License-Identifier: MIT
/*
 * main.c - the brokerd process: parse flags, block the signals the control
 * loop takes through a signalfd, take the socket of socket activation or
 * refuse a live socket early, daemonise unless --foreground, then init, run
 * and fini the broker (broker.c) and exit with what they report.  A daemon
 * keeps the launching shell's stderr until it serves, so a failed start
 * still says why; then fds 0-2 are /dev/null and the log goes to the journal.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "listener.h"
#include "log.h"
#include "service.h"

/*
 * Classic double fork.  The parent waits for a byte on a pipe that the
 * daemon writes once it serves, so `brokerd && client` works without races
 * and a start-up failure still gives a non-zero exit status.
 */
static int daemonise(int *ready_fd)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(p[1]);
		char c = 1;
		ssize_t n;
		do
			n = read(p[0], &c, 1);
		while (n < 0 && errno == EINTR);
		_exit(n == 1 && c == 0 ? 0 : 1);
	}
	close(p[0]);
	if (setsid() < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0)
		_exit(0);
	if (chdir("/") < 0)
		return -errno;
	int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nul < 0)
		return -errno;
	if (dup2(nul, STDIN_FILENO) < 0 || dup2(nul, STDOUT_FILENO) < 0) {
		close(nul);
		return -errno;
	}
	close(nul);
	*ready_fd = p[1];
	return 0;
}

/* The daemon serves: the launching shell's stderr is let go too. */
static void detach_stderr(void)
{
	int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (nul < 0 || dup2(nul, STDERR_FILENO) < 0)
		bkd_warn("stderr to /dev/null: %s", strerror(errno));
	if (nul >= 0)
		close(nul);
	bkd_log_init(true);
}

/* --pidfile: written once brokerd serves (its final pid), removed at exit. */
static int write_pidfile(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		bkd_err("--pidfile %s: %s", path, strerror(errno));
		return -errno;
	}
	char line[32];
	int n = snprintf(line, sizeof(line), "%d\n", (int)getpid());
	int r = write(fd, line, (size_t)n) == n ? 0 : -EIO;
	if (close(fd) < 0 || r < 0) {
		bkd_err("--pidfile %s: write failed", path);
		unlink(path);
		return -EIO;
	}
	return 0;
}

static void ready(int *fd, char status)
{
	if (*fd < 0)
		return;
	if (write(*fd, &status, 1) != 1)
		bkd_dbg("readiness pipe: %s", strerror(errno));
	close(*fd);
	*fd = -1;
}

/* Blocked in every thread (they inherit the mask); only the control loop's signalfd sees them. */
static int block_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP); /* rescan the module folders (service.h) */
	sigaddset(&set, SIGPIPE);
	return pthread_sigmask(SIG_BLOCK, &set, NULL) == 0 ? 0 : -EINVAL;
}

int main(int argc, char **argv)
{
	static struct bkd_broker broker;
	struct bkd_broker *b = &broker;
	int r = bkd_options_parse(argc, argv, &b->opt);
	if (r == 1)
		return 0;
	if (r)
		return 2;
	bkd_log_set_level(b->opt.log_level);
	bkd_log_init(false);
	if (block_signals() < 0) {
		bkd_err("cannot block signals");
		return 1;
	}
	/* Socket activation first: LISTEN_PID names this process, not the daemon a fork would make. */
	b->opt.listen_fd = bkd_service_listen_fd(b->opt.activated_name, sizeof(b->opt.activated_name));
	if (b->opt.listen_fd >= 0)
		b->opt.socket[0] = 0;
	else if (b->opt.listen_fd != -ENOENT)
		return 1;
	/* Refuse a live socket before doing anything else; the socket itself is bound once modules are loaded,
	 * so a client that can connect always finds them. */
	if (b->opt.listen_fd < 0 && bkd_listener_probe(b->opt.socket) < 0)
		return 1;
	int ready_fd = -1;
	if (!b->opt.foreground && (r = daemonise(&ready_fd)) < 0) {
		bkd_err("daemonise: %s", strerror(-r));
		return 1;
	}
	r = bkd_broker_init(b);
	if (r == 0 && b->opt.pidfile)
		r = write_pidfile(b->opt.pidfile);
	if (r < 0) {
		ready(&ready_fd, 1);
		bkd_broker_fini(b);
		return 1;
	}
	if (ready_fd >= 0)
		detach_stderr();
	ready(&ready_fd, 0);
	bkd_service_ready(b);
	r = bkd_broker_run(b);
	int left = bkd_broker_fini(b);
	if (b->opt.pidfile && unlink(b->opt.pidfile) < 0)
		bkd_warn("--pidfile %s: %s", b->opt.pidfile, strerror(errno));
	return r < 0 || left ? 1 : 0;
}
