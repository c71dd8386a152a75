// SPDX-License-Identifier: MIT
/*
 * main.c - the brokerd process: parse flags, block the signals the control
 * loop takes through a signalfd, refuse a live socket early, daemonise
 * unless --foreground, then init, run and fini the broker (broker.c) and
 * exit with what they report.
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
	if (nul >= 0) {
		dup2(nul, STDIN_FILENO);
		dup2(nul, STDOUT_FILENO);
		close(nul);
	}
	*ready_fd = p[1];
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
	if (block_signals() < 0) {
		bkd_err("cannot block signals");
		return 1;
	}
	/* Refuse a live socket before doing anything else; the socket itself is bound once modules are loaded,
	 * so a client that can connect always finds them. */
	if (bkd_listener_probe(b->opt.socket) < 0)
		return 1;
	int ready_fd = -1;
	if (!b->opt.foreground && (r = daemonise(&ready_fd)) < 0) {
		bkd_err("daemonise: %s", strerror(-r));
		return 1;
	}
	r = bkd_broker_init(b);
	if (r < 0) {
		ready(&ready_fd, 1);
		bkd_broker_fini(b);
		return 1;
	}
	ready(&ready_fd, 0);
	r = bkd_broker_run(b);
	int left = bkd_broker_fini(b);
	return r < 0 || left ? 1 : 0;
}
