// SPDX-License-Identifier: MIT
/*
 * obs_util.c - run programs for the observability tests (obs_util.h).
 */
#include "obs_util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker/sys.h"

int obs_spawn(struct obs_proc *p, const char *const *argv)
{
	int po[2], pe[2];
	memset(p, 0, sizeof(*p));
	if (pipe2(po, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(pe, O_CLOEXEC) < 0) {
		close(po[0]);
		close(po[1]);
		return -errno;
	}
	p->pid = fork();
	if (p->pid < 0)
		return -errno;
	if (p->pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, 0); /* never a terminal: brokerctl top then prints plain frames */
		dup2(po[1], 1);
		dup2(pe[1], 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	p->fd[0] = po[0];
	p->fd[1] = pe[0];
	return 0;
}

void obs_pump(struct obs_proc *p, int ms)
{
	struct pollfd f[2] = {{.fd = p->fd[0], .events = POLLIN}, {.fd = p->fd[1], .events = POLLIN}};
	if (p->fd[0] < 0 && p->fd[1] < 0)
		return;
	if (poll(f, 2, ms) <= 0)
		return;
	for (int i = 0; i < 2; i++) {
		if (p->fd[i] < 0 || !f[i].revents)
			continue;
		char *buf = i ? p->err : p->out;
		size_t *len = i ? &p->nerr : &p->nout;
		size_t cap = (i ? sizeof(p->err) : sizeof(p->out)) - 1;
		char spill[4096];
		/* A full buffer keeps reading into spill, so that the child never blocks on its pipe. */
		ssize_t k = *len < cap ? read(p->fd[i], buf + *len, cap - *len) : read(p->fd[i], spill, sizeof(spill));
		if (k <= 0) {
			close(p->fd[i]);
			p->fd[i] = -1;
		} else if (*len < cap) {
			*len += (size_t)k;
		}
		buf[*len] = 0;
	}
}

static bool reap(struct obs_proc *p, int flags)
{
	int st;
	if (p->reaped)
		return true;
	if (waitpid(p->pid, &st, flags) != p->pid)
		return false;
	p->reaped = true;
	p->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return true;
}

int obs_wait(struct obs_proc *p, int64_t deadline_ns)
{
	while (!(p->fd[0] < 0 && p->fd[1] < 0 && reap(p, WNOHANG))) {
		if (bk_now_ns() > deadline_ns) {
			kill(p->pid, SIGKILL);
			reap(p, 0);
			for (int i = 0; i < 2; i++)
				if (p->fd[i] >= 0)
					close(p->fd[i]);
			p->fd[0] = p->fd[1] = -1;
			return -ETIMEDOUT;
		}
		if (p->fd[0] < 0 && p->fd[1] < 0) {
			struct timespec ts = {0, 2000000};
			nanosleep(&ts, NULL);
		}
		obs_pump(p, 20);
	}
	return p->status;
}

bool obs_wait_for(struct obs_proc *p, const char *needle, int64_t deadline_ns)
{
	while (bk_now_ns() < deadline_ns) {
		if (strstr(p->out, needle) || strstr(p->err, needle))
			return true;
		if (p->fd[0] < 0 && p->fd[1] < 0)
			return false;
		obs_pump(p, 20);
	}
	return strstr(p->out, needle) || strstr(p->err, needle);
}

int obs_run(struct obs_proc *p, const char *const *argv, int timeout_s)
{
	int r = obs_spawn(p, argv);
	if (r < 0)
		return r;
	return obs_wait(p, bk_now_ns() + (int64_t)timeout_s * 1000000000LL);
}

long long obs_number_after(const char *from, const char *end, const char *key)
{
	const char *k = strstr(from, key);
	if (!k || (end && k >= end))
		return -1;
	k += strlen(key);
	while (*k == ' ' || *k == '"')
		k++;
	if (*k < '0' || *k > '9')
		return -1;
	return strtoll(k, NULL, 10);
}
