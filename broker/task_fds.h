// SPDX-License-Identifier: MIT
/*
 * task_fds.h - the descriptors a task owns (sockets from host->socket and
 * host->accept): recorded when the operation returns them, forgotten when
 * the module closes one through host->close, and closed when the task is
 * freed, so that cancellation or a client's death leaks none.  Worker
 * thread only.
 */
#ifndef BROKER_TASK_FDS_H
#define BROKER_TASK_FDS_H

struct bk_task;

/* Record fd as t's; returns fd, or -ENOMEM after closing it. */
int bkd_task_fd_track(struct bk_task *t, int fd);
/* fd is being closed by the module: no longer t's (a no-op for a descriptor t does not own). */
void bkd_task_fd_forget(struct bk_task *t, int fd);
/* Close every descriptor t still owns and free the record. */
void bkd_task_fds_close(struct bk_task *t);

#endif /* BROKER_TASK_FDS_H */
