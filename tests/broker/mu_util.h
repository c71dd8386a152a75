// SPDX-License-Identifier: MIT
/*
 * mu_util.h - helpers of the multi-user tests (docs/SECURITY.md): run a
 * piece of a test in a forked child that has dropped to another uid (the
 * tests run as root), and make one call by name.  Every wait is bounded.
 */
#ifndef MU_UTIL_H
#define MU_UTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "bt_util.h"

#define MU_NOBODY 65534
#define MU_OTHER 65533 /* a second unprivileged user */

/* Child exit codes besides the body's own. */
enum { MU_OK = 0, MU_SETID = 90 };

struct mu_ids {
	uid_t uid;
	gid_t gid;
	unsigned ngroups;
	gid_t groups[4];
	const char *comm; /* the child's process name, or NULL */
};

/* Fork, become ids (groups, gid, uid: all of real, effective and saved), run body(arg), exit with its return.
 * Returns the child's pid. */
pid_t mu_spawn_as(const struct mu_ids *ids, int (*body)(void *arg), void *arg);
/* The child's wait status (as waitpid gives it); fails the test if it does not end within 30 s. */
int mu_wait_status(pid_t pid);
/* The child's exit code; fails the test if it does not exit within 30 s or dies of a signal. */
int mu_wait(pid_t pid);
/* mu_spawn_as, then mu_wait. */
int mu_run_as(const struct mu_ids *ids, int (*body)(void *arg), void *arg);

/* cmocka setup: skip unless root (the tests need to drop to other users). */
int mu_need_root(void **state);

/* Start brokerd with the test module (cred, from $BK_CREDMOD), the socket open to everyone (0666) and extra
 * flags; the harness's folder becomes searchable so other users reach the socket. */
void mu_start(struct bkt_brokerd *b, const char *const *extra);

/* Connect to socket: the bk_connect_error result; the reason goes to why. */
int mu_connect(const char *socket, bk_client **c, char *why, size_t len);

/* Look up name and call it with arg (text) in 10 s: the task's status, or the lookup's error. *out gets the
 * result as a NUL-ended string (cut to cap - 1). */
int mu_call(bk_client *c, const char *name, const char *arg, char *out, size_t cap);

/* LOAD or UNLOAD (type) of arg over a control connection: the status, with brokerd's message in msg. */
int mu_ctl(const char *socket, uint16_t type, const char *arg, char *msg, size_t len);

/* Run $BK_BROKERCTL with args (NULL-ended) as ids (NULL: as we are): its exit status, its stdout and stderr
 * together in out (cut to cap - 1 bytes).  In the test process only (it fails the test on a timeout). */
int mu_brokerctl(const struct mu_ids *ids, const char *const *args, char *out, size_t cap);

/* Exit code of a failed check in a child: print where and why, then return from the body with it. */
#define MU_CHECK(cond, code, ...)                                                                               \
	do {                                                                                                     \
		if (!(cond)) {                                                                                   \
			fprintf(stderr, "%s:%d: child check failed: %s: ", __FILE__, __LINE__, #cond);          \
			fprintf(stderr, __VA_ARGS__);                                                            \
			fputc('\n', stderr);                                                                     \
			return (code);                                                                           \
		}                                                                                                \
	} while (0)

#endif /* MU_UTIL_H */
