// SPDX-License-Identifier: MIT
/*
 * obs_util.h - what the observability tests need besides the harness: run
 * a program with its stdout and stderr captured (each wait bounded by a
 * deadline that kills it and fails), and read figures out of the text.
 */
#ifndef BK_OBS_UTIL_H
#define BK_OBS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct obs_proc {
	pid_t pid;
	int fd[2]; /* stdout, stderr; -1 once at end of file */
	char out[1 << 17];
	size_t nout;
	char err[1 << 14];
	size_t nerr;
	int status; /* exit code once reaped, 128 + signal after one */
	bool reaped;
};

/* Start argv (argv[0] a path; NULL-ended) with both outputs captured.  0 or -errno. */
int obs_spawn(struct obs_proc *p, const char *const *argv);
/* Read what is there, waiting at most ms for something. */
void obs_pump(struct obs_proc *p, int ms);
/* Until it exits (its exit status) or the deadline passes (SIGKILL, -ETIMEDOUT). */
int obs_wait(struct obs_proc *p, int64_t deadline_ns);
/* Until needle appears in its stdout or stderr (true), it exits or the deadline passes (false). */
bool obs_wait_for(struct obs_proc *p, const char *needle, int64_t deadline_ns);
/* Spawn and wait at most timeout_s seconds. */
int obs_run(struct obs_proc *p, const char *const *argv, int timeout_s);

/* The first unsigned number after key (e.g. "\"calls\": ") at or after from, in [from, end); -1 if none. */
long long obs_number_after(const char *from, const char *end, const char *key);

#endif /* BK_OBS_UTIL_H */
