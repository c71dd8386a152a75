// SPDX-License-Identifier: MIT
/*
 * personality.h - io_uring personalities: the caller's credentials
 * registered on a worker's ring, so that an SQE carrying the id runs with
 * the caller's rights instead of brokerd's (docs/SECURITY.md, "I/O as the
 * caller").  A ring's personalities are its own, and a connection may move
 * between workers, so each worker keeps a small cache keyed by the
 * credentials (uid, gid, groups): every connection of one user on one
 * worker shares one id.  Registration must happen on the worker's own
 * thread (IORING_SETUP_SINGLE_ISSUER rings refuse io_uring_register from
 * any other task with -EEXIST), so it is done lazily, by the first task of a
 * caller that starts an operation on that worker.
 */
#ifndef BROKER_PERSONALITY_H
#define BROKER_PERSONALITY_H

#include "creds.h"

struct bkd_pers;
struct bkd_worker;

/* Entries per worker; the least recently used one is replaced when a new caller arrives on a full table. */
#define BKD_PERS_PER_WORKER 256u

/* One cache per worker (indexed by bkd_worker.idx).  0 or -ENOMEM. */
int bkd_pers_create(unsigned nworkers, struct bkd_pers **out);
/* After the workers are joined (their rings, which hold the personalities, are gone).  NULL is a no-op. */
void bkd_pers_destroy(struct bkd_pers *p);

/*
 * On worker thread w only: the personality id to put in an SQE that must
 * run as c, registering it if needed (when c's credentials are brokerd's
 * own, they are registered as they are, without a switch); 0 when brokerd
 * is not privileged (nothing is ever switched), or -errno when the
 * credentials could not be switched or registered (the operation must then
 * not be started).
 */
int bkd_pers_for(struct bkd_pers *p, struct bkd_worker *w, struct bkd_caller *c);

#endif /* BROKER_PERSONALITY_H */
