// SPDX-License-Identifier: MIT
/*
 * nats_proc.c - start and stop a private nats-server -js (nats_proc.h).
 * The port is found by binding port 0 on loopback and closing it just before
 * the server starts; readiness is a TCP connect that succeeds, never a sleep.
 */
#include "nats_proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

int bkt_nats_find(char *out, size_t len)
{
	const char *env = getenv("BK_NATS_SERVER");
	if (env && *env) {
		snprintf(out, len, "%s", env);
		return access(out, X_OK) == 0 ? 0 : -ENOENT;
	}
	const char *path = getenv("PATH");
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s:/usr/sbin:/usr/bin", path ? path : "");
	char *save = NULL;
	for (char *d = strtok_r(buf, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		snprintf(out, len, "%s/nats-server", d);
		if (access(out, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int r = bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || getsockname(fd, (struct sockaddr *)&a, &al) < 0
			? -errno
			: ntohs(a.sin_port);
	close(fd);
	return r;
}

static int accepts(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

static int spawn(struct bkt_nats *n)
{
	char port[16], store[160], log[160];
	snprintf(port, sizeof(port), "%d", n->port);
	snprintf(store, sizeof(store), "%s/js", n->dir);
	snprintf(log, sizeof(log), "%s/nats.log", n->dir);
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(n->bin, n->bin, "-js", "-a", "127.0.0.1", "-p", port, "-sd", store, (char *)NULL);
		_exit(127);
	}
	n->pid = pid;
	for (long long end = now_ms() + 10000; now_ms() < end;) {
		if (accepts(n->port))
			return 0;
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			n->pid = 0;
			return -ECHILD;
		}
		pause_ms(20); /* polling a condition with a bound, not standing in for one */
	}
	bkt_nats_stop(n);
	return -ETIMEDOUT;
}

int bkt_nats_start(struct bkt_nats *n)
{
	memset(n, 0, sizeof(*n));
	if (bkt_nats_find(n->bin, sizeof(n->bin)) < 0)
		return -ENOENT;
	snprintf(n->dir, sizeof(n->dir), "/tmp/bk-nats.XXXXXX");
	if (!mkdtemp(n->dir))
		return -errno;
	n->port = free_port();
	if (n->port < 0)
		return n->port;
	snprintf(n->url, sizeof(n->url), "nats://127.0.0.1:%d", n->port);
	return spawn(n);
}

int bkt_nats_restart(struct bkt_nats *n)
{
	if (n->pid)
		return -EBUSY;
	return spawn(n);
}

int bkt_nats_stop(struct bkt_nats *n)
{
	if (!n->pid)
		return 0;
	kill(n->pid, SIGTERM);
	int st;
	for (long long end = now_ms() + 10000; now_ms() < end; pause_ms(10)) {
		if (waitpid(n->pid, &st, WNOHANG) == n->pid) {
			n->pid = 0;
			return 0;
		}
	}
	kill(n->pid, SIGKILL);
	waitpid(n->pid, &st, 0);
	n->pid = 0;
	return -ETIMEDOUT;
}

void bkt_nats_cleanup(struct bkt_nats *n)
{
	bkt_nats_stop(n);
	if (n->dir[0]) {
		char cmd[160];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", n->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", n->dir);
		n->dir[0] = '\0';
	}
}
