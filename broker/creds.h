// SPDX-License-Identifier: MIT
/*
 * creds.h - who a client is and acting as it (docs/SECURITY.md): the
 * caller's credentials read from its socket at accept (SO_PEERCRED,
 * SO_PEERGROUPS), brokerd's own identity, and the per-thread switch to a
 * caller's uid, gid and groups and back.
 *
 * The switch uses the raw setresuid/setresgid/setgroups/capset syscalls,
 * which change only the calling thread (glibc's wrappers change every
 * thread of the process).  A thread that cannot switch back aborts the
 * process: running on with a client's or half-restored rights is worse.
 */
#ifndef BROKER_CREDS_H
#define BROKER_CREDS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* A client with more supplementary groups than this is refused (dropping some could widen its rights). */
#define BKD_CALLER_MAX_GROUPS 1024u

struct bkd_worker;

struct bkd_caller {
	/* Immutable after bkd_caller_from_socket; read by any thread. */
	uid_t uid;
	gid_t gid;
	pid_t pid;
	bool switch_needed; /* brokerd is privileged and these are not its own credentials */
	char comm[16]; /* the process name at connect time (display only: the pid may be reused) */
	uint64_t hash; /* of uid, gid and groups: the personality cache's key */
	uint32_t ngroups;
	/* Worker-owned (the worker serving the connection): its personality for this caller (personality.c). */
	struct bkd_worker *pers_w;
	uint32_t pers_slot, pers_gen;
	uint16_t pers_id;
	gid_t groups[]; /* supplementary groups, as the kernel reported them */
};

/* Saved credentials of a thread between bkd_creds_enter and bkd_creds_leave. */
struct bkd_creds_saved {
	bool switched;
	uid_t euid;
	gid_t egid;
	uint32_t ngroups;
	uint32_t cap_eff[2];
	gid_t *groups; /* malloc'd; NULL when ngroups is 0 */
};

/*
 * Record brokerd's own identity (effective uid, gid, groups) and whether it
 * may switch a thread's credentials (euid 0, or CAP_SETUID and CAP_SETGID).
 * Call once before any other function of this file.  0 or -errno.
 */
int bkd_creds_init(void);
/* brokerd can act as its callers; when false nothing is ever switched. */
bool bkd_creds_privileged(void);
uid_t bkd_creds_self_uid(void);

/*
 * The credentials of the peer of sock (SO_PEERCRED, SO_PEERGROUPS) in a new
 * caller (free with bkd_caller_free).  -EMSGSIZE with more than
 * BKD_CALLER_MAX_GROUPS groups, else 0 or -errno.  Does not read comm.
 */
int bkd_caller_from_socket(int sock, struct bkd_caller **out);
/* A caller built from explicit values (tests, and the switch below). */
int bkd_caller_new(uid_t uid, gid_t gid, pid_t pid, const gid_t *groups, uint32_t ngroups,
		   struct bkd_caller **out);
void bkd_caller_free(struct bkd_caller *c);
/* Fill c->comm from /proc/PID/comm; "?" when it cannot be read. */
void bkd_caller_read_comm(struct bkd_caller *c);
/* gid is c's primary group or one of its supplementary groups. */
bool bkd_caller_in_group(const struct bkd_caller *c, gid_t gid);
/* Same uid, gid and groups (as sets in kernel order). */
bool bkd_caller_same_creds(const struct bkd_caller *a, const struct bkd_caller *b);

/*
 * Switch the calling thread to c's credentials: groups, gid, uid, then no
 * effective capabilities.  A no-op (s->switched false) when
 * !c->switch_needed.  On failure every step already taken is undone and
 * -errno returned; the thread is then unchanged.
 */
int bkd_creds_enter(const struct bkd_caller *c, struct bkd_creds_saved *s);
/* Back to what bkd_creds_enter saved.  Aborts the process if that fails. */
void bkd_creds_leave(struct bkd_creds_saved *s);

#endif /* BROKER_CREDS_H */
