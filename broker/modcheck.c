// SPDX-License-Identifier: MIT
/*
 * modcheck.c - the checks on a module file before its code may run
 * (modcheck.h): folder first (opened, then fstat), then the file opened
 * inside that folder; a final symbolic link is followed, and then the
 * target's folder is checked as well.
 */
#include "modcheck.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Owned by root or by us, and nobody else may write it.  Else the reason, for "... is <reason>". */
static const char *unsafe(const struct stat *st)
{
	if (st->st_uid != 0 && st->st_uid != geteuid())
		return "not owned by root or by brokerd's uid";
	if (st->st_mode & S_IWGRP)
		return "writable by its group";
	if (st->st_mode & S_IWOTH)
		return "writable by others";
	return NULL;
}

static int refuse(int fd, int rc, char *err, size_t errlen, const char *fmt, const char *what, const char *why)
{
	if (fd >= 0)
		close(fd);
	snprintf(err, errlen, fmt, what, why);
	return rc;
}

/* The folder part of path ("." when there is none) and the last component. */
static int split(const char *path, char *dir, size_t dirlen, const char **base)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		snprintf(dir, dirlen, ".");
		*base = path;
	} else if (slash == path) {
		snprintf(dir, dirlen, "/");
		*base = slash + 1;
	} else {
		size_t n = (size_t)(slash - path);
		if (n >= dirlen)
			return -ENAMETOOLONG;
		memcpy(dir, path, n);
		dir[n] = 0;
		*base = slash + 1;
	}
	return **base ? 0 : -EISDIR;
}

/* Open folder dir and check it: its descriptor, or -errno with the reason (naming the module path). */
static int open_folder(const char *path, const char *dir, char *err, size_t errlen)
{
	int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return refuse(-1, -errno, err, errlen, "refusing module %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(dfd, &st) < 0)
		return refuse(dfd, -errno, err, errlen, "refusing module %s: %s", path, strerror(errno));
	const char *why = unsafe(&st);
	if (why) {
		char what[PATH_MAX + 64];
		snprintf(what, sizeof(what), "%s: its folder %s", path, dir);
		return refuse(dfd, -EPERM, err, errlen, "refusing module %s is %s", what, why);
	}
	return dfd;
}

/*
 * The module was a symbolic link (now followed: fd is its target): the target's own folder must pass the
 * folder checks too, and must hold that very file now.
 */
static int check_target_folder(const char *path, int fd, const struct stat *st, char *err, size_t errlen)
{
	char self[64], real[PATH_MAX], dir[PATH_MAX];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(self, real, sizeof(real) - 1);
	if (n < 0)
		return refuse(-1, -errno, err, errlen, "refusing module %s: %s", path, strerror(errno));
	real[n] = 0;
	const char *base;
	if (real[0] != '/' || split(real, dir, sizeof(dir), &base) < 0)
		return refuse(-1, -EINVAL, err, errlen, "refusing module %s: %s", path, "its target has no path");
	int dfd = open_folder(path, dir, err, errlen);
	if (dfd < 0)
		return dfd;
	struct stat at;
	int r = fstatat(dfd, base, &at, AT_SYMLINK_NOFOLLOW);
	close(dfd);
	if (r < 0 || at.st_dev != st->st_dev || at.st_ino != st->st_ino)
		return refuse(-1, -EPERM, err, errlen, "refusing module %s: %s", path,
			      "its target moved while it was checked");
	return 0;
}

int bkd_modcheck_open(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	const char *base;
	int rc = split(path, dir, sizeof(dir), &base);
	if (rc < 0)
		return refuse(-1, rc, err, errlen, "refusing module %s: %s", path, "not a file name");
	int dfd = open_folder(path, dir, err, errlen);
	if (dfd < 0)
		return dfd;
	const int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
	bool link = false;
	int fd = openat(dfd, base, flags | O_NOFOLLOW);
	if (fd < 0 && errno == ELOOP) {
		link = true;
		fd = openat(dfd, base, flags);
	}
	int e = errno;
	close(dfd);
	if (fd < 0)
		return refuse(-1, -e, err, errlen, "refusing module %s: %s", path, strerror(e));
	struct stat st;
	if (fstat(fd, &st) < 0)
		return refuse(fd, -errno, err, errlen, "refusing module %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return refuse(fd, -EINVAL, err, errlen, "refusing module %s: %s", path, "not a regular file");
	const char *why = unsafe(&st);
	if (why)
		return refuse(fd, -EPERM, err, errlen, "refusing module %s: the file is %s", path, why);
	if (link && (rc = check_target_folder(path, fd, &st, err, errlen)) < 0) {
		close(fd);
		return rc;
	}
	return fd;
}
