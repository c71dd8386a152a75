// SPDX-License-Identifier: MIT
/*
 * modcheck.h - may brokerd run the code in this module file?  A module's
 * constructors run inside dlopen, before any descriptor check, with
 * brokerd's rights; so the file is checked first (docs/SECURITY.md,
 * "Loading modules"): a regular file owned by root or by brokerd's uid, not
 * writable by group or others, in a directory with the same owner and
 * write rules (for a symbolic link: the link's folder and the target's).  The checks are made on open
 * descriptors, and the file is loaded through its descriptor, so the file
 * checked is the file loaded even if a path component is swapped meanwhile.
 */
#ifndef BROKER_MODCHECK_H
#define BROKER_MODCHECK_H

#include <stddef.h>

/*
 * Open path for loading: a descriptor (O_RDONLY, close-on-exec) of a file
 * that passed every check, or -errno with the reason in err (-EPERM for a
 * file or folder with unsafe owner or mode).  The caller dlopens
 * "/proc/self/fd/N" and keeps the descriptor open while the module is
 * loaded: glibc knows loaded objects by name, so the name must stay unique.
 */
int bkd_modcheck_open(const char *path, char *err, size_t errlen);

#endif /* BROKER_MODCHECK_H */
