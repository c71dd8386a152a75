// SPDX-License-Identifier: MIT
/*
 * fsguard.h - files that modules open for clients must not be brokerd's
 * own procfs entries (docs/SECURITY.md, "procfs and magic links").  A
 * process may always open its own /proc/self/mem and /proc/self/maps,
 * whatever its credentials, and brokerd maps every client's region, so
 * opens are made with RESOLVE_NO_MAGICLINKS and every descriptor they
 * return is checked here: a file on any procfs mounted in brokerd's mount
 * namespace is refused.
 *
 * The check never waits on a client's file system: fstatfs would ask a FUSE
 * daemon (a hostile user's, on an allow_other mount) and could hang the
 * worker, so the file's device comes from statx(AT_STATX_DONT_SYNC, no
 * fields), answered from the inode cache, and is compared with the devices
 * of the procfs mounts listed in /proc/self/mountinfo, re-read whenever the
 * mount table changes (poll POLLPRI).  Each thread keeps its verdicts per
 * (unique mount id, device), which cannot change while the mount exists.
 */
#ifndef BROKER_FSGUARD_H
#define BROKER_FSGUARD_H

/* Read the mount table.  0 or -errno (logged by the caller). */
int bkd_fsguard_init(void);
void bkd_fsguard_fini(void);

/*
 * May a client's open of fd stand?  0, -EACCES for a procfs file, or
 * another -errno when the file cannot be checked (the open is then refused
 * as well).  Any thread.  Before bkd_fsguard_init (unit tests of the module
 * host) the check falls back to fstatfs.
 */
int bkd_fsguard_check_fd(int fd);

#endif /* BROKER_FSGUARD_H */
