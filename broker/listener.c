// SPDX-License-Identifier: MIT
/*
 * listener.c - create the listening socket without ever unlinking a live
 * one: an existing path is probed with connect() first.
 */
#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

static int fill_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

/* 1: a live server answers; 0: stale (safe to unlink); <0: cannot tell. */
static int probe_live(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	int e = errno;
	close(fd);
	if (r == 0)
		return 1;
	if (e == ECONNREFUSED)
		return 0;
	if (e == EPROTOTYPE)
		return 1; /* someone serves another socket type there: not ours to remove */
	return -e;
}

/* Make the parent folder of the default path (/run/broker) when missing; the rest is the user's job. */
static void make_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	if (!slash || slash == path || (size_t)(slash - path) >= sizeof(dir))
		return;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = 0;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		bkd_dbg("mkdir %s: %s", dir, strerror(errno));
}

static int check_existing(const char *path, const struct sockaddr_un *sa, bool *stale)
{
	struct stat st;
	*stale = false;
	if (lstat(path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		bkd_err("%s exists and is not a socket; refusing to replace it", path);
		return -EEXIST;
	}
	int live = probe_live(sa);
	if (live == 1) {
		bkd_err("another brokerd already serves %s; refusing to start a second one", path);
		return -EADDRINUSE;
	}
	if (live < 0) {
		bkd_err("cannot tell whether %s is in use (%s); refusing to replace it", path, strerror(-live));
		return live;
	}
	*stale = true;
	return 0;
}

int bkd_listener_probe(const char *path)
{
	struct sockaddr_un sa;
	bool stale;
	if (fill_addr(path, &sa) < 0) {
		bkd_err("socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	return check_existing(path, &sa, &stale);
}

int bkd_listener_open(const char *path, unsigned mode, long group)
{
	struct sockaddr_un sa;
	if (fill_addr(path, &sa) < 0) {
		bkd_err("socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	bool stale;
	int r = check_existing(path, &sa, &stale);
	if (r < 0)
		return r;
	if (stale) {
		bkd_info("replacing stale socket %s", path);
		if (unlink(path) < 0 && errno != ENOENT) {
			int e = errno;
			bkd_err("unlink stale socket %s: %s", path, strerror(e));
			return -e;
		}
	} else {
		make_parent(path);
	}

	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		int e = errno;
		bkd_err("socket: %s", strerror(e));
		return -e;
	}
	/* The umask gives the socket file its mode from the start, so there is no window with wider rights. */
	mode_t old = umask((mode_t)(~mode & 0777));
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	umask(old);
	if (r < 0) {
		bkd_err("bind %s: %s", path, strerror(e));
		close(fd);
		return -e;
	}
	if (chmod(path, (mode_t)mode) < 0)
		bkd_warn("chmod %#o %s: %s", mode, path, strerror(errno));
	/* --socket-group, else --allow-gid: the group's members need write access to the socket file before the
	 * policy can admit them. */
	if (group >= 0 && chown(path, (uid_t)-1, (gid_t)group) < 0)
		bkd_warn("chgrp %ld %s: %s (members of that group cannot reach the socket)", group, path, strerror(errno));
	if (listen(fd, SOMAXCONN) < 0) {
		e = errno;
		bkd_err("listen %s: %s", path, strerror(e));
		close(fd);
		unlink(path);
		return -e;
	}
	return fd;
}

bool bkd_peer_allowed(const struct bkd_options *o, const struct bkd_caller *c)
{
	if (c->uid == 0 || c->uid == geteuid())
		return true;
	for (unsigned i = 0; i < o->nallow_uid; i++)
		if (o->allow_uid[i] == c->uid)
			return true;
	for (unsigned i = 0; i < o->nallow_gid; i++)
		if (bkd_caller_in_group(c, o->allow_gid[i]))
			return true;
	return false;
}

bool bkd_peer_admin(const struct bkd_options *o, const struct bkd_caller *c)
{
	return c->uid == 0 || c->uid == geteuid() || (o->admin_gid >= 0 && bkd_caller_in_group(c, (gid_t)o->admin_gid));
}
