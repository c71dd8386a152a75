// SPDX-License-Identifier: MIT
/*
 * task_fds.c - the descriptors a task owns (task_fds.h).  A task rarely owns
 * more than one or two, so a small array searched linearly is enough; it is
 * allocated on the first socket only, so tasks without any cost nothing.
 */
#include "task_fds.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "task.h"

int bkd_task_fd_track(struct bk_task *t, int fd)
{
	if (t->nfds == t->fds_cap) {
		uint32_t cap = t->fds_cap ? t->fds_cap * 2 : 4;
		int *n = reallocarray(t->fds, cap, sizeof(*n));
		if (!n) {
			close(fd);
			return -ENOMEM;
		}
		t->fds = n;
		t->fds_cap = cap;
	}
	t->fds[t->nfds++] = fd;
	return fd;
}

void bkd_task_fd_forget(struct bk_task *t, int fd)
{
	for (uint32_t i = 0; i < t->nfds; i++) {
		if (t->fds[i] == fd) {
			t->fds[i] = t->fds[--t->nfds];
			return;
		}
	}
}

void bkd_task_fds_close(struct bk_task *t)
{
	for (uint32_t i = 0; i < t->nfds; i++)
		if (close(t->fds[i]) < 0 && errno != EINTR)
			bkd_warn("closing a socket left open by a task: %s", strerror(errno));
	free(t->fds);
	t->fds = NULL;
	t->nfds = t->fds_cap = 0;
}
