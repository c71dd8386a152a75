// SPDX-License-Identifier: MIT
/*
 * faultshim.c - an LD_PRELOAD library for fault injection into a real
 * brokerd process (tests/fault/test_fault.c).  It interposes memfd_create
 * and shared mmap (a connection's region: docs/ARCHITECTURE.md, "The shared
 * region") and fails them while the control file named by $BK_FAULT_CTL
 * says so.  The test flips the file while brokerd runs, so one brokerd sees
 * the failure and then the recovery.  The file holds words: "memfd" fails
 * memfd_create with EMFILE, "mmap" fails MAP_SHARED mappings of a descriptor
 * with ENOMEM.  Private and anonymous mappings (malloc, thread stacks, the
 * sanitizers' shadow) always pass.  io_uring_setup cannot be interposed
 * (liburing issues the system call itself); the test fails it with seccomp.
 */
/* Both names are defined below: mmap must stay mmap (not redirected to mmap64) in this file. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SHIM_EXPORT __attribute__((visibility("default")))

static int ctl_fd = -1;

/* Opened once before main, so brokerd's descriptor count does not move while it serves. */
__attribute__((constructor)) static void shim_init(void)
{
	const char *p = getenv("BK_FAULT_CTL");
	if (p)
		ctl_fd = open(p, O_RDONLY | O_CLOEXEC);
}

static int failing(const char *word)
{
	char buf[128];
	if (ctl_fd < 0)
		return 0;
	ssize_t n = pread(ctl_fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	return strstr(buf, word) != NULL;
}

SHIM_EXPORT int memfd_create(const char *name, unsigned int flags);
SHIM_EXPORT int memfd_create(const char *name, unsigned int flags)
{
	if (failing("memfd")) {
		errno = EMFILE;
		return -1;
	}
	return (int)syscall(SYS_memfd_create, name, flags);
}

typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);

SHIM_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
SHIM_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	static mmap_fn next;
	if ((flags & MAP_SHARED) && fd >= 0 && failing("mmap")) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	if (!next)
		next = (mmap_fn)dlsym(RTLD_NEXT, "mmap");
	if (!next) {
		errno = ENOSYS;
		return MAP_FAILED;
	}
	return next(addr, len, prot, flags, fd, off);
}

SHIM_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off);
SHIM_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
	return mmap(addr, len, prot, flags, fd, off);
}
